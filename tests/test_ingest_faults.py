"""Issue 11 (ingest): one bad corpus file must not abort the ingest or leave half a guide.

Each defect is replayed on small generated files with the fake embedder: a guide with more
chunks than Chroma's batch limit (the limit made small by a client wrapper that enforces it
exactly as Chroma does), a date in front matter, a file over the size limit, and a guide the
chunker cannot handle. The CLI's exit code for "indexed, some files skipped" is checked with
the real model in `test_index.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import chromadb
import pytest

from assistant.errors import CorpusError
from assistant.index import ingest
from assistant.settings import Settings
from conftest import SHIPPED_CORPUS, snapshot

SEED_NAME = "backend-developers-in-leuven.txt"
SEED_KEY_PREFIX = f"{SEED_NAME}#"


def seed_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / SEED_NAME).write_bytes((SHIPPED_CORPUS / SEED_NAME).read_bytes())
    return folder


def many_sections(count: int) -> str:
    """A Markdown guide of `count` one-sentence sections: 2 chunks each (section and unit)."""
    body = "".join(f"## Topic {i}\n\nFact {i} says that team {i} ships release {i} on time.\n\n"
                   for i in range(count))
    return f"# Recruiting Test Engineers in Ghent\n\n{body}"


DATE_URL_GUIDE = """---
role: Data Engineers
city: Ghent
url: 2024-01-01
---
# Recruiting Data Engineers in Ghent

## Salary Ranges

| Level | Gross Annual Salary |
|---|---|
| Junior | €40,000 – €50,000 |
| Senior | €70,000 – €90,000 |

## Key Companies

- Alpha
- Beta
"""


class LimitedCollection:
    """A Chroma collection that refuses writes over `limit` records, as Chroma does over its
    own limit (5,461 embedded), so a test needs tens of sections instead of thousands."""

    def __init__(self, inner: Any, limit: int, sizes: list[int], fail_on_add: int | None) -> None:
        self._inner, self._limit, self._sizes, self._fail_on_add = inner, limit, sizes, fail_on_add
        self._adds = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _check(self, ids: list[str] | None) -> None:
        if ids is None:
            return
        self._sizes.append(len(ids))
        if len(ids) > self._limit:
            raise ValueError(f"Batch size of {len(ids)} is greater than max batch size of {self._limit}")

    def add(self, ids, **kwargs):
        self._check(ids)
        self._adds += 1
        if self._fail_on_add is not None and self._adds == self._fail_on_add:
            raise RuntimeError("simulated Chroma failure in the middle of a guide")
        return self._inner.add(ids=ids, **kwargs)

    def upsert(self, ids, **kwargs):
        self._check(ids)
        return self._inner.upsert(ids=ids, **kwargs)

    def update(self, ids, **kwargs):
        self._check(ids)
        return self._inner.update(ids=ids, **kwargs)

    def delete(self, ids=None, **kwargs):
        self._check(ids)
        return self._inner.delete(ids=ids, **kwargs)


class LimitedClient:
    def __init__(self, path: Path, limit: int, fail_on_add: int | None = None) -> None:
        self._inner = chromadb.PersistentClient(path=str(path))
        self.limit, self.sizes, self.fail_on_add = limit, [], fail_on_add

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def get_max_batch_size(self) -> int:
        return self.limit

    def _wrap(self, collection: Any) -> LimitedCollection:
        fail = self.fail_on_add if collection.name.endswith("_chunks") else None
        return LimitedCollection(collection, self.limit, self.sizes, fail)

    def get_or_create_collection(self, *args, **kwargs):
        return self._wrap(self._inner.get_or_create_collection(*args, **kwargs))

    def get_collection(self, *args, **kwargs):
        return self._wrap(self._inner.get_collection(*args, **kwargs))


def test_a_guide_over_the_batch_limit_is_written_in_batches(tmp_path, fake_embedder):
    corpus = seed_corpus(tmp_path / "c")
    (corpus / "test-engineers-in-ghent.md").write_text(many_sections(60), encoding="utf-8")
    settings = Settings(corpus=corpus, index=tmp_path / "i")
    client = LimitedClient(settings.index, limit=50)
    report = ingest(settings, fake_embedder, client=client)
    assert not report.errors and report.guides == 2
    assert report.added > 120 and max(client.sizes) <= 50
    clean = Settings(corpus=corpus, index=tmp_path / "clean")
    ingest(clean, fake_embedder)  # the real client and its real limit: one write per group
    assert snapshot(settings) == snapshot(clean)
    ids = [cid for cid, _meta in snapshot(settings)["chunks"]]
    assert sum(cid.startswith("test-engineers-in-ghent.md#") for cid in ids) == 120


def test_a_failure_between_batches_then_a_rerun_equals_a_clean_build(tmp_path, fake_embedder):
    corpus = seed_corpus(tmp_path / "c")
    (corpus / "test-engineers-in-ghent.md").write_text(many_sections(60), encoding="utf-8")
    settings = Settings(corpus=corpus, index=tmp_path / "i")
    with pytest.raises(RuntimeError, match="simulated"):
        ingest(settings, fake_embedder, client=LimitedClient(settings.index, limit=50, fail_on_add=2))
    # Half a guide is in Chroma now, without its record: the next run completes it.
    assert ingest(settings, fake_embedder).guides == 2
    clean = Settings(corpus=corpus, index=tmp_path / "clean")
    ingest(clean, fake_embedder)
    assert snapshot(settings) == snapshot(clean)


def test_a_date_in_front_matter_skips_that_file_and_leaves_nothing(tmp_path, fake_embedder):
    corpus = seed_corpus(tmp_path / "c")
    (corpus / "data-engineers-in-ghent.md").write_text(DATE_URL_GUIDE, encoding="utf-8")
    settings = Settings(corpus=corpus, index=tmp_path / "i")
    report = ingest(settings, fake_embedder)
    assert report.guides == 1 and len(report.errors) == 1
    assert "c/data-engineers-in-ghent.md" in report.errors[0] and "`url`" in report.errors[0]
    assert "date" in report.errors[0]
    index = snapshot(settings)
    assert [gid for gid, _ in index["guides"]] == [SEED_NAME]
    assert all(cid.startswith(SEED_KEY_PREFIX) for cid, _ in index["chunks"])
    clean = Settings(corpus=seed_corpus(tmp_path / "seed-only" / "c"), index=tmp_path / "clean")
    ingest(clean, fake_embedder)
    assert snapshot(settings) == snapshot(clean)


def test_orphan_chunks_of_a_skipped_guide_are_deleted(tmp_path, fake_embedder):
    """What the date bug left behind (chunks, no record) goes once the file is skipped."""
    corpus = seed_corpus(tmp_path / "c")
    settings = Settings(corpus=corpus, index=tmp_path / "i")
    ingest(settings, fake_embedder)
    clean = snapshot(settings)
    chunks = chromadb.PersistentClient(path=str(settings.index)).get_collection("assistant_chunks")
    chunks.add(ids=[f"data-engineers-in-ghent.md#salary-ranges-0#u{k}" for k in range(17)],
               embeddings=[[1.0] + [0.0] * 95] * 17,
               metadatas=[{"guide": "data-engineers-in-ghent.md", "section": "Salary Ranges",
                           "digest": "x"}] * 17)
    (corpus / "data-engineers-in-ghent.md").write_text(DATE_URL_GUIDE, encoding="utf-8")
    report = ingest(settings, fake_embedder)
    assert len(report.errors) == 1 and report.deleted == 17
    assert snapshot(settings) == clean


def test_a_skipped_guide_that_was_indexed_keeps_its_last_version(tmp_path, fake_embedder):
    corpus = seed_corpus(tmp_path / "c")
    guide = corpus / "data-engineers-in-ghent.md"
    guide.write_text(DATE_URL_GUIDE.replace("url: 2024-01-01", "url: https://example.org/de"),
                     encoding="utf-8")
    settings = Settings(corpus=corpus, index=tmp_path / "i")
    assert not ingest(settings, fake_embedder).errors
    before = snapshot(settings)
    guide.write_text(DATE_URL_GUIDE, encoding="utf-8")
    report = ingest(settings, fake_embedder)
    assert len(report.errors) == 1 and "previous version stays indexed" in report.errors[0]
    assert snapshot(settings) == before


@pytest.mark.parametrize("front_matter, message", [
    ("url: 2024-01-01", "`url` must be text, got a date (2024-01-01)"),
    ("url: ftp://example.org/x", "`url` must be an http(s) URL"),
    ("url: www.example.org/x", "`url` must be an http(s) URL"),
    ("url: 'https:// example.org'", "`url` must be an http(s) URL"),
    ("role: 42", "`role` must be text, got a number (42)"),
    ("city: yes", "`city` must be text, got a boolean"),
    ("title: [a, b]", "`title` must be text, got a list"),
    ("country: {name: Belgium}", "`country` must be text, got a mapping"),
])
def test_front_matter_values_are_checked_by_type(tmp_path, front_matter, message):
    from assistant.corpus import parse_guide

    path = tmp_path / "bad.md"
    path.write_text(f"---\n{front_matter}\n---\n# Recruiting Data Engineers in Ghent\n\n## About\n\nText.\n",
                    encoding="utf-8")
    with pytest.raises(CorpusError) as raised:
        parse_guide(path, tmp_path)
    assert str(raised.value).startswith(f"{tmp_path.name}/bad.md: ") and message in str(raised.value)


def test_good_front_matter_still_parses(tmp_path):
    from assistant.corpus import parse_guide

    path = tmp_path / "ok.md"
    path.write_text("---\nrole: Data Engineers\ncity: Gent\nurl: https://example.org/de\nnote: 2024-01-01\n"
                    "---\n# Recruiting Data Engineers in Ghent\n\n## About\n\nText.\n", encoding="utf-8")
    guide = parse_guide(path, tmp_path)
    assert (guide.role, guide.city, guide.url) == ("Data Engineers", "Ghent", "https://example.org/de")


def test_a_file_over_the_size_limit_is_skipped_unread(tmp_path, fake_embedder, monkeypatch):
    corpus = seed_corpus(tmp_path / "c")
    seed = (SHIPPED_CORPUS / SEED_NAME).read_text(encoding="utf-8")
    (corpus / "huge.txt").write_text(seed + seed.split("\n", 1)[1] * 10, encoding="utf-8")
    monkeypatch.setenv("ASSISTANT_MAX_GUIDE_BYTES", "20000")  # the setting, from the environment
    settings = Settings(corpus=corpus, index=tmp_path / "i")
    assert settings.max_guide_bytes == 20_000
    report = ingest(settings, fake_embedder)
    assert report.guides == 1 and len(report.errors) == 1
    assert report.errors[0].startswith("c/huge.txt: ") and "over the guide size limit" in report.errors[0]
    assert [gid for gid, _ in snapshot(settings)["guides"]] == [SEED_NAME]


def test_the_default_size_limit_is_far_above_a_guide_and_far_below_20_mb():
    limit = Settings().max_guide_bytes
    assert 100 * (SHIPPED_CORPUS / SEED_NAME).stat().st_size < limit < 20_000_000 / 5


def test_a_guide_the_chunker_fails_on_is_skipped_and_the_rest_indexed(tmp_path, fake_embedder,
                                                                      monkeypatch):
    import assistant.index as index_module

    corpus = seed_corpus(tmp_path / "c")
    (corpus / "odd.md").write_text(many_sections(3).replace("Test Engineers", "Odd Engineers"),
                                   encoding="utf-8")
    real = index_module.guide_nodes

    def flaky(guide):
        if guide.key == "odd.md":
            raise IndexError("list index out of range")
        return real(guide)

    monkeypatch.setattr(index_module, "guide_nodes", flaky)
    settings = Settings(corpus=corpus, index=tmp_path / "i")
    report = ingest(settings, fake_embedder)
    assert report.guides == 1
    assert report.errors == ["c/odd.md: cannot be indexed (IndexError: list index out of range)"]
    assert [gid for gid, _ in snapshot(settings)["guides"]] == [SEED_NAME]
