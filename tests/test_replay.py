"""Replaying evidence decisions on recorded signals (replay.py): the ranking, the refusal
threshold, and each signal's contribution as the eval report shows it. Synthetic records:
no engine, no model."""

from __future__ import annotations

import numpy as np
import pytest

from assistant import replay
from assistant.evaluate import render_contributions
from assistant.evidence import RANK_SIGNALS, Calibration


def unit(section: str, block: str = "sentence", **signals: float) -> list:
    return ["guide.md", section, block, {name: signals.get(name, 0.0) for name in RANK_SIGNALS}]


def case(case_id: str, units: list, *, abstain: bool = False, gold: str | None = None,
         section_coverage: float = 0.0) -> dict:
    return {"id": case_id, "fact": case_id, "abstain": abstain,
            "gold": ["guide.md", gold] if gold else None,
            "guides": [{"units": units, "guide_coverage": 0.0, "unstated_count": 0.0,
                        "section_coverage": section_coverage, "unseen": 0.0}]}


CALIBRATION = Calibration(rank={"dense": 1.0, "heading": 2.0},
                          support={"dense": 1.0, "section_coverage": 1.0}, threshold=1.0)


def test_ranked_orders_units_by_the_weighted_signals() -> None:
    units = [unit("Salaries", dense=0.9), unit("Companies", dense=0.5, heading=0.5)]
    assert [u[1] for u in replay.ranked(units, CALIBRATION.rank)] == ["Companies", "Salaries"]
    assert [u[1] for u in replay.ranked(units, {"dense": 1.0})] == ["Salaries", "Companies"]


def test_gold_first_counts_ties_against_the_gold_section() -> None:
    tied = case("tie", [unit("A", dense=0.5), unit("B", dense=0.5)], gold="A")
    clear = case("clear", [unit("A", dense=0.9), unit("B", dense=0.5)], gold="A")
    no_gold = case("refusal", [unit("A", dense=0.1)], abstain=True)
    assert replay.gold_first([tied, clear, no_gold], {"dense": 1.0}) == 0.5
    assert replay.gold_first([no_gold], {"dense": 1.0}) is None


@pytest.mark.parametrize(("scores", "abstain", "threshold", "correct"), [
    ([0.1, 0.2, 0.8, 0.9], [True, True, False, False], 0.5, 4),
    # A false answer costs twice a false refusal: the cut refuses the answerable 0.3 too.
    ([0.1, 0.3, 0.4, 0.9], [True, False, True, False], 0.65, 3),
])
def test_fit_threshold_takes_the_cut_of_least_cost(scores, abstain, threshold, correct) -> None:
    found, cut, _gap = replay.fit_threshold(np.asarray(scores), np.zeros(len(scores), bool),
                                            np.asarray(abstain))
    assert (found, pytest.approx(cut)) == (correct, threshold)


def test_an_empty_best_unit_abstains_whatever_its_support() -> None:
    empty = case("empty", [unit("Outlook", block="empty", dense=0.9)], section_coverage=1.0)
    assert replay.decisions_right([empty], CALIBRATION.rank, CALIBRATION.support, 0.0) == 0.0
    assert replay.decisions_right([{**empty, "abstain": True}], CALIBRATION.rank,
                                  CALIBRATION.support, 0.0) == 1.0


def records() -> dict[str, list[dict]]:
    # Dev: the heading puts the gold section first, and what tells answerable from not is the
    # section coverage (dense is the same for all). Test: one case each way.
    dev = [case(f"answer-{n}", [unit("A", dense=0.5, heading=0.4), unit("B", dense=0.7)],
                gold="A", section_coverage=1.0) for n in range(3)]
    dev += [case(f"refuse-{n}", [unit("A", dense=0.5, heading=0.4), unit("B", dense=0.7)],
                 abstain=True, section_coverage=0.0) for n in range(3)]
    test = [dev[0], dev[-1]]
    return {"dev": dev, "test": test}


def test_contributions_zero_each_weighted_signal_and_refit_the_support_threshold() -> None:
    rows = {row.signal: row for row in replay.contributions(records(), CALIBRATION)}
    assert list(rows) == ["all signals", "rank: dense", "rank: heading", "support: dense",
                          "support: section_coverage"]  # weighted signals only
    assert rows["all signals"].by_split == {"dev": (1.0, 1.0), "test": (1.0, 1.0)}
    assert rows["rank: heading"].by_split["dev"][0] == 0.0  # B wins on dense alone
    assert rows["rank: heading"].weight == 2.0
    # Dense is the same for every case, so the refitted threshold does without it...
    assert rows["support: dense"].by_split["dev"][1] == 1.0
    # ...but not without the section coverage: refusing all or none gets half of dev right.
    assert rows["support: section_coverage"].by_split["dev"][1] == 0.5
    assert rows["support: section_coverage"].by_split["test"][1] == 0.5


def test_without_dev_only_rank_signals_are_replayed() -> None:
    rows = replay.contributions({"test": records()["test"]}, CALIBRATION)
    assert [row.signal for row in rows] == ["all signals", "rank: dense", "rank: heading"]


def test_the_report_table_shows_each_change_from_all_signals() -> None:
    rows = replay.contributions(records(), CALIBRATION)
    table = render_contributions(rows, {"dev": 6, "test": 2})
    assert "dev 6, test 2" in table[2]
    assert "| all signals |  | 1.000 | 1.000 | 1.000 | 1.000 |" in table
    assert "| rank: heading | 2 | 0.000 (-1.000) | 1.000 (+0.000) | 0.000 (-1.000) | " \
           "1.000 (+0.000) |" in table
    assert "| support: section_coverage | 1 | 1.000 (+0.000) | 0.500 (-0.500) | 1.000 (+0.000) " \
           "| 0.500 (-0.500) |" in table
    assert render_contributions([], {}) == []
