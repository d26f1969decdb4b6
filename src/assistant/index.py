"""The Chroma index: two collections, the ingest that keeps them in step with `corpus/`, and
the lock that keeps two ingests apart.

This is the only file that names chromadb. `guides` holds one record per guide: the digest
of its file and its parsed form as JSON (the `parsed` metadata key). `chunks` holds one record
per chunk: its vector and `guide`, `section` and `digest`. The guide record is the one source
of every chunk's text and node (`chunks.guide_nodes` rebuilds them, for BM25 and the dense
retriever alike), so no record carries a Chroma document: Chroma full-text-indexes documents
on write, which nothing here searches. Measured for 1,300 chunks: writing llama-index's full
nodes through `ChromaVectorStore.add` took 0.70 s (a fifth of a bfloat16 ingest), slim records
with the text as document 0.43 s, slim records without it 0.20 s. Search over all guides
still goes through llama-index's `ChromaVectorStore` (`Store.vector_store`).

A guide's record is written after its chunks, so a guide whose record is missing or stale is
simply ingested again on the next run: killing an ingest at any moment loses nothing.
Embeddings are always computed by our own embedder and passed in, each distinct text once
(`embed_texts`); Chroma's default embedding function (which downloads a model) is never used.

Faults stay with their file (issue 11): a guide that cannot be read, parsed, chunked or
serialised, or is over `Settings.max_guide_bytes`, is skipped with one line in
`IngestReport.errors`, before any of its chunks is written, and the other guides are indexed.
A skipped guide that was indexed before keeps that version; one that never was leaves
nothing, and chunks left without a record by an earlier failure are deleted. Every write
is cut into batches the client accepts (`Store.write_batch`).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
from llama_index.core.schema import MetadataMode, TextNode

from .chunks import guide_nodes
from .corpus import Guide, load_corpus
from .errors import CorpusError, IndexUnavailableError, IngestLockedError, NoIndexError
from .settings import Settings
from .vocab import SECTION_TOPICS

# Bump when parsing or chunking changes what a guide's chunks are: every guide re-ingests.
# The section labels (`vocab.SECTION_TOPICS`) are part of the parsed guide a record holds, so
# their digest is part of the format too: changing them re-ingests instead of going stale.
INDEX_FORMAT = "7." + hashlib.sha256(repr(SECTION_TOPICS).encode()).hexdigest()[:8]
# Embedding batches span guides so the model sees full batches on a large corpus; a group is
# embedded in one call (sentence-transformers sorts it by length, so bigger groups pad less:
# 2048 measured ~8 % faster than 512) and written at once.
WRITE_GROUP_CHUNKS = 2048
# What a chunk record carries besides its vector and text: the filter, a label for whoever
# browses the collection, and the change detector.
CHUNK_RECORD_KEYS = ("guide", "section", "digest")
# Records per write when a Chroma server does not say its limit (it normally does).
FALLBACK_WRITE_BATCH = 1000

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


def chroma_client(settings: Settings, create: bool = False) -> Any:
    """A Chroma client: HTTP when ASSISTANT_CHROMA_URL is set, else embedded on disk."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise IndexUnavailableError(
                f"ASSISTANT_CHROMA_URL must look like http://host:port, got {settings.chroma_url!r}"
            )
        try:
            return chromadb.HttpClient(
                host=url.hostname, port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https", settings=chroma_settings,
            )
        except Exception as error:  # chromadb raises several kinds for a dead server
            raise IndexUnavailableError(
                f"cannot reach the Chroma server at {settings.chroma_url} ({_reason(error)})"
            ) from None
    if not create and not (settings.index / "chroma.sqlite3").exists():
        raise NoIndexError(
            f"no index at {settings.index}/ yet: run `assistant ingest` first"
        )
    settings.index.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.index), settings=chroma_settings)


def _reason(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return (text or error.__class__.__name__)[:160]


@contextlib.contextmanager
def server_errors(settings: Settings) -> Iterator[None]:
    """Turn a Chroma server's connection failures into one clear `IndexUnavailableError`."""
    try:
        yield
    except (NoIndexError, IngestLockedError, CorpusError):
        raise
    except Exception as error:
        if not settings.chroma_url:
            raise
        raise IndexUnavailableError(
            f"lost the Chroma server at {settings.chroma_url} ({_reason(error)})"
        ) from None


@dataclass
class IngestReport:
    guides: int = 0
    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    removed_guides: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # ingested, but worth a look
    seconds: float = 0.0

    @property
    def writes(self) -> int:
        return self.added + self.updated + self.deleted

    def summary(self) -> str:
        line = (f"{self.guides} guides; chunks: {self.added} added, {self.updated} updated, "
                f"{self.deleted} deleted, {self.unchanged} unchanged; {self.seconds:.2f} s")
        if self.errors:
            line += f"; {len(self.errors)} file(s) skipped"
        return line


class Store:
    """The two Chroma collections behind one object; `client` is the test seam."""

    def __init__(self, settings: Settings, client: Any = None, create: bool = False) -> None:
        from llama_index.vector_stores.chroma import ChromaVectorStore

        self.settings = settings
        with server_errors(settings):
            self.client = client if client is not None else chroma_client(settings, create=create)
            names = (f"{settings.collection_prefix}_chunks", f"{settings.collection_prefix}_guides")
            if create:
                get = self.client.get_or_create_collection
            else:
                existing = {c if isinstance(c, str) else c.name for c in self.client.list_collections()}
                if not set(names) <= existing:
                    raise NoIndexError(
                        f"no index in {settings.chroma_url or str(settings.index) + '/'} yet: "
                        "run `assistant ingest` first"
                    )
                get = self.client.get_collection
            cosine = {"hnsw:space": "cosine"}
            self.chunks = get(names[0], embedding_function=None, metadata=cosine) if create \
                else get(names[0], embedding_function=None)
            self.guides = get(names[1], embedding_function=None, metadata=cosine) if create \
                else get(names[1], embedding_function=None)
        self.vector_store = ChromaVectorStore(chroma_collection=self.chunks)

    @functools.cached_property
    def write_batch(self) -> int:
        """The most records one write may carry: Chroma refuses a bigger batch outright (5,461
        for the embedded client), which a guide of a few thousand sections exceeds. Asked
        only when writing: for a server it is a request, which readers need not pay."""
        limit = int(self.client.get_max_batch_size())
        return limit if limit > 0 else FALLBACK_WRITE_BATCH

    def guide_digests(self) -> dict[str, tuple[str, int]]:
        records = self.guides.get(include=["metadatas"])
        return {gid: (meta["digest"], int(meta["chunks"]))
                for gid, meta in zip(records["ids"], records["metadatas"], strict=True)}

    def load_guides(self) -> list[Guide]:
        with server_errors(self.settings):
            records = self.guides.get(include=["metadatas"])
        if any("parsed" not in meta or not str(meta.get("digest", "")).startswith(f"{INDEX_FORMAT}:")
               for meta in records["metadatas"]):
            raise NoIndexError("the index was built by an older version of the assistant: "
                               "run `assistant ingest` to bring it up to date")
        guides = [Guide.from_dict(json.loads(meta["parsed"])) for meta in records["metadatas"]]
        return sorted(guides, key=lambda guide: guide.key)

    def chunk_digests(self, guide_key: str) -> dict[str, str]:
        records = self.chunks.get(where={"guide": guide_key}, include=["metadatas"])
        return {cid: meta.get("digest", "")
                for cid, meta in zip(records["ids"], records["metadatas"], strict=True)}

    def chunk_records_of(self, guide_keys: list[str]) -> dict[str, dict[str, tuple[str, Any]]]:
        """guide -> chunk id -> (digest, vector) for several guides in one read (one filtered
        get per guide was most of a large ingest's non-embedding time)."""
        if not guide_keys:
            return {}
        records = self.chunks.get(where=_of_guides(guide_keys), include=["metadatas", "embeddings"])
        found: dict[str, dict[str, tuple[str, Any]]] = {}
        for cid, meta, vector in zip(records["ids"], records["metadatas"], records["embeddings"],
                                     strict=True):
            found.setdefault(meta["guide"], {})[cid] = (meta.get("digest", ""), vector)
        return found

    def chunk_vectors(self, guide_keys: tuple[str, ...]) -> tuple[list[str], list[Any]]:
        """The ids and vectors of these guides' chunks, in one read."""
        records = self.chunks.get(where=_of_guides(guide_keys), include=["embeddings"])
        return records["ids"], list(records["embeddings"])


def _of_guides(guide_keys: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """The `where` filter for chunks of these guides."""
    return ({"guide": guide_keys[0]} if len(guide_keys) == 1
            else {"guide": {"$in": list(guide_keys)}})


@contextlib.contextmanager
def ingest_lock(settings: Settings) -> Iterator[None]:
    """An exclusive, non-blocking lock; the kernel releases it if the holder is killed."""
    if settings.chroma_url:
        tag = hashlib.sha256(settings.chroma_url.encode()).hexdigest()[:12]
        path = Path(tempfile.gettempdir()) / f"assistant-ingest-{tag}.lock"
    else:
        settings.index.mkdir(parents=True, exist_ok=True)
        path = settings.index / ".ingest.lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IngestLockedError(
                f"another ingest is running on {settings.chroma_url or settings.index} "
                f"(lock {path}); wait for it to finish"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _record_digest(guide: Guide) -> str:
    return f"{INDEX_FORMAT}:{guide.digest}"


def ingest(settings: Settings, embedder: Any, client: Any = None,
           progress: Callable[[int], Any] | None = None) -> IngestReport:
    """Bring the index in step with the corpus folder; see the module docstring."""
    started = time.perf_counter()
    guides, errors = load_corpus(settings.corpus, settings.max_guide_bytes)
    if not guides and not errors:
        raise CorpusError(f"corpus folder {settings.corpus} holds no .txt or .md guides")
    if progress and errors:
        progress(len(errors))
    report = IngestReport()
    with ingest_lock(settings), server_errors(settings):
        store = Store(settings, client=client, create=True)
        known = store.guide_digests()
        indexed: list[Guide] = []
        changed: list[_Changed] = []
        for guide in guides:
            recorded = known.get(guide.key)
            if recorded and recorded[0] == _record_digest(guide):
                report.unchanged += recorded[1]
                if progress:
                    progress(1)
            else:
                try:
                    changed.append(_prepare(guide))
                except Exception as error:  # a chunking or serialising bug on one file: skip it
                    errors.append(CorpusError(f"{guide.file}: cannot be indexed "
                                              f"({error.__class__.__name__}: {_reason(error)})",
                                              guide.key))
                    if progress:
                        progress(1)
                    continue
            indexed.append(guide)
        report.guides = len(indexed)
        failed_keys = {error.key for error in errors if error.key}
        report.errors = [f"{error} (its previous version stays indexed)" if error.key in known
                         else str(error) for error in errors]
        report.warnings = _warnings(indexed)
        # Writes stay between encodes, not beside them: a write is CPU-bound and threaded
        # already (Chroma's index build: 7.6 s of CPU in 6.0 s for 12,000 chunks, with the
        # 2 cores busy), so on 2 cores it would only take them from the embedding workers.
        for group in _groups(changed):
            planned = _plan(store, group, report)
            _store(store, planned, embed_texts(embedder, planned.texts))
            if progress:
                progress(len(group))
        # A skipped guide keeps its record (and chunks) from an earlier good ingest, if any.
        keep = {guide.key for guide in indexed} | failed_keys
        for key in sorted(set(known) - keep):
            report.deleted += len(store.chunk_digests(key))
            store.chunks.delete(where={"guide": key})
            store.guides.delete(ids=[key])
            report.removed_guides += 1
        # Chunks without a guide record: an ingest killed (or failed) mid-guide left them. A
        # skipped guide's are among them when it never had a record (the 17 chunks a bad
        # front matter used to leave): a clean build would not have them either.
        whole = {guide.key for guide in indexed} | (failed_keys & set(known))
        orphans = store.chunks.get(where={"guide": {"$nin": sorted(whole)}}, include=[])["ids"] \
            if whole else store.chunks.get(include=[])["ids"]
        if orphans:
            _in_batches(store.chunks.delete, store.write_batch, orphans)
            report.deleted += len(orphans)
    report.seconds = time.perf_counter() - started
    return report


def embed_texts(embedder: Any, texts: list[str]) -> np.ndarray:
    """One float32 row per text, each distinct text embedded once: the same sentence in two
    sections, or two guides' identical lines, is one forward pass, not two."""
    unique = list(dict.fromkeys(texts))
    if not unique:
        return np.empty((0, 0), dtype=np.float32)
    # Our embedder returns an array (no 12,000 x 384 Python floats); any other, lists.
    embed = getattr(embedder, "embed_texts", None) or embedder.get_text_embedding_batch
    vectors = np.asarray(embed(unique), dtype=np.float32)
    if len(unique) == len(texts):
        return vectors
    row = {text: number for number, text in enumerate(unique)}
    return vectors[[row[text] for text in texts]]


def _warnings(guides: list[Guide]) -> list[str]:
    warnings = []
    for guide in guides:
        heading = guide.cut_off()
        if heading:
            warnings.append(f"{guide.file}: the text of “{heading}” stops mid-sentence "
                            "(a truncated export?)")
    return warnings


@dataclass
class _Changed:
    """A guide to (re)write, with everything that can fail on its content done already."""

    guide: Guide
    nodes: list[TextNode]
    record: dict[str, Any]  # the guide record's metadata


def _prepare(guide: Guide) -> _Changed:
    # The record is serialised here, before any chunk is written: when it failed after the
    # chunks (a date in front matter is not JSON), the guide's chunks stayed as orphans.
    nodes = guide_nodes(guide)
    record = {"digest": _record_digest(guide), "chunks": len(nodes), "title": guide.title,
              "role": guide.role, "city": guide.city or "", "country": guide.country,
              "parsed": json.dumps(guide.to_dict(), ensure_ascii=False)}
    bad = [key for key, value in record.items() if not isinstance(value, str | int)]
    if bad:
        raise TypeError(f"record fields {bad} are not text")
    return _Changed(guide, nodes, record)


def _in_batches(write: Callable[..., Any], limit: int, ids: list[str], **columns: list[Any]) -> None:
    """One write as several of at most `limit` records each, in order."""
    for start in range(0, len(ids), limit):
        write(ids=ids[start:start + limit],
              **{name: values[start:start + limit] for name, values in columns.items()})


def _groups(changed: list[_Changed]) -> Iterator[list[_Changed]]:
    """Whole guides, about WRITE_GROUP_CHUNKS chunks per group."""
    group: list[_Changed] = []
    size = 0
    for item in changed:
        group.append(item)
        size += len(item.nodes)
        if size >= WRITE_GROUP_CHUNKS:
            yield group
            group, size = [], 0
    if group:
        yield group


@dataclass
class _Planned:
    items: list[_Changed]
    to_embed: list[TextNode]
    to_delete: list[str]
    kept: dict[str, list[Any]]  # guide key -> vectors of its chunks that stay as they are

    @property
    def untitled(self) -> list[Guide]:
        """Guides without any chunk: their record's vector is their title's."""
        return [item.guide for item in self.items if not item.nodes]

    @property
    def texts(self) -> list[str]:
        return ([node.get_content(metadata_mode=MetadataMode.EMBED) for node in self.to_embed]
                + [guide.title for guide in self.untitled])


def _plan(store: Store, group: list[_Changed], report: IngestReport) -> _Planned:
    """Which chunks of these guides need embedding and which stored ones go (one Chroma read)."""
    old_by_guide = store.chunk_records_of([item.guide.key for item in group])
    planned = _Planned(items=group, to_embed=[], to_delete=[], kept={})
    for item in group:
        guide, nodes = item.guide, item.nodes
        records = old_by_guide.get(guide.key, {})
        old = {cid: digest for cid, (digest, _vector) in records.items()}
        new_ids = {node.node_id for node in nodes}
        for node in nodes:
            previous = old.get(node.node_id)
            if previous == node.metadata["digest"]:
                report.unchanged += 1
                planned.kept.setdefault(guide.key, []).append(records[node.node_id][1])
                continue
            planned.to_embed.append(node)
            if previous is None:
                report.added += 1
            else:
                report.updated += 1
                planned.to_delete.append(node.node_id)
        stale = [cid for cid in old if cid not in new_ids]
        report.deleted += len(stale)
        planned.to_delete.extend(stale)
    return planned


def _store(store: Store, planned: _Planned, vectors: np.ndarray) -> None:
    limit = store.write_batch
    if planned.to_delete:
        _in_batches(store.chunks.delete, limit, planned.to_delete)
    if planned.to_embed:
        # In batches: one guide of 6,000 sections is 12,000 chunks, over Chroma's limit.
        _in_batches(
            store.chunks.add, limit,
            [node.node_id for node in planned.to_embed],
            embeddings=vectors[:len(planned.to_embed)],
            metadatas=[{key: node.metadata[key] for key in CHUNK_RECORD_KEYS}
                       for node in planned.to_embed],
        )
    # A guide record's vector (never searched; Chroma needs one) is the normalised mean of its
    # chunks' vectors: no extra texts to embed, and the same however the ingest was split.
    members: dict[str, list[Any]] = {key: list(kept) for key, kept in planned.kept.items()}
    for node, vector in zip(planned.to_embed, vectors, strict=False):
        members.setdefault(node.metadata["guide"], []).append(vector)
    titles = dict(zip([g.key for g in planned.untitled], vectors[len(planned.to_embed):], strict=True))
    records = []
    for item in planned.items:
        key = item.guide.key
        if key in titles:
            records.append(np.asarray(titles[key], dtype=np.float64).tolist())
            continue
        mean = np.mean(np.asarray(members[key], dtype=np.float64), axis=0)
        records.append((mean / (np.linalg.norm(mean) or 1.0)).tolist())
    # Last: a guide's record says "done"; until it is written the guide counts as changed. A
    # batch of records holds whole guides' records, each written after all of its chunks.
    _in_batches(store.guides.upsert, limit, [item.guide.key for item in planned.items],
                embeddings=records, metadatas=[item.record for item in planned.items])
