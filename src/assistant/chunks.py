"""`Guide` -> llama-index `TextNode`s at two grains: sections, and the units inside them.

Section chunks: one per section, split only when a section is long. A chunk never crosses a
section boundary and never splits a table row or a list item; an over-long paragraph is cut
by llama-index's `SentenceSplitter`.

Units (`grain` = "unit"): each prose sentence, list item, salary-table row and career-path
line, plus one unit per empty section ("the guide lists none" is a fact too). They are the
evidence answers are built from (`evidence.py`). A unit's text is what the embedder and BM25
see: its section heading and its own words, with the guide's role and place words taken out,
because every unit of a guide repeats them and they would drown what the unit is about. A
table row is spelled out with its column names, since "| Senior | €61,800 – €87,550 |" alone
carries little meaning. The verbatim line is kept in `metadata["quote"]`.

Ids are readable and stable (`<guide key>#<section slug>-<n>#<part>` and `...#u<k>`), so
re-chunking an unchanged guide gives the same ids and `digest`s. Nothing here embeds or stores.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

from llama_index.core.schema import TextNode

from .corpus import BULLET, Block, Guide, Section, split_row
from .vocab import PLACES, normalize, singular, words

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


SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9“\"'(€])")


def sentences_of(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_END.split(text) if s.strip()]


def block_units(block: Block) -> list[tuple[str, str]]:
    """(unit kind, verbatim text) for each unit of a block."""
    if block.kind == "table":
        return [("row", line) for line in block.lines[2:] if line.strip()] if len(block.lines) > 2 \
            else [("row", line) for line in block.lines]
    if block.kind == "list":
        return [("item", line) for line in block.lines]
    out: list[tuple[str, str]] = []
    for line in block.lines:
        if "→" in line:
            out.append(("path", line))
        else:
            out.extend(("sentence", sentence) for sentence in sentences_of(line))
    return out


def section_units(section: Section) -> list[tuple[str, str, str]]:
    """(kind, verbatim quote, text to search) for each unit of a section.

    A list or table also counts as one unit as a whole ("list", "table"): one item or row
    alone says little of what the section is about."""
    units: list[tuple[str, str, str]] = []
    for block in section.blocks:
        header = split_row(block.lines[0]) if block.kind == "table" else []
        if block.kind == "list" and len(block.lines) > 1:
            units.append(("list", block.text, ", ".join(BULLET.sub("", line) for line in block.lines)))
        elif block.kind == "table" and len(block.lines) > 3:
            rows = [split_row(line) for line in block.lines[2:]]
            units.append(("table", block.text,
                          " ".join(header) + ": " + "; ".join(" ".join(r) for r in rows)))
        for kind, quote in block_units(block):
            searchable = quote
            if kind == "row" and header:
                cells = split_row(quote)
                searchable = ", ".join(f"{name} {cell}" for name, cell in zip(header, cells, strict=False))
            elif kind == "item":
                searchable = BULLET.sub("", quote)
            units.append((kind, quote.strip(), searchable))
    if not units:
        units.append(("empty", "", ""))
    return units


def guide_words(guide: Guide) -> set[str]:
    """The words every unit of a guide shares: its role's and its place's names."""
    found = {singular(w) for w in words(guide.role)} | set(words(guide.role))
    place = guide.city or ""
    aliases = PLACES.get(place, ()) + (normalize(place),)
    found |= {w for alias in aliases for w in alias.split()}
    return found


def strip_words(text: str, drop: set[str]) -> str:
    kept = [w for w in re.findall(r"[\w€$£.,%'’()–-]+", text)
            if normalize(w).strip(".,()'’") not in drop
            and singular(normalize(w).strip(".,()'’")) not in drop]
    return " ".join(kept)


def unit_nodes(guide: Guide) -> list[TextNode]:
    drop = guide_words(guide)
    nodes: list[TextNode] = []
    seen: dict[str, int] = {}
    for order, section in enumerate(guide.sections):
        section_slug = slug(section.heading)
        occurrence = seen[section_slug] = seen.get(section_slug, -1) + 1
        heading = strip_words(section.heading, drop) or section.heading
        for k, (kind, quote, searchable) in enumerate(section_units(section)):
            # A sentence stands on its own words: with its heading in front, "Why Hire"
            # drew every "which companies hire…?" to that section's prose. Items and rows
            # say little alone, so they keep their heading (the heading is a signal too).
            body = strip_words(searchable, drop)
            text = (body if kind == "sentence" else f"{heading}: {body}") if searchable else heading
            metadata = {"guide": guide.key, "section": section.heading, "grain": "unit",
                        "block": kind, "quote": quote, "order": order, "position": k}
            digest_source = "\x1f".join([text, *(f"{key}={metadata[key]}" for key in sorted(metadata))])
            metadata["digest"] = hashlib.sha256(digest_source.encode()).hexdigest()[:32]
            nodes.append(TextNode(id_=f"{guide.key}#{section_slug}-{occurrence}#u{k}", text=text,
                                  metadata=metadata, excluded_embed_metadata_keys=list(metadata),
                                  excluded_llm_metadata_keys=list(metadata)))
    return nodes


def guide_nodes(guide: Guide) -> list[TextNode]:
    """Section chunks, then units."""
    return section_nodes(guide) + unit_nodes(guide)


def section_nodes(guide: Guide) -> list[TextNode]:
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
                "part": part, "empty": section.is_empty, "grain": "section",
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
