"""Guide parsing: the seed export, the blank-line/• variant, Markdown with front matter,
country-wide guides, salary tables, named lists, chunks, and files that cannot be read."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.chunks import MAX_CHUNK_CHARS, guide_nodes, section_nodes, unit_nodes
from assistant.corpus import load_corpus, page_url, parse_amount, parse_guide, parse_salary_table
from assistant.errors import CorpusError
from assistant.settings import Settings
from conftest import FIXTURE_GUIDES, SHIPPED_CORPUS

SEED_SECTIONS = [
    "Introduction", "The Leuven Tech Scene", "Key Companies", "Tech Hubs & Coworking",
    "Universities & Education", "About Backend Developers", "Key Skills", "Common Tools",
    "Career Path", "Market Demand", "Why Hire Backend Developers in Leuven?", "Salary Ranges",
    "Browse Backend Developers Jobs in Leuven",
]


def guide(name: str, corpus: Path = FIXTURE_GUIDES):
    return parse_guide(corpus / name, corpus)


def test_seed_metadata_and_sections():
    seed = guide("backend-developers-in-leuven.txt", SHIPPED_CORPUS)
    assert (seed.role, seed.city, seed.country) == ("Backend Developers", "Leuven", "Belgium")
    assert seed.title == "Recruiting Backend Developers in Leuven"
    assert seed.file == "corpus/backend-developers-in-leuven.txt"
    assert [s.heading for s in seed.sections] == SEED_SECTIONS
    empty = [s.heading for s in seed.sections if s.is_empty]
    assert empty == ["Key Skills", "Common Tools"]


def test_seed_salary_rows_are_exact():
    rows = guide("backend-developers-in-leuven.txt", SHIPPED_CORPUS).salary_rows()
    assert [(r.level, r.range_text, r.min, r.max, r.currency, r.period) for r in rows] == [
        ("Junior", "€37,080 – €49,440", 37080, 49440, "EUR", "gross/year"),
        ("Mid-Level", "€47,380 – €64,890", 47380, 64890, "EUR", "gross/year"),
        ("Senior", "€61,800 – €87,550", 61800, 87550, "EUR", "gross/year"),
    ]
    assert rows[2].row == "| Senior | €61,800 – €87,550 |"


@pytest.mark.parametrize("topic, items", [
    ("employers", ["imec", "Materialise", "KBC Technology", "Barco (R&D)", "Genomics England (partner)"]),
    ("hubs", ["imec", "Leuven.inc", "KBC Start it @KBC", "Leuven MindGate"]),
    ("universities", ["KU Leuven", "UCLL (University College Leuven-Limburg)"]),
    ("skills", []),
    ("tools", []),
    ("career", ["Junior Backend Developer", "Backend Developer", "Senior Backend Developer",
                "Backend Architect", "Principal Engineer or VP of Engineering"]),
])
def test_seed_lists(topic, items):
    seed = guide("backend-developers-in-leuven.txt", SHIPPED_CORPUS)
    assert seed.list_items(topic) == items
    assert any(f["kind"] == topic and f["items"] == items for f in seed.facts())


def test_blank_line_export_with_bullet_dots():
    ghent = guide("backend-developers-in-ghent.txt")
    assert ghent.city == "Ghent"
    assert ghent.list_items("employers") == ["Showpad", "Deliverect", "TVH", "Barco"]
    assert [r.level for r in ghent.salary_rows()] == ["Junior", "Medior", "Senior", "Lead"]
    assert ghent.salary_rows()[3].range_text == "€80,000 – €98,750"


def test_markdown_front_matter_overrides_title():
    antwerp = guide("frontend-developers-in-antwerp.md")
    assert (antwerp.role, antwerp.city) == ("Frontend Developers", "Antwerp")
    assert antwerp.url == "https://example.org/guides/frontend-developers-in-antwerp"
    assert antwerp.title == "Hiring frontend talent in Antwerp"
    intro = antwerp.sections[0]
    assert "paragraphs wrap over several lines" in intro.text
    assert [s.heading for s in antwerp.sections if s.is_empty] == ["Key Skills"]


def test_page_url_front_matter_else_site_base_and_slug():
    seed = guide("backend-developers-in-leuven.txt", SHIPPED_CORPUS)
    assert seed.url is None  # a .txt export has no front matter: the site gives its page
    base = Settings().site_base_url
    # the issue's own statement: the shipped guide is this page of the site
    assert page_url(seed, base) == "https://www.bedevs.be/hiring/backend-developers-in-leuven"
    assert page_url(seed, "https://guides.example/jobs") == "https://guides.example/jobs/backend-developers-in-leuven"
    antwerp = guide("frontend-developers-in-antwerp.md")  # front matter wins over the base
    assert page_url(antwerp, base) == "https://example.org/guides/frontend-developers-in-antwerp"
    assert page_url(seed, "") is None and page_url(antwerp, "") == antwerp.url


@pytest.mark.parametrize("bad", ["www.bedevs.be/hiring", "ftp://x.example/", "https://a b.example/",
                                 "javascript:alert(1)"])
def test_site_base_url_must_be_http(bad: str):
    with pytest.raises(ValueError, match="http"):
        Settings(site_base_url=bad)


def test_country_wide_guide():
    belgium = guide("backend-developers-in-belgium.txt")
    assert belgium.city is None and belgium.is_country_wide and belgium.place == "Belgium"


@pytest.mark.parametrize("text, value, currency", [
    ("€61,800", 61800, "EUR"), ("61.800 €", 61800, "EUR"), ("€62k", 62000, "EUR"),
    ("61 800 EUR", 61800, "EUR"), ("$95,000", 95000, "USD"), ("4.500", 4500, None),
])
def test_amounts(text, value, currency):
    assert parse_amount(text) == (value, currency)


def test_salary_table_per_month_and_skipped_rows():
    rows = parse_salary_table([
        "| Level | Salary (net per month) |", "|---|---|", "| Junior | 2.500 € – 3.100 € |",
        "| Senior | ask us |",
    ])
    assert [(r.level, r.min, r.max, r.period) for r in rows] == [("Junior", 2500, 3100, "net/month")]


def test_chunks_are_stable_and_keep_sections():
    seed = guide("backend-developers-in-leuven.txt", SHIPPED_CORPUS)
    assert [n.node_id for n in guide_nodes(seed)] == [n.node_id for n in guide_nodes(seed)]
    first, second = section_nodes(seed), section_nodes(seed)
    assert [n.node_id for n in first] == [n.node_id for n in second]
    assert [n.metadata["digest"] for n in first] == [n.metadata["digest"] for n in second]
    assert len(first) == len(SEED_SECTIONS)
    salary = next(n for n in first if n.metadata["section"] == "Salary Ranges")
    assert salary.node_id == "backend-developers-in-leuven.txt#salary-ranges-0#0"
    assert "| Senior | €61,800 – €87,550 |" in salary.text
    skills = next(n for n in first if n.metadata["section"] == "Key Skills")
    assert skills.text == "" and skills.metadata["empty"] is True


def test_units_are_sentences_items_rows_and_empty_sections():
    seed = guide("backend-developers-in-leuven.txt", SHIPPED_CORPUS)
    units = unit_nodes(seed)
    kinds = {n.metadata["block"] for n in units}
    assert {"sentence", "item", "list", "row", "table", "path", "empty"} <= kinds
    senior = next(n for n in units if n.metadata["block"] == "row" and "Senior" in n.text)
    assert senior.metadata["quote"] == "| Senior | €61,800 – €87,550 |"
    # Spelled out with its column names, without the guide's own role and place words.
    assert "Level Senior" in senior.text and "Salary Range" in senior.text
    reason = next(n for n in units if "cost of living" in n.metadata["quote"])
    assert reason.metadata["block"] == "sentence" and reason.metadata["quote"].endswith(".")
    assert "Leuven" not in reason.text and "Backend" not in reason.text
    assert [n.metadata["section"] for n in units if n.metadata["block"] == "empty"] == [
        "Key Skills", "Common Tools"]
    assert len({n.node_id for n in units}) == len(units)


def test_long_table_is_split_between_rows(tmp_path):
    rows = "\n".join(f"| Level {i} | €{40 + i},000 – €{50 + i},000 |" for i in range(80))
    (tmp_path / "big.txt").write_text(
        "Recruiting Backend Developers in Namur\nSalary Ranges\n| Level | Salary Range (Gross/Year) |\n"
        f"|---|---|\n{rows}\n", encoding="utf-8")
    nodes = section_nodes(parse_guide(tmp_path / "big.txt", tmp_path))
    assert len(nodes) > 1
    for node in nodes:
        assert len(node.text) <= MAX_CHUNK_CHARS
        assert all(line.startswith("|") and line.endswith("|") for line in node.text.splitlines())


@pytest.mark.parametrize("name, content, message", [
    ("latin1.txt", "Recruiting Backend Developers in Gent\ncaf\xe9".encode("latin-1"), "not UTF-8"),
    ("empty.txt", b"", "empty"),
    ("blank.md", b"   \n\n", "empty"),
    ("untitled.txt", b"Some notes\nabout nothing", "Recruiting <Role> in <Place>"),
    ("bad-yaml.md", b"---\nrole: [unclosed\n---\n# Recruiting X in Gent\n", "YAML"),
    ("binary.txt", b"Recruiting A in B\n\x00\x01\x02", "binary"),
])
def test_unreadable_guides_are_named(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(CorpusError) as raised:
        parse_guide(tmp_path / name, tmp_path)
    assert name in str(raised.value) and message in str(raised.value)


def test_load_corpus_keeps_good_guides_next_to_bad(tmp_path):
    (tmp_path / "good.txt").write_bytes((SHIPPED_CORPUS / "backend-developers-in-leuven.txt").read_bytes())
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00")
    guides, errors = load_corpus(tmp_path)
    assert [g.key for g in guides] == ["good.txt"]
    assert len(errors) == 1 and "bad.txt" in str(errors[0])


def test_missing_corpus_folder(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nope")
