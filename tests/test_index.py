"""The Chroma index with the real packaged model: idempotent re-ingest, changed and removed
guides, a kill -9 in the middle of an ingest, the ingest lock, and files that cannot be read."""

from __future__ import annotations

import fcntl
import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import chromadb
import pytest

from assistant.chunks import guide_nodes
from assistant.corpus import parse_guide
from assistant.errors import NoIndexError
from assistant.index import chroma_client, ingest
from assistant.settings import Settings
from conftest import ASSISTANT_BIN, FIXTURE_GUIDES, ROOT, SHIPPED_CORPUS, copy_corpus, run_cli, snapshot

pytestmark = pytest.mark.integration
SEED = (SHIPPED_CORPUS / "backend-developers-in-leuven.txt").read_text(encoding="utf-8")
CITIES = ["Leuven", "Ghent", "Antwerp", "Bruges", "Mechelen", "Namur", "Hasselt", "Charleroi",
          "Kortrijk", "Mons", "Ostend", "Aalst", "Genk", "Wavre", "Turnhout", "Arlon", "Roeselare"]


def file_hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith(".lock")}


def test_second_ingest_writes_nothing(tmp_path, real_embedder):
    settings = Settings(corpus=copy_corpus(FIXTURE_GUIDES, tmp_path / "c"), index=tmp_path / "i")
    first = ingest(settings, real_embedder)
    assert first.added == sum(1 for _ in snapshot(settings)["chunks"]) and first.guides == 6
    before = file_hashes(settings.index)
    second = ingest(settings, real_embedder)
    assert (second.added, second.updated, second.deleted) == (0, 0, 0)
    assert second.unchanged == first.added
    assert file_hashes(settings.index) == before


def test_changed_and_removed_guides(tmp_path, real_embedder):
    corpus = copy_corpus(FIXTURE_GUIDES, tmp_path / "c")
    settings = Settings(corpus=corpus, index=tmp_path / "i")
    ingest(settings, real_embedder)
    brussels_chunks = len(guide_nodes(parse_guide(corpus / "data-scientists-in-brussels.txt", corpus)))
    ghent = corpus / "backend-developers-in-ghent.txt"
    ghent.write_text(ghent.read_text().replace("€58,900 – €82,400", "€59,900 – €83,400"))
    (corpus / "data-scientists-in-brussels.txt").unlink()
    report = ingest(settings, real_embedder)
    # The changed row's section chunk, its row unit and its whole-table unit.
    assert report.updated == 3 and report.added == 0
    assert report.deleted == brussels_chunks and report.removed_guides == 1
    after = snapshot(settings)
    assert not any(cid.startswith("data-scientists") for cid, _meta in after["chunks"])
    clean = Settings(corpus=corpus, index=tmp_path / "clean")
    ingest(clean, real_embedder)
    assert snapshot(clean) == after


def many_guides(folder: Path, count: int) -> Path:
    folder.mkdir()
    for i in range(count):
        city = CITIES[i % len(CITIES)]
        role = f"Backend Developers Team{i}" if i >= len(CITIES) else "Backend Developers"
        text = SEED.replace("Backend Developers", role).replace("Leuven", city)
        (folder / f"guide-{i:03d}.txt").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def big_corpus(tmp_path_factory, real_embedder) -> tuple[Path, dict]:
    """Thirty guides (enough for an ingest to take a while) and their clean build."""
    root = tmp_path_factory.mktemp("big")
    corpus = many_guides(root / "c", 30)
    clean = Settings(corpus=corpus, index=root / "clean")
    ingest(clean, real_embedder)
    return corpus, snapshot(clean)


@pytest.mark.parametrize("kill_after", [2.5, 6.0])
def test_kill_during_ingest_then_ingest_again_equals_clean_build(tmp_path, real_embedder, big_corpus,
                                                                 kill_after):
    corpus, clean = big_corpus
    killed = Settings(corpus=corpus, index=tmp_path / "killed")
    env = {**os.environ, "ASSISTANT_CORPUS": str(corpus), "ASSISTANT_INDEX": str(killed.index)}
    process = subprocess.Popen([str(ASSISTANT_BIN), "ingest"], env=env, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(kill_after)
    process.send_signal(signal.SIGKILL)
    process.wait()
    resumed = ingest(killed, real_embedder)
    assert resumed.guides == 30
    assert snapshot(killed) == clean


def test_second_concurrent_ingest_is_refused(tmp_path):
    index = tmp_path / "i"
    index.mkdir()
    with open(index / ".ingest.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = run_cli("ingest", "--corpus", str(FIXTURE_GUIDES), "--index", str(index))
    assert result.returncode == 1
    assert "another ingest is running" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_files_are_named_and_the_rest_ingests(tmp_path, real_embedder):
    corpus = copy_corpus(FIXTURE_GUIDES, tmp_path / "c")
    (corpus / "broken-latin1.txt").write_bytes("Recruiting QA Engineers in Gent\ncaf\xe9".encode("latin-1"))
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "dated.md").write_text("---\nurl: 2024-01-01\n---\n# Recruiting QA Engineers in Gent\n")
    (corpus / "huge.txt").write_text("Recruiting QA Engineers in Gent\n" + "Filler text.\n" * 2000)
    env = {"ASSISTANT_MAX_GUIDE_BYTES": "20000"}
    result = run_cli("ingest", "--corpus", str(corpus), "--index", str(tmp_path / "i"), env=env)
    assert result.returncode == 4, result.stderr  # indexed, some files skipped (issue 11)
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == 4
    assert "broken-latin1.txt: not UTF-8" in result.stderr and "empty.txt: the file is empty" in result.stderr
    assert "c/dated.md: front matter `url` must be text, got a date" in result.stderr
    assert "c/huge.txt: 26,032 bytes is over the guide size limit of 20,000 bytes" in result.stderr
    assert "6 guides" in result.stdout and "4 file(s) skipped" in result.stdout
    assert "Traceback" not in result.stderr
    answer = run_cli("ask", "What does a senior backend developer earn in Leuven?",
                     "--index", str(tmp_path / "i"))
    assert answer.returncode == 0 and "€61,800 – €87,550" in answer.stdout


def test_a_guide_that_breaks_later_keeps_its_last_good_version(tmp_path, real_embedder):
    corpus = copy_corpus(FIXTURE_GUIDES, tmp_path / "c")
    settings = Settings(corpus=corpus, index=tmp_path / "i")
    ingest(settings, real_embedder)
    before = snapshot(settings)
    (corpus / "backend-developers-in-ghent.txt").write_bytes(b"\xff\xfe broken")
    report = ingest(settings, real_embedder)
    assert report.errors and report.deleted == 0
    assert snapshot(settings) == before


@pytest.mark.parametrize("setup, code, message", [
    ("empty-folder", 2, "holds no .txt or .md guides"),
    ("missing-folder", 2, "does not exist"),
])
def test_ingest_bad_corpus_folder(tmp_path, setup, code, message):
    corpus = tmp_path / "corpus"
    if setup == "empty-folder":
        corpus.mkdir()
    result = run_cli("ingest", "--corpus", str(corpus), "--index", str(tmp_path / "i"))
    assert result.returncode == code and message in result.stderr
    assert "Traceback" not in result.stderr


def test_no_index_yet(tmp_path):
    with pytest.raises(Exception, match="run `assistant ingest` first"):
        chroma_client(Settings(index=tmp_path / "nothing"))
    assert not (tmp_path / "nothing").exists()


def test_records_are_slim_and_the_guide_record_holds_the_text(tmp_path, real_embedder):
    from assistant.index import CHUNK_RECORD_KEYS

    settings = Settings(corpus=copy_corpus(FIXTURE_GUIDES, tmp_path / "c"), index=tmp_path / "i")
    ingest(settings, real_embedder)
    client = chromadb.PersistentClient(path=str(settings.index))
    chunks = client.get_collection("assistant_chunks").get(include=["metadatas", "documents"])
    assert {tuple(sorted(meta)) for meta in chunks["metadatas"]} == {tuple(sorted(CHUNK_RECORD_KEYS))}
    assert set(chunks["documents"]) == {None}  # Chroma's full-text index stays empty
    guides = client.get_collection("assistant_guides").get(include=["metadatas"])
    parsed = {gid: meta["parsed"] for gid, meta in zip(guides["ids"], guides["metadatas"], strict=True)}
    corpus = settings.corpus
    for path in sorted(corpus.glob("*.txt")):
        guide = parse_guide(path, corpus)
        assert '"sections"' in parsed[guide.key]
        assert {n.node_id for n in guide_nodes(guide)} == {
            cid for cid, meta in zip(chunks["ids"], chunks["metadatas"], strict=True)
            if meta["guide"] == guide.key}


def test_an_index_from_an_older_version_asks_for_an_ingest(tmp_path, real_embedder):
    settings = Settings(corpus=copy_corpus(FIXTURE_GUIDES, tmp_path / "c"), index=tmp_path / "i")
    ingest(settings, real_embedder)
    guides = chromadb.PersistentClient(path=str(settings.index)).get_collection("assistant_guides")
    records = guides.get(include=["metadatas", "embeddings"])
    guides.delete(ids=records["ids"][:1])
    old = {k: v for k, v in records["metadatas"][0].items() if k != "parsed"}
    old["digest"] = "3:" + old["digest"].split(":", 1)[1]  # INDEX_FORMAT 3 kept the JSON as a document
    guides.add(ids=records["ids"][:1], embeddings=records["embeddings"][:1], metadatas=[old],
               documents=["{}"])
    result = run_cli("ask", "What does a senior backend developer earn in Leuven?",
                     env={"ASSISTANT_INDEX": str(settings.index), "ASSISTANT_CORPUS": str(settings.corpus)})
    assert result.returncode == 3
    assert "older version" in result.stderr and "assistant ingest" in result.stderr
    assert "Traceback" not in result.stderr
    assert ingest(settings, real_embedder).writes == 0  # chunks unchanged; the record is rewritten
    assert run_cli("ask", "What does a senior backend developer earn in Leuven?",
                   env={"ASSISTANT_INDEX": str(settings.index),
                        "ASSISTANT_CORPUS": str(settings.corpus)}).returncode == 0


def test_a_guide_cut_off_mid_sentence_is_ingested_with_a_warning(tmp_path, fake_embedder):
    corpus = tmp_path / "c"
    corpus.mkdir()
    seed = (SHIPPED_CORPUS / "backend-developers-in-leuven.txt").read_text(encoding="utf-8")
    cut = seed[:seed.index("These figures reflect a premium") + 60]  # stops mid-sentence
    (corpus / "backend-developers-in-leuven.txt").write_text(cut, encoding="utf-8")
    report = ingest(Settings(corpus=corpus, index=tmp_path / "i"), fake_embedder)
    assert report.guides == 1 and not report.errors
    assert len(report.warnings) == 1 and "Why Hire Backend Developers in Leuven?" in report.warnings[0]
    whole = ingest(Settings(corpus=SHIPPED_CORPUS, index=tmp_path / "j"), fake_embedder)
    assert whole.warnings == []


def test_a_record_of_another_format_version_is_stale_and_re_ingested(tmp_path, fake_embedder):
    from assistant.index import INDEX_FORMAT, Store

    settings = Settings(corpus=copy_corpus(FIXTURE_GUIDES, tmp_path / "c"), index=tmp_path / "i")
    ingest(settings, fake_embedder)
    guides = chromadb.PersistentClient(path=str(settings.index)).get_collection("assistant_guides")
    records = guides.get(include=["metadatas"])
    # Same parsed guide, but recorded under other section labels (another classification).
    stale = {**records["metadatas"][0], "digest": "7.00000000:" + records["metadatas"][0]["digest"]
             .split(":", 1)[1]}
    assert not stale["digest"].startswith(INDEX_FORMAT)
    guides.update(ids=records["ids"][:1], metadatas=[stale])
    with pytest.raises(NoIndexError, match="older version"):
        Store(settings).load_guides()
    report = ingest(settings, fake_embedder)
    assert report.writes == 0  # the chunks are the same; only the guide's record is rewritten
    assert len(Store(settings).load_guides()) == len(records["ids"])


def test_identical_texts_are_embedded_once_and_each_chunk_keeps_its_own_vector(tmp_path):
    import numpy as np
    from llama_index.core.schema import MetadataMode

    from assistant.corpus import load_corpus
    from conftest import FakeEmbedding

    class Counting(FakeEmbedding):
        embedded: list[str] = []

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            self.embedded.extend(texts)
            return [self._vector(text) for text in texts]

    embedder = Counting()
    settings = Settings(corpus=copy_corpus(FIXTURE_GUIDES, tmp_path / "c"), index=tmp_path / "i")
    report = ingest(settings, embedder)
    guides, _ = load_corpus(settings.corpus)
    texts = {node.node_id: node.get_content(metadata_mode=MetadataMode.EMBED)
             for guide in guides for node in guide_nodes(guide)}
    # The fixtures repeat some lines (a shared footer, one-company lists) across guides.
    assert len(set(texts.values())) < len(texts) == report.added
    assert sorted(embedder.embedded) == sorted(set(texts.values()))
    stored = chromadb.PersistentClient(path=str(settings.index)).get_collection(
        "assistant_chunks").get(include=["embeddings"])
    for cid, vector in zip(stored["ids"], stored["embeddings"], strict=True):
        assert np.allclose(vector, embedder._vector(texts[cid]), atol=1e-6), cid
