"""The content-gap report for the site's editors (issue 12), computed from the question log.

`build_report(assistant, log, since)` returns one JSON-able dict:
- questions per day (answered and refused), per interface and per language;
- demand by place, by role and by role × place, each flagged when **no guide** covers it,
  and the places and roles without a guide ranked ("Namur: 37 questions, no guide");
- the refusal rate, and by reason (`no_guide`, `not_covered`, `off_topic`);
- the unanswered questions (refusals) grouped by meaning: embedded with the assistant's own
  packaged model (the words of the places and roles they name taken out, so that "benefits in
  Ghent" and "benefits in Namur" are one subject), clustered by average-linkage on cosine
  distance; each group with its size, three example questions, frequent words and the
  nearest guide section (by the same heading vectors the answers use);
- the answers with the most 👎, with their questions and comments.

`render_html` makes one self-contained page of it (inline CSS and SVG, no script, no CDN,
readable on a phone; no emoji, which a system without an emoji font draws as boxes);
`render_text` the CLI's summary. Aggregation is done here in Python
over the window's rows, so no SQL is dialect-specific. This file writes nothing.
"""

from __future__ import annotations

import html
import re
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np

from .chunks import strip_words
from .errors import InputError
from .questionlog import REASONS, utcnow
from .vocab import PLACES, normalize, singular, words

SINCE = re.compile(r"^\s*(\d{1,5})\s*([hdw])\s*$")
# Groups of questions whose average cosine distance is under this are one subject. Set on
# the seeded log of tests/test_insights.py (three subjects, 4-5 phrasings each, several
# places): its paraphrases are all joined by a distance of 0.61, and the subjects stay apart
# until 0.81; 0.7 sits in that gap.
CLUSTER_DISTANCE = 0.7
MAX_CLUSTERED = 4000  # the most recent unanswered questions that are clustered (O(n²) memory)
TOP_CLUSTERS = 20
TOP_ROWS = 25
ANY = "(any)"
REASON_LABELS = {"no_guide": "no guide for the place or role", "not_covered": "subject not in the guide",
                 "off_topic": "off topic"}
STOP = frozenset("""a an the and or of in on at to for from with by about is are was were be do does
did what which who whom how why when where can could should would will there their they them this that
these those it its our your you we i me my much many any some more most than as if per de het een en
van in op voor wat hoe welke le la les des du un une et pour quel quelle quels est sont dans sur""".split())
# Words nearly every question to a hiring assistant has: they say nothing of its subject, and
# left in they pull different subjects together.
GENERIC = frozenset("""developer developers engineer engineers tech hire hires hiring recruit recruiting
recruiter recruiters""".split())


def parse_since(text: str | None) -> timedelta | None:
    """`30d`, `12h`, `2w` → the window; `all` or None → everything the log keeps."""
    if text is None or text.strip().lower() == "all":
        return None
    found = SINCE.match(text.lower())
    if not found or int(found.group(1)) == 0:
        raise InputError(f"--since must be like 30d, 12h or 2w (or all), not {text!r}")
    number, unit = int(found.group(1)), found.group(2)
    return timedelta(hours=number) if unit == "h" else timedelta(days=number * (7 if unit == "w" else 1))


# --- demand ------------------------------------------------------------------------------


def _demand(rows: list[dict], catalogue: Any) -> dict[str, Any]:
    covered_places, covered_roles = set(catalogue.places), set(catalogue.roles)
    places: Counter[str] = Counter()
    roles: Counter[str] = Counter()
    pairs: Counter[tuple[str, str]] = Counter()
    refused: Counter[Any] = Counter()
    for row in rows:
        row_places, row_roles = row["places"] or [], row["roles"] or []
        is_refusal = row["kind"] == "refusal"
        for place in row_places:
            places[place] += 1
            refused[("place", place)] += is_refusal
        for role in row_roles:
            roles[role] += 1
            refused[("role", role)] += is_refusal
        if row_places or row_roles:
            for place in row_places or [ANY]:
                for role in row_roles or [ANY]:
                    pairs[(role, place)] += 1
                    refused[("pair", role, place)] += is_refusal

    def pair_has_guide(role: str, place: str) -> bool:
        return bool(catalogue.find(None if place == ANY else place, None if role == ANY else role))

    place_rows = [{"place": p, "questions": n, "refused": refused[("place", p)],
                   "has_guide": p in covered_places} for p, n in places.most_common()]
    role_rows = [{"role": r, "questions": n, "refused": refused[("role", r)],
                  "has_guide": r in covered_roles} for r, n in roles.most_common()]
    pair_rows = [{"role": r, "place": p, "questions": n, "refused": refused[("pair", r, p)],
                  "has_guide": pair_has_guide(r, p)} for (r, p), n in pairs.most_common()]
    gaps = sorted([{"what": "place", "name": row["place"], "questions": row["questions"]}
                   for row in place_rows if not row["has_guide"]]
                  + [{"what": "role", "name": row["role"], "questions": row["questions"]}
                     for row in role_rows if not row["has_guide"]]
                  + [{"what": "role × place", "name": f"{row['role']} in {row['place']}",
                      "questions": row["questions"]}
                     for row in pair_rows if not row["has_guide"] and ANY not in (row["role"], row["place"])
                     and row["role"] in covered_roles and row["place"] in covered_places],
                  key=lambda gap: (-gap["questions"], gap["name"]))
    for gap in gaps:
        plural = "" if gap["questions"] == 1 else "s"
        gap["text"] = f"{gap['name']}: {gap['questions']} question{plural}, no guide"
    return {"places": place_rows[:TOP_ROWS], "roles": role_rows[:TOP_ROWS], "pairs": pair_rows[:TOP_ROWS],
            "gaps": gaps[:TOP_ROWS]}


# --- unanswered questions, grouped by meaning --------------------------------------------


def subject_text(question: str, places: list[str], roles: list[str]) -> str:
    """The question without the words of the places and roles it names, the words every
    hiring question has, and stop words: what it asks about."""
    drop: set[str] = set()
    for place in places:
        drop |= set(normalize(place).split())
        drop |= {w for alias in PLACES.get(place, ()) for w in alias.split()}
    for role in roles:
        drop |= set(words(role)) | {singular(w) for w in words(role)}
    kept = [w for w in strip_words(question, drop | GENERIC).split()
            if normalize(w).strip("?!.,;:'’()") not in STOP]
    return " ".join(kept) or question


def cluster_vectors(vectors: np.ndarray, max_distance: float = CLUSTER_DISTANCE) -> list[int]:
    """A cluster label per row: average-linkage agglomerative clustering on cosine distance,
    cut where groups are on average further apart than `max_distance`."""
    count = len(vectors)
    if count == 0:
        return []
    if count == 1:
        return [0]
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    distances = np.clip(pdist(vectors, metric="cosine"), 0.0, 2.0)
    tree = linkage(distances, method="average")
    return [int(label) - 1 for label in fcluster(tree, t=max_distance, criterion="distance")]


def _keywords(questions: list[str], limit: int = 3) -> list[str]:
    """The content words most of a group's questions share (a name for the group)."""
    seen: Counter[str] = Counter()
    for question in questions:
        seen.update({w for w in words(question) if len(w) > 3 and w not in STOP})
    floor = max(2, len(questions) // 3)
    return [w for w, n in seen.most_common(limit * 2) if n >= floor][:limit]


def _nearest_section(assistant: Any, vector: np.ndarray) -> dict[str, Any] | None:
    best: tuple[float, str, str] | None = None
    for guide in assistant.catalogue.guides:
        for heading, score in assistant.retriever.heading_scores(guide.key, vector.tolist()).items():
            if best is None or score > best[0]:
                best = (score, guide.title, heading)
    if best is None:
        return None
    return {"guide": best[1], "section": best[2], "similarity": round(best[0], 3)}


def unanswered_clusters(assistant: Any, rows: list[dict], *, max_distance: float = CLUSTER_DISTANCE,
                        top: int = TOP_CLUSTERS) -> list[dict[str, Any]]:
    refusals = [row for row in rows if row["kind"] == "refusal"][-MAX_CLUSTERED:]
    if not refusals:
        return []
    # One vector per distinct question (the same words asked twice is one point, weighed twice).
    by_text: dict[str, list[dict]] = defaultdict(list)
    for row in refusals:
        by_text[" ".join(normalize(row["question"]).split())].append(row)
    keys = list(by_text)
    subjects = [subject_text(by_text[k][0]["question"], by_text[k][0]["places"] or [],
                             by_text[k][0]["roles"] or []) for k in keys]
    embedder = assistant.retriever.embedder
    vectors = np.asarray(embedder.get_text_embedding_batch(subjects), dtype=np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    labels = cluster_vectors(vectors, max_distance)
    members: dict[int, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        members[label].append(index)
    clusters = []
    for indices in members.values():
        centroid = vectors[indices].mean(axis=0)
        centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
        # Examples: the distinct questions nearest the group's centre, most asked first on ties.
        ranked = sorted(indices, key=lambda i: (-float(vectors[i] @ centroid), -len(by_text[keys[i]])))
        group_rows = [row for i in indices for row in by_text[keys[i]]]
        reasons = Counter(row["reason"] or "off_topic" for row in group_rows)
        clusters.append({
            "size": len(group_rows),
            "distinct": len(indices),
            "keywords": _keywords([subjects[i] for i in indices]),
            "examples": [by_text[keys[i]][0]["question"] for i in ranked[:3]],
            "reasons": dict(reasons.most_common()),
            "places": [p for p, _ in Counter(p for row in group_rows
                                             for p in row["places"] or []).most_common(3)],
            "nearest": _nearest_section(assistant, centroid),
            "_centroid": centroid,
        })
    clusters.sort(key=lambda c: (-c["size"], c["examples"][0]))
    for cluster in clusters:
        cluster.pop("_centroid")
    return clusters[:top]


# --- feedback ----------------------------------------------------------------------------


def _thumbs_down(feedback: list[dict]) -> list[dict[str, Any]]:
    grouped: dict[str, dict[str, Any]] = {}
    for vote in feedback:
        if vote["rating"] != "down":
            continue
        key = " ".join(normalize(vote["question"]).split())
        entry = grouped.setdefault(key, {"question": vote["question"], "down": 0, "comments": [],
                                         "top_guide": vote["top_guide"], "top_section": vote["top_section"],
                                         "kind": vote["kind"]})
        entry["down"] += 1
        if vote["comment"] and len(entry["comments"]) < 3:
            entry["comments"].append(vote["comment"])
    return sorted(grouped.values(), key=lambda e: (-e["down"], e["question"]))[:TOP_ROWS]


# --- the report ----------------------------------------------------------------------------


def _per_day(rows: list[dict], start: date | None, end: date) -> list[dict[str, Any]]:
    days: dict[date, list[int]] = {}
    for row in rows:
        counts = days.setdefault(row["created_at"].date(), [0, 0])
        counts[0] += 1
        counts[1] += row["kind"] == "refusal"
    if not days:
        return []
    first = max(start or min(days), end - timedelta(days=365))
    result, day = [], first
    while day <= end:
        questions, refused = days.get(day, [0, 0])
        result.append({"day": day.isoformat(), "questions": questions, "refused": refused})
        day += timedelta(days=1)
    return result


def build_report(assistant: Any, log: Any, since: timedelta | None,
                 now: datetime | None = None) -> dict[str, Any]:
    """The whole report over the last `since` of the log (everything when None)."""
    now = now or utcnow()
    log.flush(timeout=5.0)  # what was asked until now, queued records included
    start = now - since if since is not None else None
    rows = [row for row in log.answers_since(start) if row["created_at"] <= now]
    feedback = log.feedback_since(start)
    total = len(rows)
    refusals = [row for row in rows if row["kind"] == "refusal"]
    by_reason = Counter(row["reason"] or "off_topic" for row in refusals)
    votes = Counter(vote["rating"] for vote in feedback)
    return {
        "generated_at": now.isoformat(timespec="seconds") + "Z",
        "since": start.isoformat(timespec="seconds") + "Z" if start else None,
        "guides": len(assistant.catalogue),
        "questions": total,
        "conversations": len({row["conversation"] for row in rows if row["conversation"]}),
        "per_day": _per_day(rows, start.date() if start else None, now.date()),
        "by_interface": dict(Counter(row["interface"] for row in rows).most_common()),
        "by_language": dict(Counter(row["lang"] for row in rows).most_common()),
        "by_kind": dict(Counter(row["kind"] for row in rows).most_common()),
        "refusals": {
            "count": len(refusals),
            "rate": round(len(refusals) / total, 4) if total else 0.0,
            "by_reason": [{"reason": reason, "label": REASON_LABELS[reason], "count": by_reason[reason],
                           "rate": round(by_reason[reason] / total, 4) if total else 0.0}
                          for reason in REASONS],
        },
        "demand": _demand(rows, assistant.catalogue),
        "unanswered": unanswered_clusters(assistant, rows),
        "feedback": {"up": votes["up"], "down": votes["down"]},
        "thumbs_down": _thumbs_down(feedback),
        "latency_ms_p50": round(float(np.percentile([r["latency_ms"] for r in rows], 50)), 1)
        if rows else None,
    }


def render_text(report: dict[str, Any]) -> str:
    lines = [f"{report['questions']} questions in {report['conversations']} conversations "
             f"since {report['since'] or 'the start of the log'}; "
             f"{report['refusals']['count']} refused ({report['refusals']['rate']:.0%})"]
    for reason in report["refusals"]["by_reason"]:
        lines.append(f"  {reason['label']}: {reason['count']} ({reason['rate']:.0%})")
    if report["demand"]["gaps"]:
        lines.append("asked about, no guide:")
        lines += [f"  {gap['text']}" for gap in report["demand"]["gaps"][:10]]
    if report["unanswered"]:
        lines.append("unanswered, by subject:")
        for cluster in report["unanswered"][:10]:
            near = cluster["nearest"]
            where = f" (nearest: {near['guide']} › {near['section']})" if near else ""
            name = ", ".join(cluster["keywords"]) or cluster["examples"][0]
            lines.append(f"  {name}: {cluster['size']} questions{where}")
            lines += [f"    - {example}" for example in cluster["examples"]]
    if report["thumbs_down"]:
        lines.append("most 👎:")
        lines += [f"  {entry['down']} × {entry['question']}" for entry in report["thumbs_down"][:10]]
    return "\n".join(lines)


# --- HTML ----------------------------------------------------------------------------------

CSS = """
*{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#111827;background:#f3f4f6}main{max-width:980px;margin:0 auto;padding:16px}
h1{font-size:1.5rem;margin:.2em 0}h2{font-size:1.15rem;margin:0 0 .5em}
section{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:14px;margin:12px 0}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:10px}
.kpi{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:10px}
.kpi b{display:block;font-size:1.6rem}.muted{color:#6b7280;font-size:.85rem}
.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%;font-size:.9rem}
td,th{text-align:left;padding:4px 6px;border-bottom:1px solid #f3f4f6;vertical-align:top}
.bar{background:#e5e7eb;border-radius:4px;height:10px;min-width:60px}
.bar i{display:block;height:10px;border-radius:4px;background:#2563eb}
.bar i.gap{background:#dc2626}.tag{display:inline-block;font-size:.75rem;padding:0 6px;border-radius:8px;
background:#fee2e2;color:#991b1b;white-space:nowrap}.gaps li{margin:2px 0}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:10px}
.card{border:1px solid #e5e7eb;border-radius:8px;padding:10px}.card h3{margin:0 0 4px;font-size:1rem}
.card ul{margin:4px 0;padding-left:18px}svg{width:100%;height:auto;display:block}
.legend span{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 10px}
@media (max-width:600px){main{padding:8px}section{padding:10px}.kpi b{font-size:1.3rem}}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _day_chart(per_day: list[dict]) -> str:
    if not per_day:
        return '<p class="muted">No questions in this window.</p>'
    width, height, pad = 600, 180, 24
    top = max(day["questions"] for day in per_day) or 1
    step = (width - pad) / len(per_day)
    bars = []
    for number, day in enumerate(per_day):
        x = pad + number * step
        answered_h = (day["questions"] - day["refused"]) / top * (height - pad)
        refused_h = day["refused"] / top * (height - pad)
        base = height - pad
        label = f"{day['day']}: {day['questions']} questions, {day['refused']} refused"
        bars.append(f'<g><title>{_e(label)}</title>'
                    f'<rect x="{x:.1f}" y="{base - answered_h:.1f}" width="{max(step * .8, .5):.1f}" '
                    f'height="{answered_h:.1f}" fill="#2563eb"/>'
                    f'<rect x="{x:.1f}" y="{base - answered_h - refused_h:.1f}" '
                    f'width="{max(step * .8, .5):.1f}" height="{refused_h:.1f}" fill="#f59e0b"/></g>')
    axis = (f'<line x1="{pad}" y1="{height - pad}" x2="{width}" y2="{height - pad}" stroke="#9ca3af"/>'
            f'<text x="0" y="12" font-size="11" fill="#6b7280">{top}</text>'
            f'<text x="{pad}" y="{height - 6}" font-size="11" fill="#6b7280">{_e(per_day[0]["day"])}</text>'
            f'<text x="{width}" y="{height - 6}" font-size="11" fill="#6b7280" text-anchor="end">'
            f'{_e(per_day[-1]["day"])}</text>')
    return (f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="Questions per day">'
            f'{axis}{"".join(bars)}</svg><div class="legend muted"><span style="background:#2563eb">'
            '</span>answered<span style="background:#f59e0b"></span>refused</div>')


def _bar(value: float, top: float, gap: bool = False) -> str:
    share = 0 if not top else value / top * 100
    return f'<div class="bar"><i class="{"gap" if gap else ""}" style="width:{share:.1f}%"></i></div>'


def _demand_table(rows: list[dict], key: str) -> str:
    if not rows:
        return '<p class="muted">None named.</p>'
    top = max(row["questions"] for row in rows)
    body = "".join(
        f'<tr><td>{_e(row[key] if key != "pair" else row["role"] + " · " + row["place"])}'
        f'{"" if row["has_guide"] else " <span class=tag>no guide</span>"}</td>'
        f'<td>{row["questions"]}</td><td>{row["refused"]}</td>'
        f'<td style="width:40%">{_bar(row["questions"], top, not row["has_guide"])}</td></tr>'
        for row in rows)
    return ('<div class="scroll"><table><tr><th></th><th>asked</th><th>refused</th><th></th></tr>'
            f'{body}</table></div>')


def render_html(report: dict[str, Any]) -> str:
    refusals = report["refusals"]
    top_reason = max([r["count"] for r in refusals["by_reason"]] + [1])
    reasons = "".join(f'<tr><td>{_e(r["label"])}</td><td>{r["count"]}</td><td>{r["rate"]:.0%}</td>'
                      f'<td style="width:45%">{_bar(r["count"], top_reason)}</td></tr>'
                      for r in refusals["by_reason"])
    gaps = "".join(f"<li>{_e(g['text'])}</li>" for g in report["demand"]["gaps"]) \
        or '<li class="muted">Every place and role asked about has a guide.</li>'
    cards = []
    for cluster in report["unanswered"]:
        near = cluster["nearest"]
        title = ", ".join(cluster["keywords"]) or cluster["examples"][0]
        reasons_text = ", ".join(f"{REASON_LABELS.get(k, k)} {v}" for k, v in cluster["reasons"].items())
        cards.append(
            f'<div class="card"><h3>{_e(title)} — {cluster["size"]} '
            f'question{"s" * (cluster["size"] != 1)}</h3>'
            f'<ul>{"".join(f"<li>{_e(q)}</li>" for q in cluster["examples"])}</ul>'
            f'<div class="muted">{_e(reasons_text)}'
            + (f'<br>places: {_e(", ".join(cluster["places"]))}' if cluster["places"] else "")
            + (f'<br>nearest guide section: {_e(near["guide"])} › {_e(near["section"])} '
               f'(similarity {near["similarity"]})' if near else "")
            + "</div></div>")
    downs = "".join(
        f'<tr><td>{entry["down"]}</td><td>{_e(entry["question"])}'
        + (f'<div class="muted">{_e(entry["top_guide"])} › {_e(entry["top_section"])}</div>'
           if entry["top_guide"] else "")
        + "".join(f'<div class="muted">“{_e(c)}”</div>' for c in entry["comments"]) + "</td></tr>"
        for entry in report["thumbs_down"])
    interfaces = ", ".join(f"{_e(k)} {v}" for k, v in report["by_interface"].items()) or "—"
    languages = ", ".join(f"{_e(k)} {v}" for k, v in report["by_language"].items()) or "—"
    since = report["since"] or "the start of the log"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>What recruiters ask — insights</title><style>{CSS}</style></head>
<body><main>
<h1>What recruiters ask, and what the guides don't answer</h1>
<p class="muted">Since {_e(since)} · generated {_e(report["generated_at"])} ·
{report["guides"]} guides indexed</p>
<div class="kpis">
<div class="kpi"><b>{report["questions"]}</b>questions</div>
<div class="kpi"><b>{report["conversations"]}</b>conversations</div>
<div class="kpi"><b>{refusals["rate"]:.0%}</b>refused</div>
<div class="kpi"><b>{report["feedback"]["up"]} / {report["feedback"]["down"]}</b>votes up / down</div>
</div>
<section><h2>Questions per day</h2>{_day_chart(report["per_day"])}
<p class="muted">By interface: {interfaces}. By language: {languages}.</p></section>
<section><h2>Asked about, no guide</h2><ol class="gaps">{gaps}</ol></section>
<section><h2>Refusals by reason</h2><div class="scroll"><table>
<tr><th>reason</th><th>count</th><th>share of all questions</th><th></th></tr>{reasons}
</table></div></section>
<section><h2>Unanswered questions, grouped by subject</h2>
<div class="cards">{"".join(cards) or '<p class="muted">No refusals in this window.</p>'}</div></section>
<section><h2>Demand by place</h2>{_demand_table(report["demand"]["places"], "place")}</section>
<section><h2>Demand by role</h2>{_demand_table(report["demand"]["roles"], "role")}</section>
<section><h2>Demand by role × place</h2>{_demand_table(report["demand"]["pairs"], "pair")}</section>
<section><h2>Answers with the most thumbs-down</h2><div class="scroll"><table>
<tr><th>down</th><th>question</th></tr>
{downs or '<tr><td></td><td class="muted">No thumbs-down in this window.</td></tr>'}</table></div></section>
</main></body></html>
"""
