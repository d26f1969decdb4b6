"""Guide files -> `Guide` objects: sections of blocks, metadata, and structured facts.

Reads the site's `.txt` export (title line, bare-line headings, paragraphs, `- `/`•`
bullets, Markdown tables, with or without blank lines between blocks) and `.md` guides with
optional YAML front matter. Salary tables become `SalaryRow`s and the named lists (companies,
hubs, universities, skills, tools, career path) become item lists, both quoted exactly as the
guide writes them. This module does not chunk, embed or store anything.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from .errors import CorpusError
from .front_matter import FrontMatterError, split_front_matter, validate_front_matter
from .vocab import COUNTRY, COUNTRY_ALIASES, PLACES, normalize, section_topic, words

GUIDE_SUFFIXES = (".txt", ".md")
TITLE = re.compile(r"^\s*Recruiting\s+(?P<role>.+?)\s+in\s+(?P<place>.+?)\s*$", re.IGNORECASE)
BULLET = re.compile(r"^\s*(?:[-*•·]|\d+[.)])\s+")
KNOWN_HEADINGS = re.compile(
    r"^(the .+ (tech )?scene|key companies|top employers|tech hubs.*|universities.*|"
    r"about .+|key skills|common tools|career path|market demand|why hire .+|"
    r"salary ranges?.*|browse .+ jobs in .+|education|overview)$",
    re.IGNORECASE,
)
LIST_TOPICS = ("employers", "hubs", "universities", "skills", "tools", "career")
MONEY = re.compile(
    r"(?P<cur>[€$£])?\s*(?P<num>\d{1,3}(?:[.,\s ]\d{3})+|\d+(?:[.,]\d+)?)\s*(?P<k>[kK])?"
    r"\s*(?P<cur2>€|EUR|eur|\$|£)?"
)
CURRENCIES = {"€": "EUR", "eur": "EUR", "EUR": "EUR", "$": "USD", "£": "GBP"}


@dataclass
class Block:
    kind: str  # "paragraph" | "list" | "table"
    lines: list[str]  # the guide's own lines, verbatim

    @property
    def items(self) -> list[str]:
        if self.kind == "list":
            return [BULLET.sub("", line).strip() for line in self.lines]
        if self.kind == "paragraph" and any("→" in line for line in self.lines):
            return [part.strip() for line in self.lines for part in line.split("→") if part.strip()]
        return []

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass
class Section:
    heading: str
    topic: str
    blocks: list[Block] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(block.text for block in self.blocks)

    @property
    def is_empty(self) -> bool:
        return not any(line.strip() for block in self.blocks for line in block.lines)

    @property
    def items(self) -> list[str]:
        return [item for block in self.blocks for item in block.items]


@dataclass
class SalaryRow:
    level: str  # the row's own label, e.g. "Mid-Level"
    range_text: str  # the range exactly as written, e.g. "€47,380 – €64,890"
    min: int
    max: int
    currency: str
    period: str  # e.g. "gross/year"
    row: str  # the whole table line


@dataclass
class Guide:
    key: str  # path relative to the corpus folder: the guide's identity
    file: str  # how sources name it, e.g. "corpus/backend-developers-in-leuven.txt"
    title: str
    role: str
    city: str | None  # None for a country-wide guide
    country: str
    url: str | None
    sections: list[Section]
    digest: str  # sha256 of the file's bytes

    @property
    def place(self) -> str:
        return self.city or self.country

    @property
    def is_country_wide(self) -> bool:
        return self.city is None

    def cut_off(self) -> str | None:
        """The heading of a section whose prose stops mid-sentence (a truncated export), if
        any: a long paragraph line with no closing punctuation. Short lines are left alone,
        since a jobs link ("Find … on BeDevs") ends without a period on the site too."""
        for section in self.sections:
            for block in section.blocks:
                for line in block.lines if block.kind == "paragraph" else ():
                    text = line.strip()
                    if len(text.split()) > 12 and "→" not in text and text[-1] not in ".!?…:;)\"”»'’":
                        return section.heading
        return None

    def sections_on(self, topic: str) -> list[Section]:
        return [section for section in self.sections if section.topic == topic]

    def salary_rows(self) -> list[SalaryRow]:
        rows: list[SalaryRow] = []
        for section in self.sections_on("salary"):
            for block in section.blocks:
                if block.kind == "table":
                    rows.extend(parse_salary_table(block.lines))
        return rows

    def list_items(self, topic: str) -> list[str]:
        return [item for section in self.sections_on(topic) for item in section.items]

    def facts(self) -> list[dict]:
        """The structured facts of this guide, in the answer object's `facts` shape."""
        base = {"role": self.role, "city": self.place}
        facts: list[dict] = [
            {"kind": "salary", **base, "level": row.level, "min": row.min, "max": row.max,
             "currency": row.currency, "period": row.period}
            for row in self.salary_rows()
        ]
        for topic in LIST_TOPICS:
            if self.sections_on(topic):
                facts.append({"kind": topic, **base, "items": self.list_items(topic)})
        return facts

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Guide:
        sections = [
            Section(s["heading"], s["topic"], [Block(b["kind"], b["lines"]) for b in s["blocks"]])
            for s in data["sections"]
        ]
        return cls(**{**data, "sections": sections})


def parse_amount(text: str) -> tuple[int, str | None] | None:
    match = MONEY.search(text)
    if not match:
        return None
    digits = match["num"]
    if re.fullmatch(r"\d{1,3}(?:[.,\s ]\d{3})+", digits):
        value = float(re.sub(r"[.,\s ]", "", digits))
    else:
        value = float(digits.replace(",", "."))
    if match["k"]:
        value *= 1000
    symbol = match["cur"] or match["cur2"]
    return int(round(value)), CURRENCIES.get(symbol) if symbol else None


def _period(header: str) -> str:
    text = normalize(header)
    kind = "net" if "net" in words(header) else "gross"
    for word, period in (("month", "month"), ("hour", "hour"), ("day", "day"), ("year", "year"),
                         ("annual", "year")):
        if word in text:
            return f"{kind}/{period}"
    return f"{kind}/year"


def split_row(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def parse_salary_table(lines: list[str]) -> list[SalaryRow]:
    """Rows of a Markdown salary table; rows without two amounts are skipped, not guessed."""
    if len(lines) < 2:
        return []
    header = " ".join(split_row(lines[0]))
    period = _period(header)
    header_currency = parse_amount(header.replace("Gross", "").replace("gross", ""))
    rows = []
    for line in lines[1:]:
        cells = split_row(line)
        if len(cells) < 2 or all(set(cell) <= set("-: ") for cell in cells):
            continue
        range_text = " ".join(cells[1:]).strip()
        parts = re.split(r"\s*(?:–|—|-|to|tot|à)\s*(?=[€$£\d])", range_text)
        amounts = [parse_amount(part) for part in parts]
        amounts = [amount for amount in amounts if amount]
        if len(amounts) < 2:
            continue
        (low, cur_low), (high, cur_high) = amounts[0], amounts[-1]
        currency = cur_low or cur_high or (header_currency[1] if header_currency else None)
        rows.append(SalaryRow(cells[0], range_text, low, high, currency or "EUR", period,
                              line.strip()))
    return rows


def _is_heading(line: str) -> bool:
    text = line.strip()
    if not text or BULLET.match(text) or text.startswith("|") or "→" in text:
        return False
    if KNOWN_HEADINGS.match(text):
        return True
    if len(text) > 60 or len(text.split()) > 8 or text[-1] in ".!:;,":
        return False
    small = {"a", "an", "and", "&", "the", "of", "in", "on", "for", "to", "at", "by", "with",
             "or", "vs", "de", "het", "en", "van", "le", "la", "les", "et", "des", "du"}
    return all(word[0].isupper() or not word[0].isalpha() or word.lower() in small
               for word in text.rstrip("?").split())


def _blocks(lines: list[str]) -> list[Block]:
    """Group a section's lines into blocks; each paragraph line is its own paragraph."""
    blocks: list[Block] = []
    for raw in lines:
        line = raw.rstrip()
        if not line.strip():
            continue
        kind = "table" if line.lstrip().startswith("|") else "list" if BULLET.match(line) else "paragraph"
        if blocks and kind != "paragraph" and blocks[-1].kind == kind:
            blocks[-1].lines.append(line)
        else:
            blocks.append(Block(kind, [line]))
    return blocks


def _sections(lines: list[str], is_heading) -> list[Section]:
    sections: list[Section] = []
    pending: list[str] = []
    heading = "Introduction"
    for line in lines:
        if is_heading(line):
            if pending or sections or heading != "Introduction":
                sections.append(Section(heading, section_topic(heading), _blocks(pending)))
            heading, pending = line.strip().lstrip("#").strip(), []
        else:
            pending.append(line)
    sections.append(Section(heading, section_topic(heading), _blocks(pending)))
    return [s for s in sections if not (s.heading == "Introduction" and s.is_empty)]


def canonical_place(name: str) -> tuple[str | None, str]:
    """(city, country) for a place name in any of the three languages."""
    key = normalize(name)
    if key in COUNTRY_ALIASES:
        return None, COUNTRY
    for city, aliases in PLACES.items():
        if key in aliases or key == normalize(city):
            return city, COUNTRY
    return name.strip(), COUNTRY


def parse_guide(path: Path, corpus_dir: Path, max_bytes: int | None = None) -> Guide:
    """Parse one guide file; raises `CorpusError` naming the file.

    A file over `max_bytes` is refused before it is read: a guide is tens of kilobytes, and a
    20 MB file (an export gone wrong, a dump dropped in the folder) would take the ingest
    tens of minutes and over a gigabyte of memory to chunk and embed."""
    key = path.relative_to(corpus_dir).as_posix()
    shown = f"{corpus_dir.name}/{key}"
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            # Never more than the limit and one byte: a file that grew since stat() is refused too.
            raw = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
    except OSError as error:
        raise CorpusError(f"{shown}: cannot be read ({error.strerror})", key) from None
    if max_bytes is not None and len(raw) > max_bytes:
        raise CorpusError(f"{shown}: {_size(max(size, len(raw)))} is over the guide size limit of "
                          f"{_size(max_bytes)} (ASSISTANT_MAX_GUIDE_BYTES)", key)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CorpusError(f"{shown}: not UTF-8 text (bad byte at offset {error.start})", key) from None
    if not text.strip():
        raise CorpusError(f"{shown}: the file is empty", key)
    if "\x00" in text:
        raise CorpusError(f"{shown}: contains binary data", key)
    try:
        raw_meta, body = split_front_matter(text) if path.suffix == ".md" else ({}, text)
        meta = validate_front_matter(raw_meta)
    except FrontMatterError as error:
        raise CorpusError(f"{shown}: {error}", key) from None
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        raise CorpusError(f"{shown}: has front matter but no guide text", key)
    title = lines[0].strip().lstrip("#").strip()
    if path.suffix == ".md":
        def is_heading(line: str) -> bool:
            return bool(re.match(r"^#{1,6}\s+\S", line))
        sections = _sections(_join_md_paragraphs(lines[1:]), is_heading)
    else:
        sections = _sections(lines[1:], _is_heading)
    title = meta.get("title") or title
    match = TITLE.match(title)
    role = (meta.get("role") or (match["role"] if match else "")).strip()
    place = (meta.get("city") or (match["place"] if match else "")).strip()
    if not role or not place:
        raise CorpusError(
            f"{shown}: line 1 must read 'Recruiting <Role> in <Place>' "
            "(or give role and city in front matter)", key
        )
    city, country = canonical_place(place)
    country = meta.get("country") or country
    if meta.get("city") and normalize(meta["city"]) in COUNTRY_ALIASES:
        city = None
    return Guide(key=key, file=shown, title=title, role=role, city=city, country=country,
                 url=meta.get("url"), sections=sections, digest=hashlib.sha256(raw).hexdigest())


def page_url(guide: Guide, site_base_url: str | None) -> str | None:
    """The guide's page on the site: its front matter `url`, else the site's base URL and
    the file's slug (`backend-developers-in-leuven.txt` is the site's page
    `<base>/backend-developers-in-leuven`: the site exports one file per page, named by the
    page's slug). None when the guide names no url and no base URL is configured: a link is
    never made up from anything else."""
    if guide.url:
        return guide.url
    if not site_base_url:
        return None
    return f"{site_base_url.rstrip('/')}/{quote(PurePosixPath(guide.key).stem)}"


def _join_md_paragraphs(lines: list[str]) -> list[str]:
    """Markdown wraps paragraphs over several lines; join them so a paragraph is one line."""
    joined: list[str] = []
    for line in lines:
        stripped = line.strip()
        plain = stripped and not (stripped.startswith(("#", "|")) or BULLET.match(stripped))
        previous = joined[-1].strip() if joined else ""
        previous_plain = previous and not (previous.startswith(("#", "|")) or BULLET.match(previous))
        if plain and previous_plain:
            joined[-1] = f"{joined[-1].rstrip()} {stripped}"
        else:
            joined.append(line)
    return joined


def guide_paths(corpus_dir: Path) -> list[Path]:
    return sorted(p for p in corpus_dir.rglob("*") if p.is_file() and p.suffix in GUIDE_SUFFIXES
                  and not p.name.startswith("."))


def _size(count: int) -> str:
    return f"{count / 1_000_000:.1f} MB" if count >= 100_000 else f"{count:,} bytes"


def load_corpus(corpus_dir: Path, max_bytes: int | None = None
                ) -> tuple[list[Guide], list[CorpusError]]:
    """Every guide that parses, and one error per file that does not (or is over `max_bytes`)."""
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus folder {corpus_dir} does not exist")
    guides, errors = [], []
    for path in guide_paths(corpus_dir):
        try:
            guides.append(parse_guide(path, corpus_dir, max_bytes))
        except CorpusError as error:
            errors.append(error)
    return guides, errors
