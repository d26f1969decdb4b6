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
from .chat import Assistant
from .errors import InputError, TooManyRequests
from .phrases import place_name
from .ratelimit import RateLimiter
from .request import trim_history
from .vocab import COUNTRY

MARKDOWN_PUNCT = re.compile(r"([\\`*_\[\]{}()#+!|~])")
UNESCAPE_PUNCT = re.compile(r"\\([\\`*_\[\]{}()#+!|~])")
SOURCE_PREFIX = "Source: "
CHART_COLOURS = ("#2563eb", "#d97706", "#059669", "#7c3aed")
CHART_START = '<div class="salary-chart"'


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
                or (role == "assistant" and text.startswith(CHART_START))):
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


def salary_chart(facts: list[dict]) -> str | None:
    """An HTML range chart: one panel per role and place, one bar per level, on one scale
    so that panels side by side compare at a glance. None when there are no salary facts."""
    rows = [f for f in facts if f.get("kind") == "salary" and f.get("min") is not None
            and f.get("max") is not None]
    if not rows:
        return None
    # Bars start from zero on one scale, so a range's width and position read truthfully.
    low, span = 0.0, max(max(f["max"] for f in rows) * 1.05, 1)
    panels: dict[tuple[str, str], list[dict]] = {}
    for fact in rows:
        panels.setdefault((fact.get("role") or "", fact.get("city") or COUNTRY), []).append(fact)
    blocks = []
    for number, ((role, city), levels) in enumerate(panels.items()):
        colour = CHART_COLOURS[number % len(CHART_COLOURS)]
        bars = []
        for fact in levels:
            left = (fact["min"] - low) / span * 100
            width = max((fact["max"] - fact["min"]) / span * 100, 1)
            figures = f"{_money(fact['min'], fact['currency'])} – {_money(fact['max'], fact['currency'])}"
            bars.append(
                '<div class="salary-row" style="margin:4px 0">'
                f'<div style="font-size:12px">{html.escape(fact["level"])}: {html.escape(figures)}</div>'
                '<div style="position:relative;height:12px;background:#e5e7eb;border-radius:6px">'
                f'<div style="position:absolute;left:{left:.1f}%;width:{width:.1f}%;height:12px;'
                f'background:{colour};border-radius:6px"></div></div></div>')
        title = f"{role} · {place_name(city, 'en')}"
        period = html.escape(levels[0].get("period") or "")
        blocks.append(
            '<div class="salary-panel" style="flex:1 1 200px;min-width:180px">'
            f'<div style="font-weight:600;font-size:13px">{html.escape(title)}</div>'
            f'{"".join(bars)}<div style="font-size:11px;opacity:.7">{period}</div></div>')
    label = html.escape("Salary ranges: " + "; ".join(
        f"{f['level']} {_money(f['min'], f['currency'])}–{_money(f['max'], f['currency'])}" for f in rows))
    return (f'{CHART_START} role="img" aria-label="{label}" '
            f'style="display:flex;gap:16px;flex-wrap:wrap">{"".join(blocks)}</div>')


def _source_message(source: Source) -> gr.ChatMessage:
    quote = source.quote.strip() or "(this section of the guide is empty)"
    body = "\n".join(f"> {escape_markdown(line)}" for line in quote.splitlines() if line.strip())
    # The title is rendered as Markdown too: a heading is guide text like any other.
    title = f"{SOURCE_PREFIX}{escape_markdown(source.title)} › {escape_markdown(source.section)}"
    return gr.ChatMessage(content=body, metadata={"title": title, "status": "done"})


def reply_messages(answer: Answer) -> list[gr.ChatMessage]:
    messages = [gr.ChatMessage(content=escape_markdown(answer.answer))]
    chart = salary_chart(answer.facts)
    if chart:  # a string, not gr.HTML: the /chat API returns replies as JSON
        messages.append(gr.ChatMessage(content=chart))
    messages.extend(_source_message(source) for source in answer.sources)
    return messages


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
        try:
            # The page keeps the whole conversation; the core takes its most recent turns.
            answer = assistant.ask(message, trim_history(plain_history(history), assistant.settings))
        except InputError as error:  # shown in the conversation, like any other reply
            return [gr.ChatMessage(content=escape_markdown(f"Sorry: {error}."))]
        return reply_messages(answer)

    places = ", ".join(place_name(p, "en") for p in catalogue.places)
    description = (f"Answers from {len(catalogue)} recruiting guides: "
                   f"{', '.join(catalogue.roles)} — {places}. Every answer cites its guide.")
    return gr.ChatInterface(
        respond,
        chatbot=text_chatbot(height=520, sanitize_html=True, allow_tags=False, label="Hiring assistant"),
        examples=example_questions(catalogue, "en") or None,
        cache_examples=False,
        title="Hiring assistant",
        description=escape_markdown(description),
        api_name="chat",
        analytics_enabled=False,
        flagging_mode="never",
        save_history=False,
        fill_height=True,
    )
