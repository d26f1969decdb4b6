"""The synthetic guide generator: valid site-format guides, distinct figures, marked synthetic,
and never written into a real corpus folder. No model or index is involved.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assistant.catalogue import Catalogue
from assistant.corpus import load_corpus
from assistant.generate import SYNTHETIC_MARK, check_destination, combinations, generate
from assistant.understand import understand, vocabulary_for
from conftest import ROOT


def test_guides_parse_with_their_own_figures_and_lists(tmp_path):
    generated = generate(60, tmp_path / "guides")
    guides, errors = load_corpus(tmp_path / "guides")
    assert not errors and len(guides) == 60
    by_key = {guide.key: guide for guide in guides}
    all_figures, all_companies = [], []
    for item in generated:
        guide = by_key[item.path.name]
        text = item.path.read_text(encoding="utf-8")
        assert text.startswith(f"Recruiting {item.role} in {item.place}\n")
        assert SYNTHETIC_MARK in text
        assert (guide.role, guide.place) == (item.role, item.place)
        rows = {row.level: row.range_text for row in guide.salary_rows()}
        assert rows == item.salaries
        assert guide.list_items("employers") == list(item.companies)
        for topic in ("hubs", "universities", "skills", "tools", "career"):
            assert guide.list_items(topic), (item.path.name, topic)
        all_figures += [row.min for row in guide.salary_rows()] + [row.max for row in guide.salary_rows()]
        all_companies += item.companies
    assert len(set(all_figures)) == len(all_figures)  # a quoted figure names one guide
    assert len(set(all_companies)) == len(all_companies)


def test_same_seed_same_guides_and_pairs_are_distinct(tmp_path):
    first = generate(15, tmp_path / "a", seed=3)
    second = generate(15, tmp_path / "b", seed=3)
    assert [g.path.read_text() for g in first] == [g.path.read_text() for g in second]
    pairs = combinations()
    assert len(set(pairs)) == len(pairs) >= 1000


def test_every_generated_guide_is_routed_to_by_name(tmp_path):
    generated = generate(len(combinations()), tmp_path / "all")
    guides, _ = load_corpus(tmp_path / "all")
    catalogue = Catalogue(guides)
    vocabulary = vocabulary_for(tuple(catalogue.roles))
    wrong = []
    for item in generated:
        question = f"What does a senior {item.role.removesuffix('s')} earn in {item.place}?"
        route = catalogue.route(understand(question, [], vocabulary))
        if [target.guide.key for target in route.targets] != [item.path.name]:
            wrong.append(question)
    assert wrong == []


@pytest.mark.parametrize("inside", ["corpus", "corpus/sub"])
def test_refuses_the_project_corpus(inside):
    with pytest.raises(ValueError, match="refusing"):
        generate(2, ROOT / inside)
    assert not list((ROOT / "corpus").glob("*synthetic*"))


def test_refuses_a_configured_corpus_and_defaults_to_a_temp_folder(tmp_path):
    with pytest.raises(ValueError, match="refusing"):
        check_destination(tmp_path / "real" / "x", forbidden=[tmp_path / "real"])
    generated = generate(2)
    folder = generated[0].path.parent
    assert folder.name.startswith("assistant-synthetic-") and not str(folder).startswith(str(ROOT))
    assert sorted(p.name for p in Path(folder).iterdir()) == sorted(g.path.name for g in generated)
    shutil.rmtree(folder)


def test_bad_count(tmp_path):
    with pytest.raises(ValueError):
        generate(0, tmp_path)
    with pytest.raises(ValueError):
        generate(len(combinations()) + 1, tmp_path)
