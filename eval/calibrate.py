"""Fit the evidence weights and the refusal threshold on the dev split (`make calibrate`).

Runs every dev case through the engine once, records each routed guide's units with their
signals (`evidence.py`), then searches:
1. the rank weights that put the gold section's unit first for the most answerable cases
   (ties broken by mean reciprocal rank);
2. with those, the support weights and threshold that best separate the cases the guides
   answer from those they do not (an empty section abstains whatever its support).
The result is written to `src/assistant/calibration.json` with the dev figures it reached.
It never reads the test split: the gate is measured there, untouched by this fit.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from assistant.evaluate import Workspace, load_config, load_sets  # noqa: E402
from assistant.evidence import CALIBRATION, SUPPORT_SIGNALS  # noqa: E402
from assistant.replay import FALSE_ANSWER_COST, fit_threshold, support_inputs  # noqa: E402
from assistant.replay import cost as decisions_cost  # noqa: E402
from assistant.replay import record as case_record  # noqa: E402
from assistant.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FOLDS = 5
CHUNK = 65536
GRID_RANK = {"dense": [1.0], "keyword": [0, 0.5],
             "coverage": [0, 0.2, 0.5, 1.0], "level": [0, 0.3, 0.6, 1.0],
             "heading": [0, 0.5, 1.0, 2.0, 3.0], "section": [0, 1.0, 2.0, 3.0, 4.0],
             "count": [0, 0.5, 1.0], "names": [0, 0.5, 1.0, 2.0],
             "money": [0, 0.5, 1.0, 2.0], "relation": [0, 0.5, 1.0],
             "reason": [0, 0.5, 1.0]}
GRID_SUPPORT = {"dense": [0.5, 1.0, 1.5], "section": [0, 0.5, 1.0], "heading": [0, 0.5, 1.0],
                "coverage": [0, 0.25, 0.5, 1.0], "section_coverage": [0, 0.25, 0.5, 1.0],
                "guide_coverage": [0, 0.25, 0.5],
                "level": [0, 0.25, 0.5], "form": [0, 0.25, 0.5], "margin": [0, 0.5],
                "unseen": [0, -0.25]}


def collect(settings: Settings) -> list[dict]:
    """One record per dev case that reached evidence ranking: its units' signals."""
    config = load_config(ROOT / "eval" / "gates.toml")
    sets = load_sets(ROOT / "eval" / "sets", ["dev"])
    from assistant.embeddings import default_embedder

    embedder = default_embedder(settings)
    by_corpus: dict[tuple[Path, ...], list[str]] = {}
    for name in sets:
        by_corpus.setdefault(config.corpus_of(name, settings.corpus), []).append(name)
    records = []
    root = Path(tempfile.mkdtemp(prefix="assistant-calibrate-"))
    try:
        for number, (corpus, names) in enumerate(by_corpus.items()):
            workspace = Workspace(settings, corpus if len(corpus) > 1 else corpus[0], embedder,
                                  root / f"index-{number}", baseline=False)
            assistant = workspace.assistant
            for case in (c for name in names for c in sets[name]):
                history: list[dict] = []
                for turn in case.turns[:-1]:
                    earlier = assistant.ask(turn, history).answer
                    history += [{"role": "user", "content": turn},
                                {"role": "assistant", "content": earlier}]
                _answer, rankings = assistant.explain(case.turns[-1], history)
                if not rankings:
                    continue
                records.append(case_record(case, rankings))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return records


def fit_rank(records: list[dict]) -> tuple[dict, float, float]:
    """Every weight combination of the grid at once: per case, a (combinations x units) score
    matrix, each section scored by its best unit, the gold section's rank counted."""
    gold_cases = [r for r in records if r["gold"]]
    combos = np.asarray(list(itertools.product(*GRID_RANK.values())), dtype=np.float32)
    top1 = np.zeros(len(combos))
    rr = np.zeros(len(combos))
    for record in gold_cases:
        units = [u for g in record["guides"] for u in g["units"]]
        sections = list(dict.fromkeys((u[0], u[1]) for u in units))
        gold = tuple(record["gold"])
        if gold not in sections:
            continue
        signals = np.asarray([[u[3].get(k, 0.0) for k in GRID_RANK] for u in units],
                             dtype=np.float32)
        owner = np.asarray([sections.index((u[0], u[1])) for u in units])
        for start in range(0, len(combos), CHUNK):  # bounded memory: a chunk of combinations
            scores = combos[start:start + CHUNK] @ signals.T  # (combinations, units)
            by_section = np.full((len(scores), len(sections)), -np.inf, dtype=np.float32)
            for column in range(len(sections)):
                by_section[:, column] = scores[:, owner == column].max(axis=1)
            gold_score = by_section[:, sections.index(gold)]
            # Ties count against the gold section: the fit must not lean on the units' order.
            rank = (by_section >= gold_score[:, None]).sum(axis=1)
            top1[start:start + CHUNK] += rank == 1
            rr[start:start + CHUNK] += 1 / rank
    best = max(range(len(combos)), key=lambda i: (top1[i], rr[i]))
    weights = dict(zip(GRID_RANK, (round(float(v), 4) for v in combos[best]), strict=True))
    n = max(1, len(gold_cases))
    return weights, float(top1[best]) / n, float(rr[best]) / n


def fit_support(records: list[dict], rank_weights: dict) -> tuple[dict, float, float]:
    """The support weights with the best cross-validated abstention accuracy on dev, and the
    threshold fitted on all of dev with them.

    Five folds grouped by fact (every phrasing of a fact in one fold): for each weighting, the
    threshold is fitted on four folds and scored on the fifth. Fitting weights and threshold
    on the same cases picked whichever weighting happened to split these few refusals best,
    and it changed from one refit to the next; held-out folds favour one that generalises.
    The weightings tied at the least held-out cost are averaged."""
    prepared = [(support_inputs(r, rank_weights), r["abstain"]) for r in records]
    # One row per (case, routed guide); a case answers from its best-supported guide.
    rows, owner = [], []
    for index, ((inputs, _empty), _abstain) in enumerate(prepared):
        for signals in inputs or [dict.fromkeys(SUPPORT_SIGNALS, 0.0)]:
            rows.append([signals[k] for k in SUPPORT_SIGNALS])
            owner.append(index)
    features, owner = np.asarray(rows), np.asarray(owner)
    empty = np.asarray([e for (_i, e), _a in prepared])
    abstain = np.asarray([a for _p, a in prepared])
    fold = np.asarray([zlib.crc32((r.get("fact") or r["id"]).encode()) % FOLDS for r in records])
    def score_of(values: np.ndarray) -> np.ndarray:
        score = np.full(len(prepared), -np.inf)
        np.maximum.at(score, owner, features @ values)
        return score

    def held_out_cost(score: np.ndarray) -> float:
        cost = 0.0
        for k in range(FOLDS):
            train, test = fold != k, fold == k
            _c, threshold, _g = fit_threshold(score[train], empty[train], abstain[train])
            predicted = (score[test] < threshold) | empty[test]
            cost += float(decisions_cost(predicted[None, :], abstain[test])[0])
        return cost

    grid = np.asarray(list(itertools.product(*(GRID_SUPPORT[k] for k in SUPPORT_SIGNALS))))
    costs = np.asarray([held_out_cost(score_of(values)) for values in grid])
    # Many weightings tie at the least held-out cost, and picking one of them flipped the
    # weights from one refit to the next: their mean is the stable choice.
    tied = grid[costs == costs.min()]
    mean = tied.mean(axis=0)
    correct, threshold, _gap = fit_threshold(score_of(mean), empty, abstain)
    weights = {k: round(float(v), 4) for k, v in zip(SUPPORT_SIGNALS, mean, strict=True)}
    print(f"support: cross-validated cost {costs.min():.0f} over {len(prepared)} cases "
          f"(a false answer costs {FALSE_ANSWER_COST:g}, a false refusal 1); mean of "
          f"{len(tied)} tied weightings, whose own held-out cost is "
          f"{held_out_cost(score_of(mean)):.0f}", file=sys.stderr)
    threshold = round(threshold, 4)
    return weights, threshold, correct / max(1, len(prepared))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=Path, help="reuse (or save) the collected signals here")
    parser.add_argument("--out", type=Path, default=CALIBRATION)
    args = parser.parse_args(argv)
    if args.records and args.records.exists():
        records = json.loads(args.records.read_text())
    else:
        records = collect(Settings())
        if args.records:
            args.records.write_text(json.dumps(records))
    rank, top1, mrr = fit_rank(records)
    support, threshold, accuracy = fit_support(records, rank)
    result = {
        "note": "Fitted on the dev split by eval/calibrate.py; do not edit by hand.",
        "rank": rank, "support": {"bias": 0.0, **support}, "threshold": threshold,
        "dev": {"cases": len(records), "gold_section_first": round(top1, 3),
                "section_mrr": round(mrr, 3), "abstention_accuracy": round(accuracy, 3)},
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["dev"]), file=sys.stderr)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
