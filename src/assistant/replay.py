"""The evidence decisions replayed on recorded signals, under other weights.

A *record* is what one case's final question left in the engine: each routed guide's units
with their rank signals (`evidence.Scored`), the guide-level support inputs that depend on
the question's words (coverage of the section and the guide, unseen words, an unstated
count), whether the case should abstain, and its gold section. From records, without
running the engine again:

- `ranked(units, weights)`: a guide's units under rank weights, best first;
- `support_inputs(record, weights)`: the support signals of each routed guide's best unit;
- `fit_threshold(score, empty, abstain)`: the refusal threshold of least cost;
- `contributions(records, calibration)`: what each signal adds, as the gold section's
  first place and the share of right answer-or-refuse decisions with that signal's weight
  set to zero (for a support signal, the threshold refitted on dev without it).

`eval/calibrate.py` fits the weights with these; `evaluate.py` reports the contributions.
The replay covers the cases that reached evidence ranking (a routing refusal or small talk
leaves no record); `section_coverage` is as recorded, for the best unit of the run, since a
record does not keep the section's words. This module runs no engine and reads no set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .evidence import RANK_SIGNALS, SUPPORT_SIGNALS, Calibration, Ranking

# An answer to what the guides don't cover quotes a fact that is not the answer: worse than
# an honest "the guides don't say" to a question they do answer.
FALSE_ANSWER_COST = 2.0


def record(case: Any, rankings: dict[str, Ranking]) -> dict[str, Any]:
    """One eval case's record (JSON-ready) from the rankings `Assistant.explain` returned
    for its final question (`case`: an `evaluate.Case`)."""
    gold = [case.gold_guide, case.gold_section] if case.gold_guide else None
    return {"id": case.id, "fact": case.fact, "abstain": case.expected_abstention, "gold": gold,
            "guides": [{"units": [[u.guide, u.section, u.block, u.signals] for u in r.units],
                        "guide_coverage": r.signals.get("guide_coverage", 0.0),
                        "unstated_count": r.signals.get("unstated_count", 0.0),
                        "section_coverage": r.signals.get("section_coverage", 0.0),
                        "unseen": r.signals.get("unseen", 0.0)}
                       for r in rankings.values()]}


def ranked(units: list, weights: dict[str, float]) -> list:
    return sorted(units, key=lambda u: -sum(weights.get(k, 0.0) * u[3].get(k, 0.0)
                                            for k in RANK_SIGNALS))


def support_inputs(record: dict, weights: dict[str, float]) -> tuple[list[dict], bool]:
    """Support signals of each routed guide's best unit, and whether that unit is empty (or
    states no count asked for): such a case abstains whatever its support."""
    inputs, empty = [], False
    for guide in record["guides"]:
        units = ranked(guide["units"], weights)
        if not units:
            continue
        best = units[0]
        empty = empty or best[2] == "empty" or bool(guide.get("unstated_count"))
        dense = sorted(u[3]["dense"] for u in units)
        inputs.append({"dense": best[3]["dense"], "section": best[3].get("section", 0.0),
                       "heading": best[3]["heading"],
                       "form": max(best[3].get(k, 0.0)
                                   for k in ("count", "names", "money", "relation", "reason")),
                       "coverage": max(u[3]["coverage"] for u in units[:3]),
                       "guide_coverage": guide["guide_coverage"], "level": best[3]["level"],
                       "section_coverage": guide.get("section_coverage", 0.0),
                       "margin": best[3]["dense"] - dense[len(dense) // 2],
                       "unseen": guide["unseen"]})
    return inputs, empty


def cost(predicted: np.ndarray, abstain: np.ndarray) -> np.ndarray:
    """The cost of abstention decisions (one row per weighting): a false answer counts
    `FALSE_ANSWER_COST`, a false refusal 1."""
    false_answer = (~predicted & abstain[None, :]).sum(axis=-1)
    false_refusal = (predicted & ~abstain[None, :]).sum(axis=-1)
    return FALSE_ANSWER_COST * false_answer + false_refusal


def fit_threshold(score: np.ndarray, empty: np.ndarray, abstain: np.ndarray
                  ) -> tuple[int, float, float]:
    """The threshold (cases under it abstain) of least cost: (correct cases, threshold, the
    gap it sits in relative to the scores' spread). Empty-section cases abstain anyway."""
    order = np.argsort(score, kind="stable")
    sorted_score = score[order]
    n = len(order)
    should_answer = ~abstain[order] & ~empty[order]
    should_abstain = abstain[order] & ~empty[order]
    # Cut k: the k lowest-support cases abstain (k = 0..n).
    refused = np.concatenate([[0], np.cumsum(should_answer)])
    answered = should_abstain.sum() - np.concatenate([[0], np.cumsum(should_abstain)])
    fixed = int((~abstain & empty).sum())  # an empty section refuses an answerable case
    total = FALSE_ANSWER_COST * answered + refused + fixed
    k = int(np.argmin(total))
    correct = n - int(answered[k] + refused[k] + fixed)
    low = sorted_score[k - 1] if k > 0 else sorted_score[0] - 1e-3
    high = sorted_score[k] if k < n else sorted_score[-1] + 1e-3
    finite = sorted_score[np.isfinite(sorted_score)]
    gap = float((high - low) / (finite.std() + 1e-9)) if len(finite) else 0.0
    return correct, float((low + high) / 2), gap


def support_scores(records: list[dict], rank: dict[str, float], support: dict[str, float]
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(each case's support from its best-supported guide, empty, should abstain)."""
    score = np.full(len(records), -np.inf)
    empty = np.zeros(len(records), dtype=bool)
    for index, case in enumerate(records):
        inputs, empty[index] = support_inputs(case, rank)
        for signals in inputs:
            value = support.get("bias", 0.0) + sum(support.get(k, 0.0) * signals[k]
                                                  for k in SUPPORT_SIGNALS)
            score[index] = max(score[index], value)
    abstain = np.asarray([bool(case["abstain"]) for case in records], dtype=bool)
    return score, empty, abstain


def gold_first(records: list[dict], rank: dict[str, float]) -> float | None:
    """The share of cases with a gold section whose gold section ranks first (its best unit
    above every other section's; a tie counts against it)."""
    gold_cases = [r for r in records if r["gold"]]
    if not gold_cases:
        return None
    first = 0
    for case in gold_cases:
        best: dict[tuple[str, str], float] = {}
        for guide in case["guides"]:
            for unit in guide["units"]:
                score = sum(rank.get(k, 0.0) * unit[3].get(k, 0.0) for k in RANK_SIGNALS)
                key = (unit[0], unit[1])
                best[key] = max(best.get(key, -np.inf), score)
        gold = tuple(case["gold"])
        if gold in best and sum(score >= best[gold] for score in best.values()) == 1:
            first += 1
    return first / len(gold_cases)


def decisions_right(records: list[dict], rank: dict[str, float], support: dict[str, float],
                    threshold: float) -> float | None:
    """The share of cases whose answer-or-refuse decision is the expected one."""
    if not records:
        return None
    score, empty, abstain = support_scores(records, rank, support)
    refused = (score < threshold) | empty
    return float((refused == abstain).mean())


@dataclass
class Contribution:
    signal: str  # "all signals", or "rank: dense", "support: margin", ...
    weight: float | None
    by_split: dict[str, tuple[float | None, float | None]]  # split -> (gold first, right)


def contributions(records: dict[str, list[dict]], calibration: Calibration) -> list[Contribution]:
    """The full weights, then each signal with a non-zero weight set to zero, replayed on every
    split's records. A support signal's threshold is refitted on `records["dev"]`, the split
    the weights are fitted on (without dev, support signals are not replayed)."""
    rank, support, threshold = calibration.rank, calibration.support, calibration.threshold

    def replay(rank_w: dict, support_w: dict, cut: float) -> dict[str, tuple]:
        return {split: (gold_first(cases, rank_w), decisions_right(cases, rank_w, support_w, cut))
                for split, cases in records.items()}

    rows = [Contribution("all signals", None, replay(rank, support, threshold))]
    for name in RANK_SIGNALS:
        if rank.get(name):
            rows.append(Contribution(f"rank: {name}", rank[name],
                                     replay({**rank, name: 0.0}, support, threshold)))
    dev = records.get("dev")
    if dev:
        for name in SUPPORT_SIGNALS:
            if support.get(name):
                without = {**support, name: 0.0}
                _right, cut, _gap = fit_threshold(*support_scores(dev, rank, without))
                rows.append(Contribution(f"support: {name}", support[name],
                                         replay(rank, without, cut)))
    return rows
