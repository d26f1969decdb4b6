"""The eval runner: number normalisation, set validation, the gates, and that a broken
engine fails them.

The integration tests run the routing set over the multi-guide fixture corpus with the real
model, on one session-scoped workspace (no baseline: it is not what is being tested), then
break the engine in two ways and check the gates catch each.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.errors import InputError
from assistant.evaluate import (
    Workspace,
    answer_language,
    check_gates,
    fact_present,
    load_config,
    load_set,
    load_sets,
    numbers,
    run_cases,
    ungrounded_numbers,
)
from assistant.settings import Settings
from conftest import FIXTURE_GUIDES, ROOT, run_cli

SETS = ROOT / "eval" / "sets"
GATES = ROOT / "eval" / "gates.toml"


def test_numbers_are_compared_whatever_the_thousands_separator() -> None:
    for written in ("€61,800", "61.800 €", "61 800", "61\u202f800 €", "€61.8k", "62k"):
        assert numbers(written) & {61800.0, 62000.0}, written
    assert numbers("€37,080 – €49,440") == {37080.0, 49440.0}
    assert numbers("over 5,000 researchers, 2.5 times") == {5000.0, 2.5}
    assert numbers("in 2024 100 firms") == {2024.0, 100.0}


def test_fact_matching_and_groundedness() -> None:
    answer = "Senior backend developers in Leuven earn €61.800 – €87.550 gross per year."
    assert fact_present("€61,800", answer) and fact_present("87 550", answer)
    assert not fact_present("€64,890", answer)
    assert fact_present("Barco (R&D)", "Key companies: imec, barco (r&d).")
    assert not fact_present("KU Leuven", "Universities: UCLL.")
    cited = {"answer": answer, "abstained": False,
             "sources": [{"quote": "| Senior | €61,800 – €87,550 |"}]}
    assert ungrounded_numbers(cited) == []
    cited["answer"] += " Add 10% for leads."
    assert ungrounded_numbers(cited) == ["10"]


def test_answer_language_is_judged_from_the_templates() -> None:
    assert answer_language("Senior backend developers in Leuven earn €61,800 – €87,550 gross "
                           "per year.") == "en"
    assert answer_language("Senior backend developers in Leuven verdienen €61,800 – €87,550 "
                           "bruto per jaar.") == "nl"
    assert answer_language("Les backend developers (Senior) à Louvain gagnent €61,800 – "
                           "€87,550 brut par an.") == "fr"
    assert answer_language("Recruiting Backend Developers in Leuven › Market Demand: “...”") is None


def test_shipped_sets_are_valid_and_large_enough() -> None:
    sets = load_sets(SETS)
    config = load_config(GATES)
    shipped = [case for name, cases in sets.items()
               if config.corpus_of(name, Path("corpus")) == (Path("corpus"),) for case in cases]
    assert len(shipped) >= 80
    test = [case for name, cases in sets.items() if name.startswith("test/") for case in cases]
    assert len(test) >= 100 and all(config.gated(name) for name in sets if name.startswith("test/"))
    assert not any(config.gated(name) for name in sets if name.startswith("dev/"))
    categories = {case.category for case in shipped}
    assert {"salary", "employers", "hubs", "universities", "career", "market", "why_hire",
            "followup", "dutch", "french", "refusal_city", "refusal_role", "refusal_empty",
            "refusal_offtopic", "injection"} <= categories
    assert any(len(case.turns) == 3 for case in shipped)
    assert config.corpora["routing"] == (Path("tests/data/guides"),)


def test_a_fact_in_both_splits_is_refused(tmp_path: Path) -> None:
    line = {"id": "x", "category": "c", "turns": ["q?"], "expected_abstention": False,
            "expected_facts": ["a"], "fact": "g.txt#Salary"}
    for split in ("dev", "test"):
        (tmp_path / split).mkdir()
        (tmp_path / split / "s.jsonl").write_text(json.dumps({**line, "id": split}) + "\n")
    with pytest.raises(InputError, match="both the"):
        load_sets(tmp_path)


def test_malformed_set_line_names_file_and_line(tmp_path: Path) -> None:
    good = json.dumps({"id": "a", "category": "c", "turns": ["q?"], "expected_abstention": True})
    (tmp_path / "broken.jsonl").write_text(f"{good}\n\n{{not json\n", encoding="utf-8")
    with pytest.raises(Exception, match=r"broken\.jsonl:3"):
        load_set(tmp_path / "broken.jsonl")
    result = run_cli("eval", "--sets", str(tmp_path), "--report", str(tmp_path / "r.md"),
                     "--json", str(tmp_path / "r.json"))
    assert result.returncode == 2
    assert "broken.jsonl:3" in result.stderr and "Traceback" not in result.stderr


def test_case_without_expected_facts_is_refused(tmp_path: Path) -> None:
    line = json.dumps({"id": "a", "category": "salary", "turns": ["q?"], "expected_abstention": False})
    (tmp_path / "s.jsonl").write_text(line + "\n", encoding="utf-8")
    with pytest.raises(Exception, match=r"s\.jsonl:1: an answerable case needs expected_facts"):
        load_set(tmp_path / "s.jsonl")


def test_unknown_gate_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "gates.toml").write_text("[gates]\nrecal = 0.9\n", encoding="utf-8")
    result = run_cli("eval", "--gates", str(tmp_path / "gates.toml"), "--report", str(tmp_path / "r.md"))
    assert result.returncode == 2 and "unknown gate(s) recal" in result.stderr


# --- the engine against the routing set -------------------------------------------------


@pytest.fixture(scope="module")
def routing_workspace(tmp_path_factory, real_embedder) -> Workspace:
    return Workspace(Settings(), FIXTURE_GUIDES, real_embedder,
                     tmp_path_factory.mktemp("eval") / "index", baseline=False)


@pytest.fixture(scope="module")
def routing_cases():
    return load_set(SETS / "dev" / "routing.jsonl", "dev/routing")


# The routing set is dev data; these checks hold the engine to never leaking another guide's
# figures on it, and show that a broken engine misses them.
ROUTING_GATES = {"forbidden_cases": 0, "groundedness": 1.0, "recall": 0.75,
                 "abstention_accuracy": 0.95}


@pytest.mark.integration
def test_engine_passes_the_routing_gates(routing_workspace, routing_cases) -> None:
    results = run_cases(routing_cases, routing_workspace)
    failures = check_gates(results, ROUTING_GATES)
    assert not failures, "\n".join(map(str, failures))


@pytest.mark.integration
def test_routing_that_ignores_the_place_fails_the_gates(routing_workspace, routing_cases,
                                                        monkeypatch) -> None:
    from dataclasses import replace

    from assistant.catalogue import Catalogue

    route = Catalogue.route
    monkeypatch.setattr(Catalogue, "route",
                        lambda self, query: route(self, replace(query, places=(), unknown_places=())))
    results = run_cases(routing_cases, routing_workspace)
    failed = {failure.gate: failure for failure in check_gates(results, ROUTING_GATES)}
    assert {"forbidden_cases"} <= set(failed)
    assert "r-ghent-senior" in failed["forbidden_cases"].cases  # got the Belgium-wide figures


@pytest.mark.integration
def test_evidence_from_the_wrong_guide_fails_the_gates(routing_workspace, routing_cases,
                                                       monkeypatch) -> None:
    from dataclasses import replace

    from assistant.chat import Assistant

    rank = Assistant.rank
    monkeypatch.setattr(Assistant, "rank", lambda self, query, target, embedding, *rest: rank(
        self, query, replace(target, guide=self.catalogue.guides[0]), embedding, *rest))
    results = run_cases(routing_cases, routing_workspace)
    failed = {failure.gate for failure in check_gates(results, ROUTING_GATES)}
    assert failed & {"recall", "abstention_accuracy", "forbidden_cases"}, failed


@pytest.mark.integration
def test_cases_record_their_signals_for_the_replayed_contributions(routing_workspace,
                                                                  routing_cases) -> None:
    from assistant import replay

    results = run_cases(routing_cases[:12], routing_workspace)
    recorded = [r.record for r in results if r.record is not None]
    assert recorded and all(r.record["guides"] for r in results if r.record)
    assert all("record" not in r.to_dict() for r in results)  # not in the JSON report
    json.dumps(recorded)  # and writable as `eval/calibrate.py --records` writes them
    rows = replay.contributions({"dev": recorded}, routing_workspace.assistant.calibration)
    assert rows[0].signal == "all signals" and len(rows) > 1
