"""`Guide` -> llama-index `TextNode`s: one chunk per section, split only when a section is long.

A chunk never crosses a section boundary and never splits a table row or a list item; an
over-long paragraph is cut by llama-index's `SentenceSplitter`. Ids are readable and stable
(`<guide key>#<section slug>-<n>#<part>`), so re-chunking an unchanged guide gives the same
ids and the same `digest`s. Empty sections become empty chunks: "the guide lists none" is a
fact too. Nothing here embeds or stores.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

from llama_index.core.schema import TextNode

from .corpus import Block, Guide, Section

MAX_CHUNK_CHARS = 1200
# What the embedder and BM25 see besides the text: the guide and section names help both.
EMBED_METADATA = ("title", "section")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


@lru_cache(maxsize=1)
def _sentence_splitter():
    from llama_index.core.node_parser import SentenceSplitter

    return SentenceSplitter(chunk_size=200, chunk_overlap=0)


def _pieces(block: Block) -> list[str]:
    """A block as pieces no longer than MAX_CHUNK_CHARS where it can be cut safely."""
    if len(block.text) <= MAX_CHUNK_CHARS:
        return [block.text]
    if block.kind == "paragraph":
        return [piece for line in block.lines for piece in _sentence_splitter().split_text(line)]
    return list(block.lines)  # table rows and list items stay whole


def section_parts(section: Section) -> list[str]:
    parts: list[str] = []
    current = ""
    for block in section.blocks:
        for piece in _pieces(block):
            if current and len(current) + 1 + len(piece) > MAX_CHUNK_CHARS:
                parts.append(current)
                current = piece
            else:
                current = f"{current}\n{piece}" if current else piece
    parts.append(current)
    return parts


def guide_nodes(guide: Guide) -> list[TextNode]:
    nodes: list[TextNode] = []
    seen: dict[str, int] = {}
    for section in guide.sections:
        section_slug = slug(section.heading)
        occurrence = seen[section_slug] = seen.get(section_slug, -1) + 1
        for part, text in enumerate(section_parts(section)):
            metadata = {
                "guide": guide.key, "file": guide.file, "title": guide.title,
                "role": guide.role, "city": guide.city or "", "country": guide.country,
                "scope": "country" if guide.is_country_wide else "city",
                "section": section.heading, "topic": section.topic, "url": guide.url or "",
                "part": part, "empty": section.is_empty,
            }
            digest_source = "\x1f".join([text, *(f"{k}={metadata[k]}" for k in sorted(metadata))])
            metadata["digest"] = hashlib.sha256(digest_source.encode()).hexdigest()[:32]
            nodes.append(TextNode(
                id_=f"{guide.key}#{section_slug}-{occurrence}#{part}",
                text=text,
                metadata=metadata,
                excluded_embed_metadata_keys=[k for k in metadata if k not in EMBED_METADATA],
                excluded_llm_metadata_keys=[k for k in metadata if k not in EMBED_METADATA],
            ))
    return nodes
