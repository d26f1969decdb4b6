"""`make demo-insights`: a temporary question log filled through the real `Assistant`, and its report.

Indexes tests/data/guides (six guides: backend developers in Leuven, Ghent and Belgium, data
scientists in Brussels, DevOps engineers in Leuven, frontend developers in Antwerp) with the
packaged model into a temp folder, then asks a few hundred varied questions through
`Assistant.ask` with a question log on a temp SQLite file: covered questions, subjects the
guides do not cover (benefits, work permits, remote work, notice periods, recruiter fees,
relocation) in several phrasings, places and roles without a guide, off-topic questions,
Dutch and French, in conversations of one to three questions over the last 30 days (the
log's clock is moved for each, the only thing not real), with 👍/👎 on some answers. Then
writes the report: eval/out/insights.html (+ .json) and screenshots of it at desktop
(1280x900) and phone (390x844) size with Debian's chromium: eval/out/insights-desktop.png,
eval/out/insights-phone.png. Seeded: the same questions every run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from assistant.chat import Assistant  # noqa: E402
from assistant.embeddings import default_embedder  # noqa: E402
from assistant.index import ingest  # noqa: E402
from assistant.insights import build_report, render_html, render_text  # noqa: E402
from assistant.questionlog import Feedback, QuestionLog, utcnow  # noqa: E402
from assistant.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GUIDES = ROOT / "tests" / "data" / "guides"
OUT = ROOT / "eval" / "out"
CHROMIUM = "/usr/bin/chromium"

COVERED = [
    "What does a {level} backend developer earn in {guide_city}?",
    "Which companies hire backend developers in {guide_city}?",
    "Which universities are there in {guide_city} for backend developers?",
    "What do senior data scientists earn in Brussels?",
    "Which employers hire data scientists in Brussels?",
    "What is the salary of a junior DevOps engineer in Leuven?",
    "Frontend developer salaries in Antwerp?",
    "Which skills are in demand for frontend developers in Antwerp?",
    "Hoeveel verdient een junior backend developer in Gent?",
    "Combien gagne un développeur backend senior à Louvain ?",
]
UNCOVERED = {
    "benefits": ["What benefits packages do companies in {city} offer developers?",
                 "Which perks and fringe benefits are usual for {role} in {city}?",
                 "Are meal vouchers and hospital insurance standard for {role} in {city}?",
                 "What extra-legal benefits should I offer a {role_one} in {city}?",
                 "Welke extralegale voordelen krijgen {role} in {city}?"],
    "work permits": ["How do I sponsor a work visa for a non-EU developer in {city}?",
                     "What is the work permit process to hire {role} from India in {city}?",
                     "Can we get a single permit for a foreign {role_one} in {city}?",
                     "How long does a work permit take for non-European {role}?"],
    "remote work": ["Do {role} in {city} expect to work remotely?",
                    "How many remote working days do {role} in {city} want per week?",
                    "Is hybrid or fully remote work common for {role} in {city}?",
                    "Les {role} à {city} veulent-ils télétravailler ?"],
    "notice periods": ["What notice period do {role} in {city} usually have to serve?",
                       "How long is the notice period when hiring a {role_one} away from another "
                       "company in {city}?",
                       "Can a {role_one} in {city} leave without serving their full notice?"],
    "recruiter fees": ["What fee do recruitment agencies charge to hire {role} in {city}?",
                       "How much commission does a headhunter take for a {role_one} in {city}?"],
    "relocation": ["Should we pay relocation costs for {role} moving to {city}?",
                   "What relocation package do companies offer {role} moving to {city}?"],
}
NO_GUIDE = [
    "What do {role} earn in {city}?",
    "Which companies hire {role} in {city}?",
    "How hard is it to hire {role} in {city}?",
]
OFF_TOPIC = ["What is the capital of Peru?", "What is the best pizza in Naples?",
             "Can you write me a poem about spring?", "What's the weather like tomorrow?",
             "Who won the football match yesterday?"]
GUIDE_CITIES = ["Leuven", "Ghent"]
CITIES = ["Leuven", "Ghent", "Antwerp", "Brussels", "Namur", "Liège", "Mechelen", "Hasselt",
          "Bruges", "Charleroi"]
# How often each city is asked about: Namur and Liège (no guide) come up a lot.
CITY_WEIGHTS = [10, 8, 6, 7, 6, 5, 3, 3, 2, 2]
ROLES = [("backend developers", "backend developer"), ("data scientists", "data scientist"),
         ("DevOps engineers", "DevOps engineer"), ("mobile developers", "mobile developer"),
         ("QA engineers", "QA engineer"), ("security engineers", "security engineer"),
         ("product managers", "product manager")]
ROLE_WEIGHTS = [10, 5, 4, 4, 3, 3, 2]
LEVELS = ["junior", "medior", "senior", "lead"]


def question(rng: random.Random) -> str:
    city = rng.choices(CITIES, CITY_WEIGHTS)[0]
    role, role_one = rng.choices(ROLES, ROLE_WEIGHTS)[0]
    kind = rng.choices(["covered", "uncovered", "no_guide", "off_topic"], [35, 45, 14, 6])[0]
    if kind == "covered":
        template = rng.choice(COVERED)
    elif kind == "uncovered":
        subject = rng.choices(list(UNCOVERED), [30, 20, 20, 12, 10, 8])[0]
        template = rng.choice(UNCOVERED[subject])
    elif kind == "no_guide":
        template = rng.choice(NO_GUIDE)
    else:
        template = rng.choice(OFF_TOPIC)
    return template.format(city=city, role=role, role_one=role_one, level=rng.choice(LEVELS),
                           guide_city=rng.choice(GUIDE_CITIES))


def screenshots(html_file: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    shots = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--headless", "--no-sandbox", "--disable-gpu"])
        for name, size in (("desktop", {"viewport": {"width": 1280, "height": 900}}),
                           ("phone", {"viewport": {"width": 390, "height": 844}, "is_mobile": True,
                                      "has_touch": True, "device_scale_factor": 2})):
            context = browser.new_context(**size)
            page = context.new_page()
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                       else route.abort())  # self-contained: nothing else may load
            page.goto(html_file.as_uri())
            width = page.evaluate("document.documentElement.scrollWidth")
            print(f"{name}: page {width} px wide in a {size['viewport']['width']} px viewport")
            path = OUT / f"insights-{name}.png"
            page.screenshot(path=str(path), full_page=True)
            shots.append(path)
            context.close()
        browser.close()
    return shots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--no-screenshots", action="store_true")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="demo-insights-") as work:
        settings = Settings(corpus=GUIDES, index=Path(work) / "index",
                            log_url=f"sqlite:///{Path(work) / 'questions.db'}")
        started = time.perf_counter()
        embedder = default_embedder(settings)
        ingest(settings, embedder)
        now = utcnow()
        clock = [now]
        question_log = QuestionLog(settings, clock=lambda: clock[0])
        assistant = Assistant(settings, embedder=embedder, question_log=question_log)
        assistant.load_model()
        print(f"indexed {len(assistant.catalogue)} guides in {time.perf_counter() - started:.0f} s")
        asked, votes, started = 0, 0, time.perf_counter()
        while asked < args.questions:
            conversation = uuid.uuid4().hex
            interface = rng.choices(["widget", "chat", "api", "cli"], [50, 30, 15, 5])[0]
            clock[0] = now - timedelta(days=rng.random() * 30 * rng.random() ** 0.3)
            history: list[dict] = []
            for _ in range(rng.choices([1, 2, 3], [60, 30, 10])[0]):
                text = question(rng)
                answer = assistant.ask(text, history, interface=interface,
                                       conversation=None if interface == "cli" else conversation)
                history += [{"role": "user", "content": text},
                            {"role": "assistant", "content": answer.answer}]
                asked += 1
                clock[0] += timedelta(seconds=rng.randint(10, 90))
                if rng.random() < (0.35 if answer.abstained else 0.15):
                    question_log.flush(answer_id=answer.id)
                    down = rng.random() < (0.8 if answer.abstained else 0.2)
                    comment = rng.choice([None, None, "not what I asked", "need this for Namur too",
                                          "great, thanks", "figures look old"])
                    question_log.feedback(Feedback(answer.id, "down" if down else "up", comment))
                    votes += 1
        seconds = time.perf_counter() - started
        print(f"asked {asked} questions through Assistant.ask in {seconds:.0f} s; {votes} votes")
        clock[0] = now
        report = build_report(assistant, question_log, timedelta(days=30), now=now)
        print(f"log: {question_log.stats()}")
        question_log.close()
    html_file = OUT / "insights.html"
    html_file.write_text(render_html(report), encoding="utf-8")
    (OUT / "insights.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    print(render_text(report))
    print(f"report: {html_file} ({html_file.stat().st_size // 1024} KB), {OUT / 'insights.json'}")
    if not args.no_screenshots:
        for path in screenshots(html_file):
            print(f"screenshot: {path}")


if __name__ == "__main__":
    main()
