"""Synthetic guides for benchmarks and scale tests, in the site's `.txt` export format.

`generate(n, out_dir)` writes `n` guides, one per role × place combination. Roles come from
`vocab.KNOWN_ROLES`; places are the gazetteer's (`vocab.PLACES`), the country, and small
Belgian-sounding towns built from syllables ("Zandhoven", "Wezemaal") that the engine knows
only from the guide's own title line, as a real corpus would name a town no gazetteer lists.
Each guide has its own figures (salary rows unique across the whole set, so an answer quoting
the wrong guide is detectable) and its own lists, and says in its text that it is synthetic.

Like real corpora, guides vary in shape, so that a benchmark does not only measure the
layout the engine was tuned on: each section's heading is drawn per guide from several
phrasings ("Key Companies", "Who Hires", "Major Employers"...; "Salary Ranges", "Pay
Benchmarks", "Compensation"...), many beyond the heading patterns the engine knows, and the
sections after the intro paragraph come in a shuffled order, sometimes without one optional
section (hubs, tools or demand). The title line `Recruiting <Role> in <Place>` stays first
and the intro paragraph second. Headings stay bare Title Case lines of at most 8 words
without a trailing period, which the `.txt` parser reads as headings. Guides are short on
purpose (one short paragraph per prose section) to keep a 1,000-guide ingest in minutes on a
small CPU.

It writes only to a temporary folder (a fresh one by default) and refuses to write inside
the project's `corpus/` or the configured corpus folder: synthetic figures must never be
served as real ones. It does not ingest or index anything. The same seed gives the same
guides.

    python -m assistant.generate 100 --out /tmp/guides
"""

from __future__ import annotations

import argparse
import random
import re
import tempfile
from dataclasses import dataclass
from itertools import product
from pathlib import Path

from .vocab import COUNTRY, COUNTRY_ALIASES, FOREIGN_PLACES, KNOWN_ROLES, PLACES, normalize, section_topic

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SYNTHETIC_MARK = "SYNTHETIC GUIDE, generated for benchmarks: not real market data."
LEVELS = ("Junior", "Mid-Level", "Senior")
ROLES = KNOWN_ROLES
# Syllables of small Belgian-sounding towns ("Zandhoven", "Wezemaal", "Oostkerke"): some are
# real villages, most invented; none is in the gazetteer, so the engine knows them only from
# the guide's own title.
_TOWN_START = ("Oost", "West", "Zand", "Wez", "Kalm", "Ber", "Dil", "Her", "Meer", "Lom",
               "Ter", "Vel", "Hal", "Brak", "Ruis", "Wer")
_TOWN_END = ("kerke", "hoven", "emaal", "beek", "donk", "rode", "zele", "hout", "dijk", "gem",
             "laar", "voorde", "broek")
INVENTED_PLACE_COUNT = 10


def _usable_town(name: str) -> bool:
    """A made-up town must not be a known place or foreign place, and must not read as a
    section topic when it appears in a heading ("Why <Place>", "<Place> at a Glance")."""
    key = normalize(name)
    known = {alias for aliases in PLACES.values() for alias in aliases}
    known |= {normalize(city) for city in PLACES} | set(COUNTRY_ALIASES) | set(FOREIGN_PLACES)
    return key not in known and section_topic(name) == "general"


def invented_places(count: int = INVENTED_PLACE_COUNT, seed: int = 0) -> tuple[str, ...]:
    """`count` distinct town names from the syllables, the same ones for the same seed."""
    names = sorted(start + end for start, end in product(_TOWN_START, _TOWN_END))
    random.Random(seed).shuffle(names)
    return tuple([name for name in names if _usable_town(name)][:count])


INVENTED_PLACES = invented_places()
# Every gazetteer city, the invented towns and the country: a country-wide guide is a guide
# of its own.
PLACE_NAMES = (*PLACES, *INVENTED_PLACES, COUNTRY)
_COMPANY_A = ("Nord", "Vel", "Bram", "Lum", "Ost", "Kade", "Zen", "Mira", "Quad", "Brug",
              "Sol", "Tess", "Vora", "Helix", "Ardo", "Ember", "Lys", "Orbi", "Pax", "Rhin")
_COMPANY_B = ("soft", "data", "logic", "works", "tech", "grid", "labs", "byte", "wave", "forge")
_COMPANY_C = ("NV", "BV", "Group", "Systems", "Digital", "Solutions", "Partners", "Cloud")
_HUBS = ("Campus", "Factory", "Station", "Hub", "Lab", "Dock", "Foundry", "House")
_SKILLS = ("Kubernetes", "PostgreSQL", "Kafka", "Terraform", "TypeScript", "Python", "Java",
           "Go", "Rust", "React", "Spark", "Airflow", "GraphQL", "gRPC", "Azure", "AWS",
           "Docker", "Linux", "Scala", "Kotlin", "Swift", "dbt", "Snowflake", "Figma")
_TOOLS = ("GitLab", "GitHub Actions", "Jira", "Confluence", "Grafana", "Prometheus",
          "Datadog", "Sentry", "Jenkins", "ArgoCD", "Vault", "Postman", "Notion", "Slack")
_UNIS = ("KU Leuven", "UGent", "VUB", "ULB", "UAntwerpen", "UHasselt", "UCLouvain",
         "ULiège", "UNamur", "UMons", "Howest", "Odisee", "HOGENT", "Thomas More", "PXL")
# Section kind -> the phrasings a guide may use for its heading ({role}, {place} filled in).
# Several are outside the heading patterns of `vocab.SECTION_TOPICS` on purpose: real guides
# word their headings freely. Every phrasing is a bare Title Case line of at most 8 words.
SECTION_HEADINGS: dict[str, tuple[str, ...]] = {
    "scene": ("The {place} Tech Scene", "{place} at a Glance"),
    "companies": ("Key Companies", "Leading Firms", "Employers to Know", "Who Hires",
                  "Major Employers"),
    "hubs": ("Tech Hubs & Coworking", "Where Teams Cowork", "Coworking and Incubators"),
    "universities": ("Universities & Education", "Talent Pipeline", "Education Nearby"),
    "about": ("About {role}",),
    "skills": ("Key Skills", "Skills Recruiters Screen For"),
    "tools": ("Common Tools", "Typical Stack"),
    "career": ("Career Path", "Career Ladder"),
    "demand": ("Market Demand", "Market Outlook", "Demand and Shortages"),
    "why": ("Why Hire {role} in {place}?", "Why Recruit in {place}", "Why {place}"),
    "salary": ("Salary Ranges", "Pay Benchmarks", "Compensation", "Salary Benchmarks"),
    "jobs": ("Browse {role} Jobs in {place}",),
}
# Sections a guide may leave out (at most one per guide); companies and salaries never,
# since the benchmark asks about them.
OPTIONAL_SECTIONS = ("hubs", "tools", "demand")
DROP_CHANCE = 0.3


@dataclass(frozen=True)
class GeneratedGuide:
    """What a benchmark needs to know about a guide it generated."""

    path: Path
    role: str
    place: str
    salaries: dict[str, str]  # level label -> range exactly as written in the table
    companies: tuple[str, ...]
    headings: dict[str, str]  # section kind -> heading as written, in the guide's order


def combinations(seed: int = 0) -> list[tuple[str, str]]:
    """Every role × place pair, in a fixed shuffled order (any prefix spreads over both)."""
    pairs = [(role, place) for role in ROLES for place in PLACE_NAMES]
    random.Random(seed).shuffle(pairs)
    return pairs


def file_name(role: str, place: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", f"{role} in {place}".lower().replace("+", "p")
                  .replace(".net", "dotnet").replace("è", "e")).strip("-")
    return f"{slug}.txt"


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def check_destination(out_dir: Path, forbidden: list[Path] | None = None) -> Path:
    """The resolved destination, or `ValueError` if it is (inside) a real corpus folder."""
    target = out_dir.resolve()
    for folder in [PROJECT_ROOT / "corpus", *(forbidden or [])]:
        if _inside(target, folder):
            raise ValueError(f"refusing to write synthetic guides inside {folder}: "
                             "use a temporary folder")
    return target


def _money(amount: int) -> str:
    return f"€{amount:,}"


def _salaries(rng: random.Random, used: set[int]) -> dict[str, str]:
    # Figures end in a non-zero digit drawn per guide and are unique across the set, so a
    # quoted range points at exactly one guide.
    while True:
        junior = rng.randrange(28_000, 45_000)
        figures = [junior, junior + rng.randrange(9_000, 15_000)]
        figures += [figures[0] + rng.randrange(9_000, 14_000), figures[1] + rng.randrange(12_000, 20_000)]
        figures += [figures[2] + rng.randrange(12_000, 18_000), figures[3] + rng.randrange(18_000, 30_000)]
        if not used.intersection(figures):
            used.update(figures)
            break
    return {level: f"{_money(figures[2 * i])} – {_money(figures[2 * i + 1])}"
            for i, level in enumerate(LEVELS)}


def headings_for(role: str, place: str, rng: random.Random) -> dict[str, str]:
    """One heading per section kind, each drawn from that kind's phrasings."""
    return {kind: rng.choice(options).format(role=role, place=place)
            for kind, options in SECTION_HEADINGS.items()}


def section_order(rng: random.Random) -> list[str]:
    """The section kinds in a shuffled order, sometimes without one optional section."""
    kinds = list(SECTION_HEADINGS)
    rng.shuffle(kinds)
    if rng.random() < DROP_CHANCE:
        kinds.remove(rng.choice(OPTIONAL_SECTIONS))
    return kinds


def _bodies(role: str, place: str, number: int, rng: random.Random,
            companies: tuple[str, ...], salaries: dict[str, str]) -> dict[str, list[str]]:
    """Each section kind's lines below its heading."""
    singular = role[:-1] if role.endswith("s") else role
    hubs = tuple(f"{place} {hub} {number:04d}" for hub in rng.sample(_HUBS, 2))
    unis = tuple(rng.sample(_UNIS, 2))
    skills = rng.sample(_SKILLS, 4)
    tools = rng.sample(_TOOLS, 3)
    openings = rng.randrange(40, 900)
    return {
        "scene": [f"{place} counts about {openings} open {role.lower()} positions in this "
                  f"synthetic guide, with {companies[0]} as the largest employer."],
        "companies": [f"- {c}" for c in companies],
        "hubs": [f"- {h}" for h in hubs],
        "universities": [f"- {u}" for u in unis],
        "about": [f"{role} in {place} work mostly with {skills[0]} and {skills[1]} (synthetic text)."],
        "skills": [f"- {s}" for s in skills],
        "tools": [f"- {t}" for t in tools],
        "career": [f"Junior {singular} → {singular} → Senior {singular} → Lead {singular}"],
        "demand": [f"Demand for {role.lower()} in {place} is rated {rng.randrange(1, 10)} out of "
                   "10 here."],
        "why": [f"{place} offers {role.lower()} from {unis[0]} and {unis[1]} (synthetic guide "
                f"{number:04d})."],
        "salary": ["| Level | Salary Range (Gross/Year) |", "|---|---|",
                   *(f"| {level} | {salaries[level]} |" for level in LEVELS)],
        "jobs": [f"Find {role} opportunities in {place} (synthetic listing)."],
    }


def render(role: str, place: str, number: int, rng: random.Random, used: set[int],
           path: Path) -> tuple[str, GeneratedGuide]:
    """One guide's text, and what a benchmark needs to know about it; `path` is where the
    caller writes it."""
    companies = tuple(f"{rng.choice(_COMPANY_A)}{rng.choice(_COMPANY_B)} {rng.choice(_COMPANY_C)}"
                      f" {number:04d}" for _ in range(3))
    salaries = _salaries(rng, used)
    bodies = _bodies(role, place, number, rng, companies, salaries)
    all_headings = headings_for(role, place, rng)
    headings = {kind: all_headings[kind] for kind in section_order(rng)}
    lines = [f"Recruiting {role} in {place}",
             f"{SYNTHETIC_MARK} Guide {number:04d} on hiring {role.lower()} in {place}."]
    for kind, heading in headings.items():
        lines += [heading, *bodies[kind]]
    text = "\n".join(lines) + "\n"
    return text, GeneratedGuide(path, role, place, salaries, companies, headings)


def generate(n: int, out_dir: Path | None = None, seed: int = 0,
             forbidden: list[Path] | None = None) -> list[GeneratedGuide]:
    """Write `n` synthetic guides to `out_dir` (a new temporary folder when None)."""
    pairs = combinations(seed)
    if not 0 < n <= len(pairs):
        raise ValueError(f"n must be between 1 and {len(pairs)} (roles × places), got {n}")
    if out_dir is None:
        out_dir = Path(tempfile.mkdtemp(prefix="assistant-synthetic-"))
    target = check_destination(out_dir, forbidden)
    target.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    used: set[int] = set()
    guides = []
    for number, (role, place) in enumerate(pairs[:n], 1):
        text, guide = render(role, place, number, rng, used, target / file_name(role, place))
        guide.path.write_text(text, encoding="utf-8")
        guides.append(guide)
    return guides


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write N synthetic guides to a temporary folder.")
    parser.add_argument("n", type=int)
    parser.add_argument("--out", type=Path, default=None, help="folder (default: a new temp folder)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    guides = generate(args.n, args.out, args.seed)
    print(guides[0].path.parent if guides else "")


if __name__ == "__main__":
    main()
