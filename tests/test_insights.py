"""The content-gap report (issue 12): clusters on a seeded log, demand, the CLI and the HTML.

The clusters use the real packaged model (the session's `real_assistant` over
tests/data/guides); the log is seeded with questions and their routing as the assistant
records them.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from assistant.insights import (
    build_report,
    parse_since,
    render_html,
    subject_text,
    unanswered_clusters,
)
from assistant.questionlog import QuestionLog, new_answer_id, utcnow
from assistant.settings import Settings
from conftest import FIXTURE_GUIDES, run_cli

# Three subjects no guide covers, each asked in several ways and about several places.
SUBJECTS = {
    "benefits": [
        ("What benefits packages do companies in Leuven offer developers?", ["Leuven"]),
        ("Which perks and fringe benefits are usual for backend developers in Ghent?", ["Ghent"]),
        ("What kind of employee benefits should I offer a developer in Namur?", ["Namur"]),
        ("Are meal vouchers, insurance and other benefits standard in Antwerp?", ["Antwerp"]),
        ("What benefits do tech employers give on top of salary?", []),
    ],
    "visa": [
        ("How do I sponsor a work visa for a non-EU developer in Leuven?", ["Leuven"]),
        ("What is the work permit process to hire a developer from India in Ghent?", ["Ghent"]),
        ("Can we get a single permit for a foreign engineer in Brussels?", ["Brussels"]),
        ("How long does a work permit take for non-European hires?", []),
    ],
    "remote": [
        ("Do developers in Leuven expect to work remotely from home?", ["Leuven"]),
        ("How many remote working days do developers in Ghent want per week?", ["Ghent"]),
        ("Is hybrid or fully remote work common for tech jobs in Antwerp?", ["Antwerp"]),
        ("What remote work policy do developers prefer?", []),
    ],
}


def seeded_rows() -> list[dict]:
    now = utcnow()
    rows = []
    for number, (subject, questions) in enumerate(SUBJECTS.items()):
        for offset, (question, places) in enumerate(questions):
            rows.append({"id": new_answer_id(), "created_at": now - timedelta(hours=number * 5 + offset),
                         "conversation": None, "interface": "api", "question": question, "lang": "en",
                         "places": places, "roles": ["Backend Developers"] if "backend" in question else [],
                         "guides": [], "kind": "refusal", "abstained": True,
                         "reason": "no_guide" if set(places) & {"Namur", "Brussels"} else "not_covered",
                         "top_guide": None, "top_section": None, "latency_ms": 20.0, "subject": subject})
    return rows


def test_subject_text_drops_the_named_place_and_role() -> None:
    text = subject_text("Which perks do backend developers in Ghent get?", ["Ghent"], ["Backend Developers"])
    assert "Ghent" not in text and "backend" not in text.lower() and "perks" in text


def test_clusters_group_paraphrases_and_keep_subjects_apart(real_assistant) -> None:
    rows = seeded_rows()
    clusters = unanswered_clusters(real_assistant, rows)
    subject_of = {row["question"]: row["subject"] for row in rows}
    assert len(clusters) == len(SUBJECTS), [c["examples"] for c in clusters]
    groups = []
    for cluster in clusters:
        members = {row["subject"] for row in rows if row["question"] in cluster["examples"]}
        assert len(members) == 1, cluster["examples"]  # never two subjects in one group
        groups.append((members.pop(), cluster["size"]))
    assert sorted(groups) == sorted((s, len(q)) for s, q in SUBJECTS.items())
    biggest = clusters[0]
    assert biggest["size"] == 5 and subject_of[biggest["examples"][0]] == "benefits"
    assert len(biggest["examples"]) == 3 and biggest["nearest"]["guide"].startswith("Recruiting")
    assert biggest["nearest"]["section"]


def test_report_from_a_real_log(real_assistant, tmp_path) -> None:
    settings = Settings(log_url=f"sqlite:///{tmp_path / 'q.db'}")
    log = QuestionLog(settings)
    for row in seeded_rows():
        row.pop("subject")
        log.record(row)
    answered = real_assistant.ask("What does a junior backend developer earn in Leuven?")
    log.record({"id": answered.id, "conversation": None, "interface": "cli", "question": "junior Leuven",
                "lang": "en", "places": ["Leuven"], "roles": ["Backend Developers"],
                "guides": ["Recruiting Backend Developers in Leuven"], "kind": "answer",
                "abstained": False, "reason": None, "top_guide": "Recruiting Backend Developers in Leuven",
                "top_section": "Salary Ranges", "latency_ms": 10.0})
    assert log.flush()
    from assistant.questionlog import Feedback

    log.feedback(Feedback(answered.id, "down", "only the junior row?"))
    report = build_report(real_assistant, log, parse_since("30d"))
    log.close()
    assert report["questions"] == 14 and report["refusals"]["count"] == 13
    reasons = {r["reason"]: r["count"] for r in report["refusals"]["by_reason"]}
    assert reasons == {"no_guide": 2, "not_covered": 11, "off_topic": 0}
    gaps = [g["text"] for g in report["demand"]["gaps"]]
    assert "Namur: 1 question, no guide" in gaps
    assert not any(g.startswith("Leuven:") for g in gaps)  # Leuven has guides
    leuven = next(p for p in report["demand"]["places"] if p["place"] == "Leuven")
    assert leuven["has_guide"] and leuven["questions"] == 4
    assert sum(day["questions"] for day in report["per_day"]) == 14
    assert report["thumbs_down"][0]["comments"] == ["only the junior row?"]
    page = render_html(report)
    assert "<script" not in page and "http://" not in page and "https://" not in page  # no CDN
    assert 'name="viewport"' in page and "<svg" in page and "Namur: 1 question, no guide" in page


def test_parse_since() -> None:
    assert parse_since("30d") == timedelta(days=30) and parse_since("12h") == timedelta(hours=12)
    assert parse_since("2w") == timedelta(days=14) and parse_since("all") is None
    for bad in ("30", "0d", "d30", "30y"):
        with pytest.raises(Exception, match="--since"):
            parse_since(bad)


def test_cli_insights(guides_index, tmp_path) -> None:
    # (`assistant ask --json` writing its record: tests/test_cli.py)
    env = {"ASSISTANT_LOG_URL": f"sqlite:///{tmp_path / 'q.db'}", "ASSISTANT_CORPUS": str(FIXTURE_GUIDES)}
    log = QuestionLog(Settings(log_url=env["ASSISTANT_LOG_URL"]))
    row = seeded_rows()[2]  # Namur
    row.pop("subject")
    log.record({**row, "interface": "cli"})
    assert log.flush()
    log.close()
    html_file = tmp_path / "report.html"
    report = run_cli("insights", "--since", "7d", "--json", "--html", str(html_file),
                     "--index", str(guides_index), env=env)
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert data["questions"] == 1 and data["by_interface"] == {"cli": 1}
    assert "Namur: 1 question, no guide" in html_file.read_text()
    bad = run_cli("insights", "--since", "soon", "--index", str(guides_index), env=env)
    assert bad.returncode == 2 and "--since" in bad.stderr
    off = run_cli("insights", "--index", str(guides_index), env={**env, "ASSISTANT_LOG": "off"})
    assert off.returncode == 2 and "ASSISTANT_LOG=off" in off.stderr
