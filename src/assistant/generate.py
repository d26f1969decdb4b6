"""Synthetic guides for benchmarks and scale tests, in the site's `.txt` export format.

`generate(n, out_dir)` writes `n` guides, one per role × place combination (roles from
`vocab.KNOWN_ROLES`, places from `vocab.PLACES`, so every generated guide can be asked about
by name). Each guide has its own figures (salary rows unique across the whole set, so an
answer quoting the wrong guide is detectable) and its own lists, and says in its text that it
is synthetic. Guides are short on purpose (one short paragraph per prose section) to keep a
1,000-guide ingest in minutes on a small CPU.

It writes only to a temporary folder (a fresh one by default) and refuses to write inside
the project's `corpus/` or the configured corpus folder: synthetic figures must never be
served as real ones. It does not ingest or index anything.

    python -m assistant.generate 100 --out /tmp/guides
"""

from __future__ import annotations

import argparse
import random
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .vocab import COUNTRY, KNOWN_ROLES, PLACES

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SYNTHETIC_MARK = "SYNTHETIC GUIDE, generated for benchmarks: not real market data."
LEVELS = ("Junior", "Mid-Level", "Senior")
ROLES = KNOWN_ROLES
# Every city plus the country: a country-wide guide is a guide of its own.
PLACE_NAMES = (*PLACES, COUNTRY)
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


@dataclass(frozen=True)
class GeneratedGuide:
    """What a benchmark needs to know about a guide it generated."""

    path: Path
    role: str
    place: str
    salaries: dict[str, str]  # level label -> range exactly as written in the table
    companies: tuple[str, ...]


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


def render(role: str, place: str, number: int, rng: random.Random, used: set[int]
           ) -> tuple[str, dict[str, str], tuple[str, ...]]:
    """One guide's text, its salary ranges and its companies."""
    singular = role[:-1] if role.endswith("s") else role
    companies = tuple(f"{rng.choice(_COMPANY_A)}{rng.choice(_COMPANY_B)} {rng.choice(_COMPANY_C)}"
                      f" {number:04d}" for _ in range(3))
    hubs = tuple(f"{place} {rng.choice(_HUBS)} {number:04d}" for _ in range(2))
    unis = tuple(rng.sample(_UNIS, 2))
    skills = rng.sample(_SKILLS, 4)
    tools = rng.sample(_TOOLS, 3)
    salaries = _salaries(rng, used)
    openings = rng.randrange(40, 900)
    lines = [
        f"Recruiting {role} in {place}",
        f"{SYNTHETIC_MARK} Guide {number:04d} on hiring {role.lower()} in {place}.",
        f"The {place} Tech Scene",
        f"{place} counts about {openings} open {role.lower()} positions in this synthetic "
        f"guide, with {companies[0]} as the largest employer.",
        "Key Companies", *(f"- {c}" for c in companies),
        "Tech Hubs & Coworking", *(f"- {h}" for h in hubs),
        "Universities & Education", *(f"- {u}" for u in unis),
        f"About {role}",
        f"{role} in {place} work mostly with {skills[0]} and {skills[1]} (synthetic text).",
        "Key Skills", *(f"- {s}" for s in skills),
        "Common Tools", *(f"- {t}" for t in tools),
        "Career Path",
        f"Junior {singular} → {singular} → Senior {singular} → Lead {singular}",
        "Market Demand",
        f"Demand for {role.lower()} in {place} is rated {rng.randrange(1, 10)} out of 10 here.",
        f"Why Hire {role} in {place}?",
        f"{place} offers {role.lower()} from {unis[0]} and {unis[1]} (synthetic guide {number:04d}).",
        "Salary Ranges",
        "| Level | Salary Range (Gross/Year) |",
        "|---|---|",
        *(f"| {level} | {salaries[level]} |" for level in LEVELS),
        f"Browse {role} Jobs in {place}",
        f"Find {role} opportunities in {place} (synthetic listing).",
    ]
    return "\n".join(lines) + "\n", salaries, companies


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
        text, salaries, companies = render(role, place, number, rng, used)
        path = target / file_name(role, place)
        path.write_text(text, encoding="utf-8")
        guides.append(GeneratedGuide(path, role, place, salaries, companies))
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
