"""`assistant eval`: run the eval sets against the engine and a plain-retrieval baseline.

Reads JSON-lines eval sets (`eval/sets/*.jsonl`) and one config file (`eval/gates.toml`:
the gates, and which corpus each set is asked against). For every corpus it builds a fresh
index in a temp dir, so it runs on a fresh clone. Each case's conversation goes through
`Assistant.ask` (earlier turns sent as history with the assistant's real answers) and the
final answer object is scored:

- factual recall: expected facts found in the answer (numbers compared after normalising
  "61,800", "61.800", "61 800" and "62k"; item strings compared case- and accent-folded);
- forbidden facts absent;
- abstention accuracy, precision and recall (`abstained` against the expected abstention);
- groundedness: every number in a non-abstained answer appears in its cited sources' quotes;
- retrieval hit@3 and MRR of what the engine retrieved for the final turn (within the guides
  it routed to) against the gold section's chunk ids, computed by llama-index's
  `RetrieverEvaluator` (metric "hit_rate" on the top 3, "mrr" on the engine's top k);
- language: an answer's frame (its template words) is in the language of the question;
- latency p50/p95.

The baseline (`baseline.py`) answers the same final questions with a plain `VectorStoreIndex`
over the same chunks, model and Chroma. This module writes `report.md` and `report.json` and
checks the gates; it never changes the engine's behaviour.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import tempfile
import time
import tomllib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from . import replay
from .errors import InputError
from .settings import Settings
from .vocab import normalize

CASE_FIELDS = {"id", "category", "turns", "expected_facts", "forbidden_facts",
               "expected_abstention", "gold_guide", "gold_section", "lang", "note", "fact"}
REQUIRED_FIELDS = ("id", "category", "turns", "expected_abstention")
DEFAULT_GATES = {"recall": 0.95, "abstention_accuracy": 1.0, "groundedness": 1.0,
                 "hit_at_3": 0.95, "forbidden_cases": 0, "language": 1.0}
HIT_K = 3

# A number as guides and answers write it: "61,800", "61.800", "61 800" (also with the
# no-break spaces French typography uses), "2.5", "62k". A separator followed by exactly
# three digits is a thousands separator; any other "." or "," is a decimal mark.
NUMBER = re.compile(
    r"(?<![\d.,])(\d{1,3}(?:[,.\u00a0\u202f ]\d{3})+(?!\d)|\d+(?:[.,]\d+)?)(\s?[kK](?![a-zA-Z]))?"
)


def numbers(text: str) -> set[float]:
    """Every number in `text`, as a value, whatever its thousands separators."""
    found: set[float] = set()
    for digits, kilo in NUMBER.findall(text):
        if re.fullmatch(r"\d{1,3}(?:[,.\u00a0\u202f ]\d{3})+", digits):
            value = float(re.sub(r"\D", "", digits))
        else:
            value = float(digits.replace(",", "."))
        found.add(value * 1000 if kilo else value)
    return found


def fact_present(fact: str, text: str) -> bool:
    """A figure is present when all its numbers are; an item when its folded text is."""
    wanted = numbers(fact)
    if wanted:
        return wanted <= numbers(text)
    return f" {normalize(fact)} " in f" {normalize(text)} " or normalize(fact) in normalize(text)


def ungrounded_numbers(answer: dict) -> list[str]:
    """Numbers in a non-abstained answer that no cited source's quote contains."""
    if answer.get("abstained"):
        return []
    cited: set[float] = set()
    for source in answer.get("sources", []):
        cited |= numbers(source.get("quote") or "")
    return sorted(f"{n:g}" for n in numbers(answer.get("answer", "")) - cited)


def answer_language(text: str) -> str | None:
    """Which language's templates (phrases.TEMPLATES) the answer is framed in; None when
    no template's fixed words are in it. Judged from the templates, not from the engine's
    own language detector, so a wrong detection cannot vouch for itself."""
    from .phrases import TEMPLATES

    scores = {"en": 0, "nl": 0, "fr": 0}
    for variants in TEMPLATES.values():
        fragments = {lang: {f.strip(" .:;,()“”«»") for f in re.split(r"\{[a-z_]+\}", template)}
                     for lang, template in variants.items()}
        for lang, own in fragments.items():
            if lang not in scores:
                continue
            others = set().union(*(f for other, f in fragments.items() if other != lang))
            scores[lang] += sum(len(f) for f in own - others if len(f) >= 4 and f in text)
    best = max(scores, key=lambda lang: scores[lang])
    return best if scores[best] else None


# --- eval sets and config -----------------------------------------------------------------


def split_of(set_name: str) -> str:
    """"dev" for "dev/plain": the split a set belongs to ("" for a set outside the splits)."""
    return set_name.split("/")[0] if "/" in set_name else ""


@dataclass
class Case:
    id: str
    category: str
    turns: list[str]
    expected_abstention: bool
    expected_facts: list[str] = field(default_factory=list)
    forbidden_facts: list[str] = field(default_factory=list)
    gold_guide: str | None = None
    gold_section: str | None = None
    lang: str | None = None
    note: str | None = None
    fact: str | None = None  # "<guide>#<section>": every phrasing of a fact is in one split
    set: str = ""

    @property
    def split(self) -> str:
        return split_of(self.set)


def _case(data: Any, where: str, set_name: str) -> Case:
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a JSON object")
    missing = [name for name in REQUIRED_FIELDS if name not in data]
    if missing:
        raise InputError(f"{where}: missing field(s) {', '.join(missing)}")
    unknown = sorted(set(data) - CASE_FIELDS)
    if unknown:
        raise InputError(f"{where}: unknown field(s) {', '.join(unknown)}")
    turns = data["turns"]
    if (not isinstance(turns, list) or not turns
            or not all(isinstance(t, str) and t.strip() for t in turns)):
        raise InputError(f"{where}: turns must be a non-empty list of questions")
    for name in ("expected_facts", "forbidden_facts"):
        value = data.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise InputError(f"{where}: {name} must be a list of strings")
    if not isinstance(data["expected_abstention"], bool):
        raise InputError(f"{where}: expected_abstention must be true or false")
    if bool(data.get("gold_guide")) != bool(data.get("gold_section")):
        raise InputError(f"{where}: give both gold_guide and gold_section, or neither")
    if not data["expected_abstention"] and not data.get("expected_facts") and \
            data["category"] != "smalltalk":
        raise InputError(f"{where}: an answerable case needs expected_facts")
    return Case(**{k: v for k, v in data.items() if k in CASE_FIELDS}, set=set_name)


def load_set(path: Path, set_name: str = "") -> list[Case]:
    cases: list[Case] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot be read ({error})") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{where}: not valid JSON ({error.msg})") from None
        cases.append(_case(data, where, set_name or path.stem))
    return cases


def load_sets(sets_dir: Path, only: Iterable[str] = ()) -> dict[str, list[Case]]:
    if not sets_dir.is_dir():
        raise InputError(f"eval sets folder {sets_dir} does not exist")
    # A set's name is its path below the folder without ".jsonl": "test/paraphrase"; the
    # first part is its split. `only` takes full names, bare names or a split.
    named = {path.relative_to(sets_dir).with_suffix("").as_posix(): path
             for path in sorted(sets_dir.rglob("*.jsonl"))}
    wanted = set(only)
    if wanted:
        def chosen(name: str) -> bool:
            return name in wanted or name.split("/")[-1] in wanted or name.split("/")[0] in wanted
        unknown = {w for w in wanted if not any(
            w in (n, n.split("/")[-1], n.split("/")[0]) for n in named)}
        if unknown:
            raise InputError(f"no eval set named {', '.join(sorted(unknown))} in {sets_dir}")
        named = {n: p for n, p in named.items() if chosen(n)}
    if not named:
        raise InputError(f"{sets_dir} holds no .jsonl eval sets")
    sets = {name: load_set(path, name) for name, path in named.items()}
    seen: dict[str, str] = {}
    for name, cases in sets.items():
        for case in cases:
            if case.id in seen:
                raise InputError(f"case id {case.id!r} is in both {seen[case.id]} and {name}")
            seen[case.id] = name
    _check_splits(sets)
    return sets


def _check_splits(sets: dict[str, list[Case]]) -> None:
    """Every phrasing of a fact is in one split: a fact in both would leak test into dev."""
    split_of: dict[str, str] = {}
    for cases in sets.values():
        for case in cases:
            if case.fact and case.split:
                other = split_of.setdefault(case.fact, case.split)
                if other != case.split:
                    raise InputError(f"fact {case.fact!r} is in both the {other} and the "
                                     f"{case.split} split (case {case.id})")


@dataclass
class EvalConfig:
    gates: dict[str, float]
    # set name -> corpus folders (indexed together); other sets use settings.corpus
    corpora: dict[str, tuple[Path, ...]]
    gated_splits: tuple[str, ...] = ("test",)  # sets in other splits are reported, not gated

    def corpus_of(self, set_name: str, default: Path) -> tuple[Path, ...]:
        return self.corpora.get(set_name) or self.corpora.get(set_name.split("/")[-1]) or (default,)

    def gated(self, set_name: str) -> bool:
        return "/" not in set_name or set_name.split("/")[0] in self.gated_splits


def load_config(path: Path) -> EvalConfig:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError(f"gates file {path}: cannot be read ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"gates file {path}: not valid TOML ({error})") from None
    gates = data.get("gates", {})
    unknown = sorted(set(gates) - set(DEFAULT_GATES))
    if unknown:
        raise InputError(f"gates file {path}: unknown gate(s) {', '.join(unknown)}")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in gates.values()):
        raise InputError(f"gates file {path}: gate values must be numbers")
    corpora = {name: tuple(Path(f) for f in ([folder] if isinstance(folder, str) else folder))
               for name, folder in data.get("corpora", {}).items()}
    gated = tuple(data.get("gated_splits", ["test"]))
    return EvalConfig({**DEFAULT_GATES, **gates}, corpora, gated)


# --- running ------------------------------------------------------------------------------


@dataclass
class CaseResult:
    id: str
    set: str
    category: str
    turns: list[str]
    answer: str
    abstained: bool
    kind: str
    expected_abstention: bool
    expected_facts: int
    missing_facts: list[str]
    forbidden_found: list[str]
    ungrounded: list[str]
    hit_at_3: float | None
    mrr: float | None
    latency_ms: float
    lang: str = "en"  # the language the question was asked in
    answered_lang: str | None = None  # the language of the answer's frame; None: no frame
    baseline: dict | None = None
    # The final question's recorded signals (replay.py), for the signal contributions; not
    # part of the JSON report.
    record: dict | None = field(default=None, repr=False)

    @property
    def failures(self) -> list[str]:
        out = []
        if self.abstained != self.expected_abstention:
            out.append("abstained" if self.abstained else "did not abstain")
        if self.missing_facts:
            out.append("missing " + ", ".join(self.missing_facts))
        if self.forbidden_found:
            out.append("forbidden " + ", ".join(self.forbidden_found))
        if self.ungrounded:
            out.append("ungrounded numbers " + ", ".join(self.ungrounded))
        if self.hit_at_3 == 0.0:
            out.append(f"gold section not in top {HIT_K}")
        if self.wrong_language:
            out.append(f"answered in {self.answered_lang}, asked in {self.lang}")
        return out

    @property
    def split(self) -> str:
        return split_of(self.set)

    @property
    def wrong_language(self) -> bool:
        return self.answered_lang is not None and self.answered_lang != self.lang

    def to_dict(self) -> dict:
        fields_ = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "record"}
        return {**fields_, "failures": self.failures}


class Workspace:
    """One corpus ingested into a temp Chroma, with the engine and the baseline on it."""

    def __init__(self, settings: Settings, corpus: Path | tuple[Path, ...], embedder: Any, root: Path,
                 baseline: bool = True) -> None:
        from .chat import Assistant
        from .index import chroma_client, ingest

        if isinstance(corpus, tuple):  # several folders are indexed as one corpus
            folders, corpus = corpus, root.parent / f"{root.name}-corpus"
            corpus.mkdir(parents=True, exist_ok=True)
            for folder in folders:
                for path in sorted(folder.iterdir()):
                    if path.is_file() and not (corpus / path.name).exists():
                        shutil.copy(path, corpus / path.name)

        # Always embedded and private: the eval never touches a configured index or server.
        self.settings = settings.model_copy(update={
            "corpus": corpus, "index": root, "chroma_url": None, "collection_prefix": "eval"})
        self.client = chroma_client(self.settings, create=True)
        report = ingest(self.settings, embedder, client=self.client)
        if report.errors:
            raise InputError(f"eval corpus {corpus}: {'; '.join(report.errors)}")
        self.assistant = Assistant(self.settings, embedder=embedder, client=self.client)
        self.baseline = None
        if baseline:
            from .baseline import PlainBaseline

            self.baseline = PlainBaseline(self.client, embedder, self.assistant.catalogue.guides,
                                          top_k=self.settings.retrieve_top_k)

    def gold_ids(self, case: Case) -> list[str]:
        from .chunks import guide_nodes

        guide = self.assistant.catalogue.by_key.get(case.gold_guide or "")
        if guide is None:
            raise InputError(f"case {case.id}: gold guide {case.gold_guide!r} is not in "
                             f"{self.settings.corpus}")
        # The section's chunks and its units: the engine ranks units, the baseline chunks.
        ids = [n.node_id for n in guide_nodes(guide) if n.metadata["section"] == case.gold_section]
        if not ids:
            raise InputError(f"case {case.id}: {case.gold_guide} has no section "
                             f"{case.gold_section!r}")
        return ids


def retrieval_scores(fetch, query: str, expected_ids: list[str]) -> tuple[float, float]:
    """(hit@3, MRR) of `fetch(query) -> nodes` through llama-index's RetrieverEvaluator."""
    from llama_index.core.evaluation import RetrieverEvaluator
    from llama_index.core.retrievers import BaseRetriever

    cache: dict[str, list] = {}

    class Fetched(BaseRetriever):
        def __init__(self, cutoff: int | None) -> None:
            super().__init__()
            self.cutoff = cutoff

        def _retrieve(self, query_bundle):
            text = query_bundle.query_str
            if text not in cache:
                cache[text] = fetch(text)
            return cache[text][:self.cutoff] if self.cutoff else cache[text]

    cache[query] = fetch(query)
    if not cache[query]:
        return 0.0, 0.0  # nothing retrieved (a refusal): the metrics' precondition fails
    hit = RetrieverEvaluator.from_metric_names(["hit_rate"], retriever=Fetched(HIT_K))
    mrr = RetrieverEvaluator.from_metric_names(["mrr"], retriever=Fetched(None))
    return (hit.evaluate(query, expected_ids).metric_vals_dict["hit_rate"],
            mrr.evaluate(query, expected_ids).metric_vals_dict["mrr"])


def ranked_sections(rankings: dict) -> list:
    """One node per (guide, section), in the order of its best unit's score."""
    from llama_index.core.schema import NodeWithScore

    units = sorted((u for ranking in rankings.values() for u in ranking.units),
                   key=lambda u: -u.score)
    seen, out = set(), []
    for unit in units:
        key = (unit.guide, unit.section)
        if key not in seen:
            seen.add(key)
            out.append(NodeWithScore(node=unit.node, score=unit.score))
    return out


def run_case(case: Case, workspace: Workspace) -> CaseResult:
    assistant = workspace.assistant
    history: list[dict] = []
    for turn in case.turns[:-1]:
        earlier = assistant.ask(turn, history).answer
        history += [{"role": "user", "content": turn}, {"role": "assistant", "content": earlier}]
    question = case.turns[-1]
    answered, rankings = assistant.explain(question, history)
    answer = answered.to_dict()
    text = answer["answer"]
    hit = mrr = None
    gold = workspace.gold_ids(case) if case.gold_guide else None
    if gold:
        # What the engine ranked for the final turn within the guides it routed to: the
        # best unit of each section, best section first.
        nodes = ranked_sections(rankings)
        hit, mrr = retrieval_scores(lambda _q: nodes, question, gold)
    result = CaseResult(
        id=case.id, set=case.set, category=case.category, turns=case.turns, answer=text,
        abstained=answer["abstained"], kind=answer.get("kind", ""),
        expected_abstention=case.expected_abstention, expected_facts=len(case.expected_facts),
        missing_facts=[f for f in case.expected_facts if not fact_present(f, text)],
        forbidden_found=[f for f in case.forbidden_facts if fact_present(f, text)],
        ungrounded=ungrounded_numbers(answer), hit_at_3=hit, mrr=mrr,
        latency_ms=float(answer["latency_ms"]), lang=case.lang or "en",
        answered_lang=answer_language(text),
    )
    if rankings:
        result.record = replay.record(case, rankings)
    if workspace.baseline is not None:
        result.baseline = workspace.baseline.run(case, question, gold)
    return result


def run_cases(cases: list[Case], workspace: Workspace) -> list[CaseResult]:
    return [run_case(case, workspace) for case in cases]


# --- metrics and gates --------------------------------------------------------------------


def _ratio(num: float, den: float) -> float | None:
    return round(num / den, 4) if den else None


def _percentile(values: list[float], q: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 2)
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 2)


def metrics(results: list[CaseResult]) -> dict:
    facts = sum(r.expected_facts for r in results)
    found = facts - sum(len(r.missing_facts) for r in results)
    tp = sum(r.abstained and r.expected_abstention for r in results)
    fp = sum(r.abstained and not r.expected_abstention for r in results)
    fn = sum(not r.abstained and r.expected_abstention for r in results)
    answered = [r for r in results if not r.abstained]
    gold = [r for r in results if r.hit_at_3 is not None]
    latencies = [r.latency_ms for r in results]
    judged = [r for r in results if r.answered_lang is not None]
    return {
        "cases": len(results),
        "passed": sum(not r.failures for r in results),
        "recall": _ratio(found, facts),
        "forbidden_cases": sum(bool(r.forbidden_found) for r in results),
        "abstention_accuracy": _ratio(sum(r.abstained == r.expected_abstention for r in results),
                                      len(results)),
        "abstention_precision": _ratio(tp, tp + fp),
        "abstention_recall": _ratio(tp, tp + fn),
        "groundedness": _ratio(sum(not r.ungrounded for r in answered), len(answered)),
        "hit_at_3": _ratio(sum(r.hit_at_3 for r in gold), len(gold)),
        "mrr": _ratio(sum(r.mrr for r in gold), len(gold)),
        "retrieval_cases": len(gold),
        "language": _ratio(sum(not r.wrong_language for r in judged), len(judged)),
        "latency_p50_ms": _percentile(latencies, 50),
        "latency_p95_ms": _percentile(latencies, 95),
    }


def baseline_metrics(results: list[CaseResult]) -> dict:
    rows = [r.baseline for r in results if r.baseline is not None]
    if not rows:
        return {}
    facts = sum(r.expected_facts for r in results)
    missing = sum(len(b["missing_facts"]) for b in rows)
    gold = [b for b in rows if b["hit_at_3"] is not None]
    answered = [b for b in rows if not b["abstained"]]
    return {
        "cases": len(rows),
        "recall": _ratio(facts - missing, facts),
        "forbidden_cases": sum(bool(b["forbidden_found"]) for b in rows),
        # The plain retriever always returns chunks: it never abstains.
        "abstention_accuracy": _ratio(sum(b["abstained"] == r.expected_abstention
                                          for b, r in zip(rows, results, strict=True)), len(rows)),
        "abstention_precision": None,
        "abstention_recall": _ratio(0, sum(r.expected_abstention for r in results)),
        "groundedness": _ratio(sum(not b["ungrounded"] for b in answered), len(answered)),
        "hit_at_3": _ratio(sum(b["hit_at_3"] for b in gold), len(gold)),
        "mrr": _ratio(sum(b["mrr"] for b in gold), len(gold)),
        "retrieval_cases": len(gold),
        "latency_p50_ms": _percentile([b["latency_ms"] for b in rows], 50),
        "latency_p95_ms": _percentile([b["latency_ms"] for b in rows], 95),
    }


GATE_CHECKS = {
    # gate -> (metric, "min" or "max", which cases to list when it fails)
    "recall": ("recall", "min", lambda r: bool(r.missing_facts)),
    "abstention_accuracy": ("abstention_accuracy", "min",
                            lambda r: r.abstained != r.expected_abstention),
    "groundedness": ("groundedness", "min", lambda r: bool(r.ungrounded)),
    "hit_at_3": ("hit_at_3", "min", lambda r: r.hit_at_3 == 0.0),
    "forbidden_cases": ("forbidden_cases", "max", lambda r: bool(r.forbidden_found)),
    "language": ("language", "min", lambda r: r.wrong_language),
}


@dataclass
class GateFailure:
    set: str
    gate: str
    value: float | None
    threshold: float
    cases: list[str]

    def __str__(self) -> str:
        op = "≥" if GATE_CHECKS[self.gate][1] == "min" else "≤"
        return (f"{self.set}: {self.gate} = {self.value} (gate {op} {self.threshold:g}); "
                f"failing cases: {', '.join(self.cases) or '-'}")


def check_gates(results: list[CaseResult], gates: dict[str, float],
                gated=lambda set_name: True) -> list[GateFailure]:
    """The gates each gated set misses, with the cases that pulled it under."""
    failures = []
    for set_name in dict.fromkeys(r.set for r in results):
        if not gated(set_name):
            continue
        rows = [r for r in results if r.set == set_name]
        values = metrics(rows)
        for gate, threshold in gates.items():
            metric, direction, failing = GATE_CHECKS[gate]
            value = values[metric]
            if value is None:
                continue
            below = value < threshold if direction == "min" else value > threshold
            if below:
                failures.append(GateFailure(set_name, gate, value, threshold,
                                            [r.id for r in rows if failing(r)]))
    return failures


# --- report -------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}" if value <= 1.0 else f"{value:.1f}"
    return str(value)


METRIC_ROWS = (
    ("recall", "factual recall"), ("forbidden_cases", "cases with forbidden facts"),
    ("abstention_accuracy", "abstention accuracy"), ("abstention_precision", "abstention precision"),
    ("abstention_recall", "abstention recall"), ("groundedness", "groundedness"),
    ("hit_at_3", f"retrieval hit@{HIT_K}"), ("mrr", "retrieval MRR"),
    ("language", "answered in the question's language"),
    ("latency_p50_ms", "latency p50 (ms)"), ("latency_p95_ms", "latency p95 (ms)"),
)


def render_contributions(rows: list[replay.Contribution], cases: dict[str, int]) -> list[str]:
    """Each signal's contribution, replayed on the recorded signals of every split."""
    splits = list(rows[0].by_split) if rows else []
    if not splits:
        return []
    lines = ["## Signal contributions (replayed)", "",
             "Each signal's weight set to zero and the decisions replayed on the signals the run "
             "recorded (`replay.py`): the gold section first (rank) and the answer-or-refuse "
             "decision right (support; a support signal's threshold refitted on dev without it). "
             "Over the cases that reached evidence ranking: "
             + ", ".join(f"{split} {cases[split]}" for split in splits)
             + ". The change from all signals is in brackets.", "",
             "| signal | weight | " + " | ".join(f"{split}: gold first | {split}: decisions right"
                                                 for split in splits) + " |",
             "|---|---|" + "---|---|" * len(splits)]
    base = rows[0].by_split

    def cell(value: float | None, reference: float | None, first: bool) -> str:
        if value is None:
            return "–"
        if first or reference is None:
            return f"{value:.3f}"
        return f"{value:.3f} ({value - reference:+.3f})"

    for number, row in enumerate(rows):
        cells = [f"{cell(row.by_split[s][i], base[s][i], number == 0)}"
                 for s in splits for i in (0, 1)]
        weight = "" if row.weight is None else f"{row.weight:g}"
        lines.append(f"| {row.signal} | {weight} | " + " | ".join(cells) + " |")
    return lines + [""]


def render_markdown(results: list[CaseResult], failures: list[GateFailure],
                    gates: dict[str, float], corpora: dict[str, str], model: str,
                    contributions: list[replay.Contribution] | None = None) -> str:
    lines = ["# Eval report", "",
             "Generated by `assistant eval`; do not edit by hand. Engine = `Assistant.ask` "
             "(routing, hybrid retrieval, templated answers). Baseline = a plain llama-index "
             "`VectorStoreIndex` retriever over the same chunks, the same embedding model "
             f"({model}) and the same Chroma (its own collection), the top 3 chunks for the "
             "final question joined as the \"answer\"; no routing, no conversation, never "
             "abstains. Retrieval hit@3 and MRR come from llama-index's `RetrieverEvaluator` "
             "against the gold section's chunk ids (the engine restricted to the guides it "
             "routes to).", "",
             f"**Gates: {'PASS' if not failures else 'FAIL'}** — "
             + ", ".join(f"{k} {'≤' if GATE_CHECKS[k][1] == 'max' else '≥'} {v:g}"
                         for k, v in gates.items()) + " (each set of the test split; the dev "
             "split is reported beside it and is what the weights are fitted on).", "",
             "## Summary: engine / baseline", "",
             "| set | cases | pass | recall | forbidden-fact cases | abstention acc. | "
             "groundedness | hit@3 | MRR | p50 ms |", "|---|---|---|---|---|---|---|---|---|---|"]
    for set_name in dict.fromkeys(r.set for r in results):
        rows = [r for r in results if r.set == set_name]
        e, b = metrics(rows), baseline_metrics(rows)
        cells = [f"{_fmt(e[k])} / {_fmt(b.get(k))}" for k in (
            "recall", "forbidden_cases", "abstention_accuracy", "groundedness", "hit_at_3", "mrr",
            "latency_p50_ms")]
        lines.append(f"| `{set_name}` | {e['cases']} | {e['passed']} | " + " | ".join(cells) + " |")
    lines.append("")
    for set_name in dict.fromkeys(r.set for r in results):
        rows = [r for r in results if r.set == set_name]
        engine, base = metrics(rows), baseline_metrics(rows)
        lines += [f"## Set `{set_name}` (corpus `{corpora[set_name]}`): "
                  f"{engine['passed']}/{engine['cases']} cases pass", "",
                  "| metric | engine | baseline | gate |", "|---|---|---|---|"]
        for key, label in METRIC_ROWS:
            gate = next((f"{'≤' if d == 'max' else '≥'} {gates[g]:g}"
                         for g, (m, d, _f) in GATE_CHECKS.items() if m == key and g in gates), "")
            lines.append(f"| {label} | {_fmt(engine.get(key))} | {_fmt(base.get(key))} | {gate} |")
        lines += ["", f"Retrieval metrics over {engine['retrieval_cases']} cases with a gold section.",
                  "", "| category | cases | pass | recall | abstention acc. | groundedness | "
                  "hit@3 | baseline recall | baseline hit@3 |", "|---|---|---|---|---|---|---|---|---|"]
        for category in sorted({r.category for r in rows}):
            sub = [r for r in rows if r.category == category]
            m, b = metrics(sub), baseline_metrics(sub)
            lines.append(f"| {category} | {m['cases']} | {m['passed']} | {_fmt(m['recall'])} | "
                         f"{_fmt(m['abstention_accuracy'])} | {_fmt(m['groundedness'])} | "
                         f"{_fmt(m['hit_at_3'])} | {_fmt(b.get('recall'))} | {_fmt(b.get('hit_at_3'))} |")
        failing = [r for r in rows if r.failures]
        lines += ["", "### Failing cases", ""]
        if not failing:
            lines.append("None.")
        for r in failing:
            if set_name.startswith("test/"):
                # The test split is measured, never tuned on: its failures are not spelled
                # out, so that nobody fixes the engine by reading them.
                lines.append(f"- `{r.id}` ({r.category})")
                continue
            lines.append(f"- `{r.id}` ({r.category}) — {'; '.join(r.failures)}. "
                         f"Q: {' / '.join(r.turns)!s} A: {r.answer[:240]}")
        lines.append("")
    if contributions:
        recorded = {split: sum(1 for r in results if r.record and r.split == split)
                    for split in contributions[0].by_split}
        lines += render_contributions(contributions, recorded)
    if failures:
        lines += ["## Gates missed", ""] + [f"- {f}" for f in failures] + [""]
    return "\n".join(lines)


@dataclass
class EvalRun:
    results: list[CaseResult]
    failures: list[GateFailure]
    markdown: str
    report: dict


def evaluate(settings: Settings, sets_dir: Path, gates_path: Path, report_md: Path | None = None,
             report_json: Path | None = None, only: Iterable[str] = (), baseline: bool = True,
             embedder: Any = None, progress=None) -> EvalRun:
    """Run the eval sets, write the Markdown and JSON reports (where given), check the gates."""
    config = load_config(gates_path)
    sets = load_sets(sets_dir, only)
    if embedder is None:
        from .embeddings import default_embedder

        embedder = default_embedder(settings)
    by_corpus: dict[tuple[Path, ...], list[str]] = {}
    for name in sets:
        by_corpus.setdefault(config.corpus_of(name, settings.corpus), []).append(name)
    for folders in by_corpus:
        for corpus in folders:
            if not corpus.is_dir():
                raise InputError(f"eval corpus folder {corpus} does not exist")
    started = time.perf_counter()
    results: list[CaseResult] = []
    calibration = None
    root = Path(tempfile.mkdtemp(prefix="assistant-eval-"))
    try:
        for number, (corpus, names) in enumerate(by_corpus.items()):
            workspace = Workspace(settings, corpus if len(corpus) > 1 else corpus[0], embedder,
                                  root / f"index-{number}", baseline)
            calibration = workspace.assistant.calibration
            for name in names:
                for case in sets[name]:
                    results.append(run_case(case, workspace))
                    if progress:
                        progress(1)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    failures = check_gates(results, config.gates, config.gated)
    corpora = {name: " + ".join(str(c) for c in corpus) for corpus, names in by_corpus.items()
               for name in names}
    model = getattr(embedder, "model_name", "the packaged model")
    recorded: dict[str, list[dict]] = {}
    for result in results:
        if result.record is not None:
            recorded.setdefault(result.split, []).append(result.record)
    contributions = replay.contributions(recorded, calibration) if calibration and recorded else []
    markdown = render_markdown(results, failures, config.gates, corpora, model, contributions)
    report = {
        "passed": not failures,
        "gates": config.gates,
        "seconds": round(time.perf_counter() - started, 1),
        "sets": {name: {"corpus": corpora[name],
                        "engine": metrics([r for r in results if r.set == name]),
                        "baseline": baseline_metrics([r for r in results if r.set == name])}
                 for name in sets},
        "gate_failures": [asdict(f) for f in failures],
        "contributions": [{"signal": c.signal, "weight": c.weight,
                           "splits": {split: {"gold_first": gold, "decisions_right": right}
                                      for split, (gold, right) in c.by_split.items()}}
                          for c in contributions],
        "cases": [r.to_dict() for r in results],
    }
    for path, text in ((report_md, markdown),
                       (report_json, json.dumps(report, ensure_ascii=False, indent=1))):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    return EvalRun(results, failures, markdown, report)
