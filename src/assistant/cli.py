"""The `assistant` command line (DESIGN §3): ingest, ask, ask --batch, chat, serve, insights, eval.

Heavy libraries (torch, chromadb, llama-index) are imported inside the commands, so
`assistant --help` stays fast. Every `AssistantError` becomes one line on stderr and its
exit code (2 bad input, 3 no index yet, 1 other failures, and for `eval` a missed gate);
no traceback reaches the user.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import click

from .errors import AssistantError, InputError

log = logging.getLogger("assistant")


def _settings(**overrides: Any):
    from pydantic import ValidationError

    from .settings import Settings

    try:
        return Settings(**{key: value for key, value in overrides.items() if value is not None})
    except ValidationError as error:  # one line naming the variable, exit 2 (bad input)
        problems = "; ".join(f"ASSISTANT_{'_'.join(str(part) for part in problem['loc']).upper()}: "
                             f"{problem['msg']}" for problem in error.errors())
        raise InputError(f"bad setting: {problems}") from None


def clean_errors(command):
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except AssistantError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(error.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as error:  # last resort: one line, never a traceback
            click.echo(f"error: unexpected {error.__class__.__name__}: {error}", err=True)
            sys.exit(1)
    return wrapper


# `assistant ingest` indexed the good guides but skipped some files (issue 11).
EXIT_SKIPPED = 4

index_option = click.option("--index", "index", type=click.Path(path_type=Path), default=None,
                            help="index folder (default $ASSISTANT_INDEX or .index/)")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hiring-assistant")
def main() -> None:
    """Answers recruiters' questions from the hiring guides in corpus/."""


@main.command()
@click.option("--corpus", type=click.Path(path_type=Path), default=None,
              help="guides folder (default $ASSISTANT_CORPUS or corpus/)")
@index_option
@clean_errors
def ingest(corpus: Path | None, index: Path | None) -> None:
    """Build or update the index from the corpus folder.

    A file that cannot be used (unreadable, not a guide, bad front matter, over
    ASSISTANT_MAX_GUIDE_BYTES) is skipped with one line on stderr naming it and why; every
    other guide is indexed.

    \b
    Exit codes:
      0  every guide indexed
      4  indexed, but some files were skipped (see the "skipped" lines)
      2  no guide could be indexed, or bad usage
      1  failure (e.g. another ingest is running, Chroma unreachable)
    """
    from tqdm import tqdm

    from .corpus import guide_paths
    from .embeddings import default_embedder
    from .index import ingest as run_ingest

    settings = _settings(corpus=corpus, index=index)
    if not settings.corpus.is_dir():
        raise InputError(f"corpus folder {settings.corpus} does not exist")
    total = len(guide_paths(settings.corpus))
    with tqdm(total=total, unit="guide", file=sys.stderr, disable=None, desc="ingest") as bar:
        report = run_ingest(settings, default_embedder(settings), progress=bar.update)
    for error in report.errors:
        click.echo(f"skipped {error}", err=True)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(report.summary())
    if report.errors:
        # Non-zero either way, so that CI or cron notices a skipped file; 4 (not 2) tells a
        # script that the index is usable and holds every other guide.
        sys.exit(2 if report.guides == 0 else EXIT_SKIPPED)


def _assistant(index: Path | None, settings=None):
    """The assistant with its model loaded, so that `latency_ms` is the answer's time alone;
    the load is logged apart. Its question log (ASSISTANT_LOG) is closed, its queue written,
    when the command ends."""
    import atexit

    settings = settings or _settings(index=index)
    embedder = None
    if settings.model_process:
        # Started before llama-index is imported: the model loads on the other core while
        # this process imports llama-index and Chroma and opens the index (model.py).
        from .model import ModelProcess

        process = ModelProcess(settings.embed_model_path, settings.embed_precision)
        atexit.register(process.close)
        from .embeddings import ProcessEmbedding

        embedder = ProcessEmbedding(process, batch_size=settings.embed_batch_size)
    from .chat import Assistant
    from .questionlog import open_question_log

    question_log = open_question_log(settings)
    atexit.register(question_log.close)
    assistant = Assistant(settings, embedder=embedder, question_log=question_log)
    log.info("model loaded in %.0f ms", assistant.load_model())
    return assistant


def _print_answer(answer, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(answer.to_dict(), ensure_ascii=False))
        return
    click.echo(answer.answer)
    for source in answer.sources:
        click.echo(f"  source: {source.title} › {source.section} ({source.file})")


def _read_batch(handle) -> list[dict]:
    from .jsonbody import parse_json

    requests = []
    for number, line in enumerate(handle, 1):
        if not line.strip():
            continue
        # The API's reader: bounded depth and number length, so never a RecursionError.
        request = parse_json(line, subject=f"batch line {number}")
        if not isinstance(request, dict) or not isinstance(request.get("question"), str):
            raise InputError(f'batch line {number}: expected {{"question": str, "history": [...]}}')
        requests.append({"line": number, "question": request["question"],
                         "history": request.get("history") or []})
    return requests


@main.command()
@click.argument("question", required=False)
@click.option("--batch", type=click.File("r", encoding="utf-8"), default=None,
              help="JSON lines file ('-' for stdin): one {question, history} per line")
@click.option("--json", "as_json", is_flag=True, help="print the answer object as JSON")
@index_option
@clean_errors
def ask(question: str | None, batch, as_json: bool, index: Path | None) -> None:
    """Answer one QUESTION, or every line of a --batch file."""
    if (question is None) == (batch is None):
        raise InputError("give either a QUESTION or --batch FILE, not both or neither")
    if batch is None:
        from .request import validate_request

        settings = _settings(index=index)
        validate_request({"question": question}, settings)  # bad input fails before the model loads
        assistant = _assistant(index, settings)
        _print_answer(assistant.ask(question, interface="cli"), as_json)
        assistant.question_log.close()
        return
    try:
        requests = _read_batch(batch)
    except UnicodeDecodeError:
        raise InputError("the batch file is not UTF-8 text") from None
    assistant = _assistant(index)
    answers = []
    for request in requests:  # all answered before any is printed: no half-written output
        try:
            answers.append(assistant.ask(request["question"], request["history"], interface="cli"))
        except InputError as error:
            raise InputError(f"batch line {request['line']}: {error}") from None
    for answer in answers:
        click.echo(json.dumps(answer.to_dict(), ensure_ascii=False))


@main.command()
@index_option
@clean_errors
def chat(index: Path | None) -> None:
    """Talk to the assistant in the terminal (follow-up questions keep their context).

    Line editing and history (arrows, Ctrl-R) come from readline when the terminal has it."""
    interactive = sys.stdin.isatty()
    if interactive:
        try:  # input() then edits the line and keeps this session's questions (Up arrow)
            import readline  # noqa: F401
        except ImportError:  # not on every platform; plain input still works
            pass
    # The index and the model take several seconds to load: say so before the silence.
    click.echo("loading the guides and the model…", err=True)
    started = time.perf_counter()
    assistant = _assistant(index)
    click.echo(f"ready in {time.perf_counter() - started:.1f} s "
               f"(model {assistant.model_load_ms / 1000:.1f} s)", err=True)
    history: list[dict] = []
    click.echo("Ask about hiring in the guides' cities; 'quit' or Ctrl-D to leave.")
    while True:
        try:
            # input(), not click.prompt: readline must own the prompt to redraw it while editing.
            question = input("you> ")
        except (EOFError, KeyboardInterrupt):
            click.echo()
            return
        if question.strip().lower() in ("quit", "exit", ":q"):
            return
        if not question.strip():
            continue
        try:
            answer = assistant.ask(question, history, interface="cli")
        except InputError as error:
            click.echo(f"error: {error}", err=True)
            continue
        _print_answer(answer, as_json=False)
        history += [{"role": "user", "content": question},
                    {"role": "assistant", "content": answer.answer}]


@main.command()
@click.option("--host", default=None, help="address to listen on (default $ASSISTANT_HOST or 127.0.0.1)")
@click.option("--port", type=int, default=None, help="port (default $ASSISTANT_PORT or 7860)")
@index_option
@clean_errors
def serve(host: str | None, port: int | None, index: Path | None) -> None:
    """Serve the chat page, the HTTP API and the embeddable widget."""
    import os

    # Gradio reads this when it is imported; the page also passes analytics_enabled=False.
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import uvicorn

    from .answer import example_questions
    from .api import create_app, server_options
    from .chat import Assistant
    from .questionlog import open_question_log

    settings = _settings(host=host, port=port, index=index)
    question_log = open_question_log(settings)
    assistant = Assistant(settings, question_log=question_log)
    # The embedding model loads on first use (~5 s): pay that now, not on a visitor's
    # question, and report it apart from any answer's latency (also in /api/health).
    click.echo(f"model loaded in {assistant.load_model() / 1000:.1f} s")
    for question in example_questions(assistant.catalogue, "en")[:1]:
        assistant.explain(question)  # a warm-up, not a recruiter's question: not logged
    app = create_app(settings, assistant)
    url = f"http://{settings.host}:{settings.port}"
    click.echo(f"chat page: {url}/  API: {url}/api/docs  widget: {url}/widget.js", err=False)
    stats = question_log.stats()
    click.echo("question log: " + ("on" if stats["enabled"] else f"off {stats.get('error', '')}".strip())
               + ("; /admin/insights needs its token" if settings.admin_token else ""))
    sys.stdout.flush()
    try:
        uvicorn.run(app, **server_options(settings), log_level="warning", access_log=False)
    finally:
        question_log.close()  # what is queued is written before the process ends


@main.command()
@click.option("--since", default="30d", show_default=True,
              help="the window: 30d, 12h, 2w, or all")
@click.option("--html", "html_file", type=click.Path(path_type=Path), default=None,
              help="write the report as one self-contained HTML file")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@index_option
@clean_errors
def insights(since: str, html_file: Path | None, as_json: bool, index: Path | None) -> None:
    """What recruiters ask and what the guides don't answer, from the question log.

    Questions per day, demand by role and place (those without a guide ranked), refusals by
    reason, unanswered questions grouped by meaning with the nearest guide section, and the
    answers with the most thumbs-down. Reads ASSISTANT_LOG_URL (default: questions.db beside
    the index) and the index (for the guides and the embedding model)."""
    from .chat import Assistant
    from .insights import build_report, parse_since, render_html, render_text
    from .questionlog import QuestionLog

    window = parse_since(since)
    settings = _settings(index=index)
    if not settings.log:
        raise InputError("the question log is off (ASSISTANT_LOG=off): there is nothing to report")
    question_log = QuestionLog(settings)
    try:
        assistant = Assistant(settings)
        report = build_report(assistant, question_log, window)
    finally:
        question_log.close()
    if html_file is not None:
        html_file.parent.mkdir(parents=True, exist_ok=True)
        html_file.write_text(render_html(report), encoding="utf-8")
        click.echo(f"report: {html_file}", err=True)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
    elif html_file is None:
        click.echo(render_text(report))


@main.command(name="eval")
@click.option("--sets", "sets_dir", type=click.Path(path_type=Path), default=Path("eval/sets"),
              show_default=True, help="folder of JSON-lines eval sets")
@click.option("--gates", "gates_file", type=click.Path(path_type=Path),
              default=Path("eval/gates.toml"), show_default=True,
              help="gates and per-set corpora (TOML)")
@click.option("--report", "report_md", type=click.Path(path_type=Path),
              default=Path("eval/report.md"), show_default=True, help="the Markdown report")
@click.option("--json", "report_json", type=click.Path(path_type=Path),
              default=Path("eval/out/report.json"), show_default=True,
              help="the JSON report (every case, both systems)")
@click.option("--set", "only", multiple=True, help="run only this set (repeatable)")
@click.option("--no-baseline", is_flag=True, help="skip the plain-retrieval baseline")
@clean_errors
def eval_command(sets_dir: Path, gates_file: Path, report_md: Path, report_json: Path,
                 only: tuple[str, ...], no_baseline: bool) -> None:
    """Run the eval sets on fresh temp indexes; exit 1 when a gate is missed."""
    from .evaluate import evaluate

    run = evaluate(_settings(), sets_dir, gates_file, report_md, report_json, only=only,
                   baseline=not no_baseline)
    for name, data in run.report["sets"].items():
        engine, base = data["engine"], data["baseline"]
        click.echo(f"{name}: {engine['passed']}/{engine['cases']} pass; recall {engine['recall']}"
                   f" (baseline {base.get('recall', '-')}), abstention {engine['abstention_accuracy']},"
                   f" groundedness {engine['groundedness']}, hit@3 {engine['hit_at_3']}"
                   f" (baseline {base.get('hit_at_3', '-')}), MRR {engine['mrr']},"
                   f" p50 {engine['latency_p50_ms']} ms")
    click.echo(f"report: {report_md}, {report_json} ({run.report['seconds']} s)")
    if run.failures:
        for failure in run.failures:
            click.echo(f"gate missed: {failure}", err=True)
        sys.exit(1)
