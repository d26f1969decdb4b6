"""The chat page: a Gradio `ChatInterface` over `Assistant.ask`, mounted at `/` by the API.

Each reply is the answer text, a small salary range chart when the answer carries salary
facts, and one collapsible message per cited source (guide › section, the quoted lines).
Example questions come from the guides that are indexed. Every string from the answer core
or a guide (answer, quotes, source titles and sections) is escaped before Gradio renders it
as Markdown, so guide or question text never becomes markup; the chart is HTML this module
builds from numbers and escaped labels, sent as a string so the `/chat` API can return it as
JSON. Answering is rate limited with the HTTP API's limiter (one token per question, keyed
like the API). This file does not start a server or read the environment.
"""

from __future__ import annotations

import html
import re
from typing import Any

import gradio as gr
from gradio.components.chatbot import ChatbotDataMessages, TextMessage

from .answer import Answer, Source, example_questions
from .catalogue import Catalogue
from .chat import Assistant
from .corpus import BULLET, split_row
from .errors import AlreadyVoted, AssistantError, InputError, TooManyRequests
from .phrases import period_phrase, place_name
from .questionlog import Feedback
from .ratelimit import RateLimiter
from .request import trim_history
from .vocab import COUNTRY

MARKDOWN_PUNCT = re.compile(r"([\\`*_\[\]{}()#+!|~])")
UNESCAPE_PUNCT = re.compile(r"\\([\\`*_\[\]{}()#+!|~])")
CHART_COLOURS = ("#2563eb", "#d97706", "#059669", "#7c3aed")
CHART_START = '<div class="salary-chart"'
SOURCES_START = '<div class="sources"'
# Labels around the guide text, in the answer's language; the quoted guide text stays as written.
LABELS = {
    "source": {"en": "Source", "nl": "Bron", "fr": "Source"},
    "sources": {"en": "Sources", "nl": "Bronnen", "fr": "Sources"},
    "empty": {"en": "(this section of the guide is empty)", "nl": "(deze sectie van de gids is leeg)",
              "fr": "(cette section du guide est vide)"},
    "chart": {"en": "Salary ranges", "nl": "Salarisvorken", "fr": "Fourchettes de salaire"},
}
PAGE_CSS = """
footer { display: none !important; }
html, body, gradio-app { height: 100%; }
/* Gradio's bundled semi-bold face holds few glyphs: a bold heading in it is drawn in two
   fonts (its first letter apart). Headings use the system's bold font instead. */
.gradio-container h1 { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif !important; }
.gradio-container { min-height: 100dvh !important; }
/* Gradio keeps only a scoped copy of rules in @media (under .gradio-container … .contain):
   plain selectors here. A phone keeps its height for the conversation. */
@media (max-width: 640px) {
  h1 { font-size: 1.3rem !important; margin: 0 0 4px !important; }
  .prose:has(> p) p { font-size: 12px !important; line-height: 1.35 !important; margin: 0 !important; }
}
.sources { margin-top: 2px; font-size: 13px; }
.sources-label { font-size: 11px; text-transform: uppercase; letter-spacing: .04em; opacity: .7; }
.sources .source { margin: 4px 0 8px; }
.sources .source-link { font-weight: 400; }
.sources .quote { border-left: 3px solid #d1d5db; padding-left: 8px; margin-top: 2px; }
.sources .quote p { margin: 2px 0; }
.sources .quote-list { list-style: none; padding: 0; margin: 2px 0; }
.sources .quote-list li { margin: 0; padding: 0; }
.sources .quote-list li::before { content: none; }
.sources .quote-table { border-collapse: collapse; margin: 2px 0; font-size: 12px; width: auto; }
.sources .quote-table td { border: 1px solid #e5e7eb; padding: 2px 6px; }
"""


def escape_markdown(text: str) -> str:
    """Text shown literally by a Markdown renderer: HTML special characters become entities,
    Markdown punctuation is backslash-escaped."""
    return MARKDOWN_PUNCT.sub(r"\\\1", html.escape(text, quote=False))


def unescape_markdown(text: str) -> str:
    return html.unescape(UNESCAPE_PUNCT.sub(r"\1", text))


def _text_of(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # Gradio 6 keeps message content as typed parts
        parts = [part.get("text", "") for part in content
                 if isinstance(part, dict) and part.get("type") == "text"]
        return "\n".join(parts) if parts else None
    return None


def plain_history(history: list[Any] | None) -> list[dict]:
    """Gradio's chat history as the core's turns: user questions and the answer texts only
    (source and chart messages are presentation, not conversation)."""
    turns: list[dict] = []
    for message in history or []:
        message = message if isinstance(message, dict) else getattr(message, "__dict__", {})
        role, metadata = message.get("role"), message.get("metadata") or {}
        text = _text_of(message.get("content"))
        if (role not in ("user", "assistant") or text is None or metadata.get("title")
                or (role == "assistant" and text.startswith((CHART_START, SOURCES_START)))):
            continue
        turns.append({"role": role, "content": unescape_markdown(text) if role == "assistant" else text})
    return turns


def text_chatbot(**options: Any) -> gr.Chatbot:
    """Gradio's chatbot, showing what the user typed as text (Gradio would render a
    question's markup as sanitised HTML). Escaped on the way out, unescaped on the way back
    in, so the history the handler sees is what was typed. The instance's methods are
    wrapped rather than subclassed: Gradio writes a .pyi stub next to any module that
    defines a component subclass."""
    chatbot = gr.Chatbot(**options)
    postprocess, preprocess = chatbot.postprocess, chatbot.preprocess

    def escaped(value: Any) -> ChatbotDataMessages:
        data = postprocess(value)
        for part in _user_text_parts(data):
            part.text = escape_markdown(part.text)
        return data

    def unescaped(payload: ChatbotDataMessages | None) -> list:
        for part in _user_text_parts(payload):
            part.text = unescape_markdown(part.text)
        return preprocess(payload)

    chatbot.postprocess, chatbot.preprocess = escaped, unescaped
    return chatbot


def _user_text_parts(data: ChatbotDataMessages | None) -> list[TextMessage]:
    if data is None:
        return []
    return [part for message in data.root if message.role == "user"
            for part in message.content if isinstance(part, TextMessage)]


def _money(amount: float, currency: str) -> str:
    figure = f"{amount:,.0f}"
    return f"€{figure}" if currency == "EUR" else f"{figure} {currency}"


def _money_short(amount: float, currency: str) -> str:
    figure = f"{amount / 1000:g}k" if amount else "0"
    return f"€{figure}" if currency == "EUR" else f"{figure} {currency}"


def label(name: str, lang: str) -> str:
    """A chat-page label in the answer's language (English when the language has none)."""
    return LABELS[name].get(lang, LABELS[name]["en"])


def axis_ticks(top: float) -> list[float]:
    """Round tick values from 0 to at least `top`, at most six of them: 0, 25k, 50k… ."""
    for step in (1_000, 2_000, 2_500, 5_000, 10_000, 20_000, 25_000, 50_000, 100_000, 200_000,
                 250_000, 500_000, 1_000_000):
        if top / step <= 5:
            break
    else:
        step = max(top / 5, 1)
    count = max(int(-(-top // step)), 1)
    return [step * i for i in range(count + 1)]


def salary_chart(facts: list[dict], lang: str = "en", scale_max: float | None = None) -> str | None:
    """An HTML range chart: one panel per role and place, one bar per level, all on one
    scale from zero with an axis. `scale_max` is the highest salary of the guides the facts
    come from, so that a one-level answer is drawn where it sits among the guide's levels
    (a junior bar stops short of where a senior bar would). None when there are no salary
    facts. Every label is escaped; numbers become widths."""
    rows = [f for f in facts if f.get("kind") == "salary" and f.get("min") is not None
            and f.get("max") is not None]
    if not rows:
        return None
    currency = rows[0].get("currency") or "EUR"
    ticks = axis_ticks(max([f["max"] for f in rows] + [scale_max or 0, 1]))
    span = ticks[-1]
    panels: dict[tuple[str, str], list[dict]] = {}
    for fact in rows:
        panels.setdefault((fact.get("role") or "", fact.get("city") or COUNTRY), []).append(fact)
    axis = "".join(
        f'<span style="position:absolute;left:{tick / span * 100:.1f}%;top:2px;'
        f'transform:translateX({"0" if i == 0 else "-100%" if i == len(ticks) - 1 else "-50%"})">'
        f'{html.escape(_money_short(tick, currency))}</span>'
        for i, tick in enumerate(ticks))
    blocks = []
    for number, ((role, city), levels) in enumerate(panels.items()):
        colour = CHART_COLOURS[number % len(CHART_COLOURS)]
        bars = []
        for fact in levels:
            left = fact["min"] / span * 100
            width = max((fact["max"] - fact["min"]) / span * 100, 1)
            figures = f"{_money(fact['min'], fact['currency'])} – {_money(fact['max'], fact['currency'])}"
            bars.append(
                '<div class="salary-row" style="margin:4px 0">'
                f'<div style="font-size:12px">{html.escape(fact["level"])}: {html.escape(figures)}</div>'
                '<div class="salary-track" style="position:relative;height:12px;background:#e5e7eb;'
                'border-radius:6px">'
                f'<div class="salary-bar" data-level="{html.escape(fact["level"])}" '
                f'style="position:absolute;left:{left:.2f}%;width:{width:.2f}%;height:12px;'
                f'background:{colour};border-radius:6px"></div></div></div>')
        title = f"{role} · {place_name(city, lang)}"
        period = html.escape(period_phrase(levels[0].get("period") or "gross/year", lang))
        blocks.append(
            '<div class="salary-panel" style="flex:1 1 200px;min-width:0">'
            # Weight 400: Gradio's semi-bold face lacks most glyphs, so a 600 title was
            # drawn in two fonts, its first letter apart ("ʙackend", issue 10).
            f'<div class="salary-title" style="font-size:14px">{html.escape(title)}</div>'
            f'{"".join(bars)}'
            '<div class="salary-axis" style="position:relative;height:16px;margin-top:2px;'
            f'border-top:1px solid #9ca3af;font-size:10px;opacity:.8">{axis}</div>'
            f'<div style="font-size:11px;opacity:.7">{period}</div></div>')
    aria = html.escape(label("chart", lang) + ": " + "; ".join(
        f"{f['level']} {_money(f['min'], f['currency'])}–{_money(f['max'], f['currency'])}" for f in rows))
    return (f'{CHART_START} role="img" aria-label="{aria}" '
            f'style="display:flex;gap:16px;flex-wrap:wrap;max-width:100%">{"".join(blocks)}</div>')


def quote_html(quote: str) -> str:
    """A guide quote as text: table rows as a small table (no pipes), list items without
    their markers, other lines as paragraphs. Every cell and line is escaped."""
    parts: list[str] = []
    table: list[list[str]] = []
    items: list[str] = []

    def flush() -> None:
        if table:
            rows = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
                           for row in table)
            parts.append(f'<table class="quote-table">{rows}</table>')
            table.clear()
        if items:
            parts.append('<ul class="quote-list">'
                         + "".join(f"<li>{html.escape(item)}</li>" for item in items) + "</ul>")
            items.clear()

    for line in (raw.strip() for raw in quote.splitlines()):
        if not line:
            continue
        if line.startswith("|"):
            if items:
                flush()
            cells = split_row(line)
            if not all(set(cell) <= set("-: ") for cell in cells):  # not the |---| rule
                table.append(cells)
        elif BULLET.match(line):
            if table:
                flush()
            items.append(BULLET.sub("", line).strip())
        else:
            flush()
            parts.append(f"<p>{html.escape(line)}</p>")
    flush()
    return "".join(parts)


def sources_html(sources: list[Source], lang: str = "en") -> str | None:
    """The cited sources, open (not collapsed): each names its guide and section, as a link
    to the guide's page when its url is known, and shows the quoted lines as text."""
    if not sources:
        return None
    blocks = []
    for source in sources:
        name = html.escape(f"{source.title} › {source.section}")
        if source.url and source.url.startswith(("https://", "http://")):
            head = (f'<a class="source-link" href="{html.escape(source.url, quote=True)}" '
                    f'target="_blank" rel="noopener noreferrer">{name}</a>')
        else:
            head = f'<span class="source-name">{name}</span>'
        quote = quote_html(source.quote) or f'<p class="quote-empty">{html.escape(label("empty", lang))}</p>'
        blocks.append(f'<div class="source">{head}<div class="quote">{quote}</div></div>')
    heading = label("source" if len(sources) == 1 else "sources", lang)
    return (f'{SOURCES_START} aria-label="{html.escape(heading)}">'
            f'<div class="sources-label">{html.escape(heading)}</div>{"".join(blocks)}</div>')


def reply_messages(answer: Answer, lang: str = "en", scale_max: float | None = None
                   ) -> list[gr.ChatMessage]:
    # The answer's id rides in the metadata (no title: not shown as a "thought"), for the
    # like event and for clients of the /chat API.
    metadata = {"id": answer.id} if answer.id else {}
    messages = [gr.ChatMessage(content=escape_markdown(answer.answer), metadata=metadata)]
    # Strings, not gr.HTML: the /chat API returns replies as JSON.
    for block in (salary_chart(answer.facts, lang, scale_max), sources_html(answer.sources, lang)):
        if block:
            messages.append(gr.ChatMessage(content=block))
    return messages


def guide_scale(catalogue: Catalogue, facts: list[dict]) -> float | None:
    """The highest salary in the guides that `facts` quote: the chart's shared scale."""
    keys = {(f.get("role"), f.get("city")) for f in facts if f.get("kind") == "salary"}
    highs = [row.max for guide in catalogue.guides if (guide.role, guide.place) in keys
             for row in guide.salary_rows()]
    return max(highs) if highs else None


def guide_count(count: int) -> str:
    return f"{count} recruiting guide" + ("" if count == 1 else "s")


def build_chat(assistant: Assistant, limiter: RateLimiter | None = None) -> gr.Blocks:
    """The chat page's Blocks (not launched: the API mounts it). With `limiter`, every
    question, from the page or from Gradio's API routes, takes a token from it."""
    catalogue = assistant.catalogue

    def respond(message: str, history: list[Any], request: gr.Request) -> list[gr.ChatMessage]:
        if limiter is not None:
            try:
                limiter.take(request)
            except TooManyRequests as error:
                raise gr.Error(f"{error} ({error.retry_after} s).") from None
        # The page keeps the whole conversation; the core takes its most recent turns.
        turns = trim_history(plain_history(history), assistant.settings)
        try:
            answer = assistant.ask(message, turns, interface="chat",
                                   conversation=getattr(request, "session_hash", None))
        except InputError as error:  # shown in the conversation, like any other reply
            return [gr.ChatMessage(content=escape_markdown(f"Sorry: {error}."))]
        # The labels follow the answer's language, which is the question's (or the
        # conversation's, for a follow-up): the same reading the core made.
        lang = assistant.understand(message, turns).lang
        return reply_messages(answer, lang, guide_scale(catalogue, answer.facts))

    places = ", ".join(place_name(p, "en") for p in catalogue.places)
    description = (f"Answers from {guide_count(len(catalogue))}: "
                   f"{', '.join(catalogue.roles)} — {places}. Every answer cites its guide.")
    examples = example_questions(catalogue, "en")
    placeholder = f"Ask a question, for example: {examples[0]}" if examples else "Ask a question"
    page = gr.ChatInterface(
        respond,
        chatbot=text_chatbot(sanitize_html=True, allow_tags=False, show_label=False, scale=1,
                             min_height=240, latex_delimiters=[], buttons=["copy_all"],
                             elem_id="chat"),
        textbox=gr.Textbox(placeholder=placeholder, show_label=False, container=False,
                           submit_btn=True, lines=1, max_lines=4, autofocus=True),
        examples=examples or None,
        cache_examples=False,
        title="Hiring assistant",
        description=escape_markdown(description),
        api_name="chat",
        analytics_enabled=False,
        flagging_mode="never",
        save_history=False,
        fill_height=True,
    )

    def rate(history: list[Any], data: gr.LikeData, request: gr.Request) -> None:
        """👍/👎 under a reply: the vote on the answer that reply belongs to."""
        if data.liked is True or data.liked == "Like":
            rating = "up"
        elif data.liked is False or data.liked == "Dislike":
            rating = "down"
        else:  # a vote taken back: the log keeps the first vote only
            return
        answer_id = answer_id_at(history, data.index)
        if answer_id is None:
            return
        try:
            if limiter is not None:
                limiter.take(request)
            assistant.question_log.feedback(Feedback(answer_id, rating, None))
        except AlreadyVoted:
            gr.Info("This answer already has your vote.")
        except AssistantError as error:
            gr.Warning(f"Your vote was not saved: {error}.")

    with page:
        page.chatbot.like(rate, inputs=[page.chatbot], outputs=None, api_name=False,
                          show_progress="hidden")
    return page


def answer_id_at(history: list[Any] | None, index: Any) -> str | None:
    """The answer id of the reply at `index` (a chart or sources message belongs to the
    answer text before it)."""
    position = index[0] if isinstance(index, list | tuple) else index
    if not isinstance(position, int) or not history:
        return None
    for message in reversed(list(history)[:position + 1]):
        message = message if isinstance(message, dict) else getattr(message, "__dict__", {})
        if message.get("role") == "user":
            return None
        answer_id = (message.get("metadata") or {}).get("id")
        if isinstance(answer_id, str):
            return answer_id
    return None


def mount_options() -> dict[str, Any]:
    """`gr.mount_gradio_app`'s page options: no footer links (no "Use via API"), and CSS
    that lets the conversation fill the window (on a phone too) and styles the sources."""
    return {"footer_links": [], "css": PAGE_CSS}
