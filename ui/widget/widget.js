/*
 * Hiring assistant widget: one script tag, no build step.
 *
 *   <script src="https://HOST/widget.js" data-assistant-url="https://HOST"></script>
 *
 * Adds a floating launcher and a chat panel inside a Shadow DOM (the host page's CSS cannot
 * reach in; `:host { all: initial !important }` also cuts off inherited styles). The
 * conversation history lives here, in the page, and is sent with each question to
 * POST {assistant-url}/api/ask. Everything the server sends is shown with textContent,
 * never parsed as HTML. data-assistant-url defaults to the origin this script came from.
 * When a request fails before any response, a no-cors GET {assistant-url}/api/health tells
 * "this site's origin is not allowed" apart from "the server is down".
 * The widget stores nothing (no cookies, no localStorage) and loads nothing else.
 */
(function () {
  "use strict";

  var TAG = "hiring-assistant-widget";
  if (window.customElements && window.customElements.get(TAG)) { return; } // included twice
  if (!window.customElements || !window.fetch) { return; } // too old a browser: no widget

  var script = document.currentScript ||
    document.querySelector('script[src*="widget.js"][data-assistant-url]') ||
    document.querySelector('script[src*="widget.js"]');
  var scriptUrl = script && script.src ? new URL(script.src, document.baseURI) : null;
  var configured = script && script.getAttribute("data-assistant-url");
  var baseUrl = (configured || (scriptUrl ? scriptUrl.origin : window.location.origin)).replace(/\/+$/, "");
  var title = (script && script.getAttribute("data-title")) || "Hiring assistant";
  var MAX_HISTORY_TURNS = 20;       // the server's default caps (ASSISTANT_MAX_HISTORY_*):
  var MAX_HISTORY_CHARS = 32000;    // what is sent stays under them, oldest turns dropped
  var MAX_QUESTION_CHARS = 2000;
  var TIMEOUT_MS = 30000;
  var PROBE_TIMEOUT_MS = 5000; // a server that accepts the probe but never answers counts as down

  var MESSAGES = {
    unreachable: "The assistant can't be reached from this page right now. Check your connection and try again in a moment.",
    notAllowed: "This site is not allowed to use the assistant (its address is not on the assistant's allowlist).",
    rateLimited: "Too many questions in a short time. Please wait a minute, then ask again.",
    timeout: "The assistant took too long to answer. Please try again.",
    tooLong: "That question is too long (the limit is " + MAX_QUESTION_CHARS.toLocaleString("en") + " characters).",
    generic: "Something went wrong while answering. Please try again."
  };

  var CSS = [
    ":host { all: initial !important; position: fixed !important; right: 20px !important;",
    "  bottom: 20px !important; left: auto !important; top: auto !important; z-index: 2147483000 !important;",
    "  display: block !important; visibility: visible !important; opacity: 1 !important;",
    "  transform: none !important; filter: none !important; width: auto !important; height: auto !important;",
    "  font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif !important;",
    "  color: #111827 !important; direction: ltr !important; }",
    "*, *::before, *::after { box-sizing: border-box; }",
    ".launcher { all: unset; box-sizing: border-box; display: flex; align-items: center; justify-content: center;",
    "  width: 56px; height: 56px; border-radius: 50%; background: #1d4ed8; color: #fff; cursor: pointer;",
    "  box-shadow: 0 4px 14px rgba(0,0,0,.25); font-size: 24px; margin-left: auto; }",
    ".launcher:focus-visible, button:focus-visible, textarea:focus-visible, summary:focus-visible {",
    "  outline: 3px solid #f59e0b; outline-offset: 2px; }",
    ".panel { display: flex; flex-direction: column; width: min(380px, calc(100vw - 40px));",
    "  height: min(560px, calc(100vh - 110px)); background: #fff; border: 1px solid #d1d5db;",
    "  border-radius: 12px; box-shadow: 0 10px 30px rgba(0,0,0,.25); margin-bottom: 12px; overflow: hidden; }",
    ".panel[hidden] { display: none; }",
    ".header { display: flex; align-items: center; justify-content: space-between; padding: 10px 14px;",
    "  background: #1d4ed8; color: #fff; font-weight: 600; }",
    ".close { all: unset; cursor: pointer; padding: 2px 8px; border-radius: 4px; font-size: 18px; }",
    ".log { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column; gap: 10px;",
    "  background: #f9fafb; }",
    ".msg { max-width: 90%; padding: 8px 10px; border-radius: 10px; white-space: pre-wrap; word-wrap: break-word; }",
    ".msg.user { align-self: flex-end; background: #dbeafe; }",
    ".msg.assistant { align-self: flex-start; background: #fff; border: 1px solid #e5e7eb; }",
    ".msg.notice { align-self: stretch; background: #fef3c7; border: 1px solid #f59e0b; }",
    ".msg.pending { color: #6b7280; font-style: italic; }",
    ".sources { margin-top: 6px; font-size: 12px; color: #374151; }",
    ".sources summary { cursor: pointer; }",
    ".source { margin: 6px 0 0; }",
    ".source-title { font-weight: 600; }",
    ".quote { margin: 2px 0 0; padding-left: 8px; border-left: 3px solid #93c5fd; white-space: pre-wrap; }",
    ".form { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #e5e7eb; background: #fff; }",
    "textarea { flex: 1; resize: none; font: inherit; color: inherit; padding: 8px; border: 1px solid #9ca3af;",
    "  border-radius: 8px; min-height: 40px; max-height: 120px; background: #fff; }",
    ".send { all: unset; box-sizing: border-box; cursor: pointer; padding: 0 14px; border-radius: 8px;",
    "  background: #1d4ed8; color: #fff; font-weight: 600; display: flex; align-items: center; }",
    ".send[disabled] { opacity: .5; cursor: default; }",
    ".sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }"
  ].join("\n");

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function chatIcon() {
    // Drawn, not an emoji: pages and systems without an emoji font would show a box.
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "26");
    svg.setAttribute("height", "26");
    svg.setAttribute("aria-hidden", "true");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M4 4h16a1 1 0 0 1 1 1v11a1 1 0 0 1-1 1H9l-5 4v-4H4a1 1 0 0 1-1-1V5a1 1 0 0 1 1-1z");
    path.setAttribute("fill", "currentColor");
    svg.appendChild(path);
    return svg;
  }

  class AssistantWidget extends HTMLElement {
    connectedCallback() { build(this); }
  }

  function build(host) {
    if (host.shadowRoot) { return; }
    var root = host.attachShadow({ mode: "open" });
    var style = el("style");
    style.textContent = CSS;
    root.appendChild(style);

    var panelId = "hiring-assistant-panel";
    var panel = el("section", "panel");
    panel.id = panelId;
    panel.hidden = true;
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", title);

    var header = el("div", "header");
    header.appendChild(el("span", "", title));
    var close = el("button", "close", "×");
    close.type = "button";
    close.setAttribute("aria-label", "Close the assistant");
    header.appendChild(close);

    var log = el("div", "log");
    log.setAttribute("role", "log");
    log.setAttribute("aria-live", "polite");
    log.setAttribute("aria-label", "Conversation");
    log.tabIndex = 0;

    var form = el("form", "form");
    var label = el("label", "sr-only", "Your question");
    label.htmlFor = "hiring-assistant-input";
    var input = el("textarea");
    input.id = "hiring-assistant-input";
    input.rows = 1;
    input.maxLength = MAX_QUESTION_CHARS;
    input.placeholder = "Ask about hiring in a city…";
    var send = el("button", "send", "Send");
    send.type = "submit";
    form.appendChild(label);
    form.appendChild(input);
    form.appendChild(send);

    panel.appendChild(header);
    panel.appendChild(log);
    panel.appendChild(form);

    var launcher = el("button", "launcher");
    launcher.appendChild(chatIcon());
    launcher.type = "button";
    launcher.setAttribute("aria-label", "Open the hiring assistant");
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-controls", panelId);

    root.appendChild(panel);
    root.appendChild(launcher);

    var history = [];
    var busy = false;

    function setOpen(open) {
      panel.hidden = !open;
      launcher.setAttribute("aria-expanded", open ? "true" : "false");
      launcher.setAttribute("aria-label", open ? "Close the hiring assistant" : "Open the hiring assistant");
      if (open) {
        if (!log.childElementCount) {
          addMessage("assistant", "Hi! Ask me about salaries, employers, hubs or universities for the roles and cities in our guides.");
        }
        input.focus();
      } else {
        launcher.focus();
      }
    }

    function addMessage(kind, text) {
      var node = el("div", "msg " + kind, text);
      log.appendChild(node);
      log.scrollTop = log.scrollHeight;
      return node;
    }

    function addSources(node, sources) {
      if (!Array.isArray(sources) || !sources.length) { return; }
      var details = el("details", "sources");
      details.open = true;
      details.appendChild(el("summary", "", sources.length === 1 ? "Source" : "Sources (" + sources.length + ")"));
      sources.forEach(function (source) {
        var item = el("div", "source");
        item.appendChild(el("div", "source-title", String(source.title || "") + " › " + String(source.section || "")));
        if (source.quote) { item.appendChild(el("div", "quote", source.quote)); }
        details.appendChild(item);
      });
      node.appendChild(details);
      log.scrollTop = log.scrollHeight;
    }

    function failure(status, body) {
      if (status === 429) { return MESSAGES.rateLimited; }
      if (status === 413) { return MESSAGES.tooLong; }
      if (body && typeof body.error === "string" && status >= 400 && status < 500) {
        return "Sorry: " + body.error + ".";
      }
      if (status === 503) { return MESSAGES.unreachable; }
      return MESSAGES.generic;
    }

    // fetch rejects with the same TypeError whether the server is down or it refused this
    // page's origin: the browser hides the 403 and the missing CORS headers from the page.
    // A no-cors request needs no CORS approval, so any (opaque) response to it means the
    // server is up and it was this origin that was turned away; a rejection means it is down.
    function networkFailure() {
      var controller = window.AbortController ? new AbortController() : null;
      var timer = controller ? setTimeout(function () { controller.abort(); }, PROBE_TIMEOUT_MS) : null;
      return fetch(baseUrl + "/api/health", {
        mode: "no-cors",
        cache: "no-store", // a cached health reply would say "up" for a server that is down now
        credentials: "omit",
        signal: controller ? controller.signal : undefined
      }).then(function () { return MESSAGES.notAllowed; }, function () { return MESSAGES.unreachable; })
        .then(function (message) {
          if (timer) { clearTimeout(timer); }
          return message;
        });
    }

    function recentHistory() {
      var kept = [];
      var total = 0;
      for (var i = history.length - 1; i >= 0 && kept.length < MAX_HISTORY_TURNS; i--) {
        total += history[i].content.length;
        if (total > MAX_HISTORY_CHARS) { break; }
        kept.unshift(history[i]);
      }
      return kept;
    }

    function ask(question) {
      busy = true;
      send.disabled = true;
      addMessage("user", question);
      var pending = addMessage("assistant pending", "Thinking…");
      var controller = window.AbortController ? new AbortController() : null;
      var timer = controller ? setTimeout(function () { controller.abort(); }, TIMEOUT_MS) : null;
      var sent = recentHistory();
      fetch(baseUrl + "/api/ask", {
        method: "POST",
        mode: "cors",
        credentials: "omit",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ question: question, history: sent }),
        signal: controller ? controller.signal : undefined
      }).then(function (response) {
        return response.json().catch(function () { return null; }).then(function (body) {
          return { status: response.status, ok: response.ok, body: body };
        });
      }).then(function (result) {
        pending.remove();
        if (!result.ok || !result.body || typeof result.body.answer !== "string") {
          addMessage("notice", failure(result.status, result.body));
          return;
        }
        var node = addMessage("assistant", result.body.answer);
        addSources(node, result.body.sources);
        history.push({ role: "user", content: question });
        history.push({ role: "assistant", content: result.body.answer });
        history = history.slice(-MAX_HISTORY_TURNS);
      }, function (error) {
        // "Thinking…" stays up (and the form busy) while a network failure is looked into.
        var why = error && error.name === "AbortError" ? Promise.resolve(MESSAGES.timeout) : networkFailure();
        return why.then(function (message) {
          pending.remove();
          addMessage("notice", message);
        });
      }).then(function () {
        if (timer) { clearTimeout(timer); }
        busy = false;
        send.disabled = false;
        input.focus();
      });
    }

    launcher.addEventListener("click", function () { setOpen(panel.hidden); });
    close.addEventListener("click", function () { setOpen(false); });
    panel.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { event.preventDefault(); setOpen(false); }
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit", { cancelable: true }));
      }
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var question = input.value.trim();
      if (!question || busy) { return; }
      if (question.length > MAX_QUESTION_CHARS) { addMessage("notice", MESSAGES.tooLong); return; }
      input.value = "";
      ask(question);
    });
  }

  window.customElements.define(TAG, AssistantWidget);

  function mount() {
    if (!document.querySelector(TAG)) { document.body.appendChild(document.createElement(TAG)); }
  }
  if (document.body) { mount(); } else { document.addEventListener("DOMContentLoaded", mount); }
})();
