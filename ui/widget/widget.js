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
 * The widget stores nothing (no cookies, no localStorage) and loads nothing else. A random
 * conversation id is made when the page loads and kept in memory only; it is sent with each
 * question (with client "widget") so the question log can group a conversation's questions.
 * Each answer gets 👍/👎 buttons (drawn icons) and an optional short comment, sent to
 * POST {assistant-url}/api/feedback with the answer's id.
 *
 * Staying on screen: the host element is fixed over the *visual* viewport (what the visitor
 * sees), measured with window.visualViewport and rewritten on every resize, scroll and pinch
 * zoom; a CSS `zoom` on the page's <html> is undone. A page that overflows sideways makes a phone's layout viewport wider than the screen,
 * and plain `position: fixed; right: 20px` then lands off screen (issue 10). It is appended to
 * <html>, not <body>, so a transformed body cannot become its containing block. On a narrow
 * screen the open panel is a full-height sheet.
 *
 * Language: the host page's <html lang> (nl, fr; English otherwise). Sources link to their
 * guide's page when the answer gives an http(s) url.
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
  var MAX_HISTORY_TURNS = 20;       // the server's default caps (ASSISTANT_MAX_HISTORY_*):
  var MAX_HISTORY_CHARS = 32000;    // what is sent stays under them, oldest turns dropped
  var MAX_QUESTION_CHARS = 2000;
  var TIMEOUT_MS = 30000;
  var PROBE_TIMEOUT_MS = 5000; // a server that accepts the probe but never answers counts as down

  var STRINGS = {
    en: {
      title: "Hiring assistant", open: "Open the hiring assistant", close: "Close the hiring assistant",
      closeButton: "Close the assistant", question: "Your question", conversation: "Conversation",
      placeholder: "Ask about hiring in a city…", send: "Send", thinking: "Thinking…",
      greeting: "Hi! Ask me about salaries, employers, hubs or universities for the roles and cities in our guides.",
      source: "Source", sources: "Sources", sorry: "Sorry: ",
      unreachable: "The assistant can't be reached from this page right now. Check your connection and try again in a moment.",
      notAllowed: "This site is not allowed to use the assistant (its address is not on the assistant's allowlist).",
      rateLimited: "Too many questions in a short time. Please wait a minute, then ask again.",
      timeout: "The assistant took too long to answer. Please try again.",
      tooLong: "That question is too long (the limit is {n} characters).",
      generic: "Something went wrong while answering. Please try again.",
      voteUp: "Helpful", voteDown: "Not helpful", comment: "Add a comment (optional)",
      sendVote: "Send", thanks: "Thanks for your feedback.", voteFailed: "Your vote was not saved: "
    },
    nl: {
      title: "Wervingsassistent", open: "Open de wervingsassistent", close: "Sluit de wervingsassistent",
      closeButton: "Sluit de assistent", question: "Je vraag", conversation: "Gesprek",
      placeholder: "Stel je vraag…", send: "Verstuur", thinking: "Even denken…",
      greeting: "Hallo! Vraag me naar salarissen, werkgevers, hubs of universiteiten voor de functies en steden in onze gidsen.",
      source: "Bron", sources: "Bronnen", sorry: "Sorry: ",
      unreachable: "De assistent is nu niet bereikbaar vanaf deze pagina. Controleer je verbinding en probeer het zo opnieuw.",
      notAllowed: "Deze site mag de assistent niet gebruiken (het adres staat niet op de lijst van toegelaten sites).",
      rateLimited: "Te veel vragen in korte tijd. Wacht een minuut en vraag het dan opnieuw.",
      timeout: "De assistent deed er te lang over. Probeer het opnieuw.",
      tooLong: "Die vraag is te lang (maximaal {n} tekens).",
      generic: "Er ging iets mis bij het antwoorden. Probeer het opnieuw.",
      voteUp: "Nuttig", voteDown: "Niet nuttig", comment: "Opmerking (optioneel)",
      sendVote: "Verstuur", thanks: "Bedankt voor je feedback.", voteFailed: "Je stem is niet bewaard: "
    },
    fr: {
      title: "Assistant de recrutement", open: "Ouvrir l'assistant de recrutement",
      close: "Fermer l'assistant de recrutement", closeButton: "Fermer l'assistant",
      question: "Votre question", conversation: "Conversation",
      placeholder: "Posez votre question…", send: "Envoyer",
      thinking: "Réflexion…",
      greeting: "Bonjour ! Interrogez-moi sur les salaires, employeurs, hubs ou universités pour les métiers et villes de nos guides.",
      source: "Source", sources: "Sources", sorry: "Désolé : ",
      unreachable: "L'assistant est injoignable depuis cette page pour le moment. Vérifiez votre connexion et réessayez dans un instant.",
      notAllowed: "Ce site n'est pas autorisé à utiliser l'assistant (son adresse n'est pas sur la liste autorisée).",
      rateLimited: "Trop de questions en peu de temps. Attendez une minute, puis réessayez.",
      timeout: "L'assistant a mis trop de temps à répondre. Veuillez réessayer.",
      tooLong: "Cette question est trop longue (au plus {n} caractères).",
      generic: "Une erreur s'est produite pendant la réponse. Veuillez réessayer.",
      voteUp: "Utile", voteDown: "Pas utile", comment: "Un commentaire (facultatif)",
      sendVote: "Envoyer", thanks: "Merci pour votre avis.", voteFailed: "Votre avis n'a pas été enregistré : "
    }
  };
  // The host page's language ("nl-BE" -> "nl"); English for any other or none.
  var pageLang = String(document.documentElement.getAttribute("lang") || "").toLowerCase().split("-")[0];
  var LANG = STRINGS.hasOwnProperty(pageLang) ? pageLang : "en";
  var T = STRINGS[LANG];
  var title = (script && script.getAttribute("data-title")) || T.title;
  var MESSAGES = {
    unreachable: T.unreachable, notAllowed: T.notAllowed, rateLimited: T.rateLimited, timeout: T.timeout,
    tooLong: T.tooLong.replace("{n}", MAX_QUESTION_CHARS.toLocaleString(LANG)), generic: T.generic
  };
  var PHONE_MAX_WIDTH = 520; // a visual viewport this narrow gets the full-height sheet
  var MAX_COMMENT_CHARS = 500; // the server's limit on a feedback comment

  var CSS = [
    // Until place() runs (and without visualViewport): the bottom-right corner of the window.
    ":host { all: initial !important; position: fixed !important; right: 0 !important;",
    "  bottom: 0 !important; left: auto !important; top: auto !important; z-index: 2147483000 !important;",
    "  display: block !important; visibility: visible !important; opacity: 1 !important; margin: 0 !important;",
    "  transform: none !important; filter: none !important; width: 0 !important; height: 0 !important;",
    "  overflow: visible !important; pointer-events: none !important; zoom: 1 !important;",
    "  font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif !important;",
    "  color: #111827 !important; direction: ltr !important; }",
    ".dock { position: absolute; right: 20px; bottom: 20px; display: flex; flex-direction: column;",
    "  align-items: flex-end; pointer-events: auto; max-width: calc(var(--vw, 100vw) - 40px); }",
    ".dock.sheet.open { right: 0; bottom: 0; top: 0; left: 0; max-width: none; }",
    ".dock.sheet.open .panel { width: 100%; height: 100%; border-radius: 0; margin: 0; border: 0; }",
    ".dock.sheet.open .launcher { display: none; }",
    "*, *::before, *::after { box-sizing: border-box; }",
    ".launcher { all: unset; box-sizing: border-box; display: flex; align-items: center; justify-content: center;",
    "  width: 56px; height: 56px; border-radius: 50%; background: #1d4ed8; color: #fff; cursor: pointer;",
    "  box-shadow: 0 4px 14px rgba(0,0,0,.25); font-size: 24px; margin-left: auto; }",
    ".launcher:focus-visible, button:focus-visible, textarea:focus-visible, summary:focus-visible {",
    "  outline: 3px solid #f59e0b; outline-offset: 2px; }",
    ".panel { display: flex; flex-direction: column; width: min(380px, var(--vw, 100vw) - 40px);",
    "  height: min(560px, var(--vh, 100vh) - 110px); background: #fff; border: 1px solid #d1d5db;",
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
    ".sources-label { font-size: 11px; text-transform: uppercase; letter-spacing: .04em; color: #6b7280; }",
    ".source { margin: 6px 0 0; }",
    ".source-title { font-weight: 600; color: inherit; }",
    "a.source-title { color: #1d4ed8; text-decoration: underline; }",
    ".quote { margin: 2px 0 0; padding-left: 8px; border-left: 3px solid #93c5fd; white-space: normal; }",
    ".quote p { margin: 0; }",
    ".quote ul { list-style: none; margin: 0; padding: 0; }",
    ".quote table { border-collapse: collapse; font-size: 12px; }",
    ".quote td { border: 1px solid #e5e7eb; padding: 1px 6px; }",
    ".form { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #e5e7eb; background: #fff; }",
    "textarea { flex: 1; resize: none; font: inherit; color: inherit; padding: 8px; border: 1px solid #9ca3af;",
    "  border-radius: 8px; min-height: 40px; max-height: 120px; background: #fff; }",
    ".send { all: unset; box-sizing: border-box; cursor: pointer; padding: 0 14px; border-radius: 8px;",
    "  background: #1d4ed8; color: #fff; font-weight: 600; display: flex; align-items: center; }",
    ".send[disabled] { opacity: .5; cursor: default; }",
    ".feedback { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; margin-top: 6px; white-space: normal; }",
    ".vote { all: unset; box-sizing: border-box; cursor: pointer; display: inline-flex; align-items: center;",
    "  justify-content: center; width: 30px; height: 26px; border: 1px solid #d1d5db; border-radius: 6px; color: #374151; }",
    ".vote[aria-pressed='true'] { background: #dbeafe; border-color: #1d4ed8; color: #1d4ed8; }",
    ".vote[disabled] { cursor: default; opacity: .6; }",
    ".comment { display: flex; gap: 6px; flex: 1 1 100%; }",
    ".comment[hidden] { display: none; }",
    ".comment input { flex: 1; min-width: 0; font: inherit; font-size: 12px; padding: 4px 6px; border: 1px solid #9ca3af;",
    "  border-radius: 6px; color: inherit; background: #fff; }",
    ".comment button { all: unset; cursor: pointer; font-size: 12px; padding: 2px 10px; border-radius: 6px;",
    "  background: #1d4ed8; color: #fff; }",
    ".feedback-note { font-size: 12px; color: #374151; }",
    ".sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }"
  ].join("\n");

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  // Icons are drawn, not emoji: pages and systems without an emoji font would show a box.
  function icon(size, d, attributes) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", String(size));
    svg.setAttribute("height", String(size));
    svg.setAttribute("aria-hidden", "true");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", d);
    Object.keys(attributes).forEach(function (name) { path.setAttribute(name, attributes[name]); });
    svg.appendChild(path);
    return svg;
  }

  function chatIcon() {
    return icon(26, "M4 4h16a1 1 0 0 1 1 1v11a1 1 0 0 1-1 1H9l-5 4v-4H4a1 1 0 0 1-1-1V5a1 1 0 0 1 1-1z",
                {fill: "currentColor"});
  }

  function thumbIcon(down) {
    var attributes = {fill: "none", stroke: "currentColor", "stroke-width": "2",
                      "stroke-linejoin": "round"};
    if (down) { attributes.transform = "rotate(180 12 12)"; }
    return icon(16, "M14 9V5a3 3 0 0 0-3-3l-4 9v11h11.28a2 2 0 0 0 2-1.7l1.38-9a2 2 0 0 0-2-2.3zM7 22H4a2 2 0 0 1-2-2v-7a2 2 0 0 1 2-2h3",
                attributes);
  }

  // A random id for this page's conversation: in memory only, never stored.
  function randomId() {
    var bytes = new Uint8Array(16);
    if (window.crypto && window.crypto.getRandomValues) {
      window.crypto.getRandomValues(bytes);
    } else {
      for (var i = 0; i < bytes.length; i++) { bytes[i] = Math.floor(Math.random() * 256); }
    }
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
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
    close.setAttribute("aria-label", T.closeButton);
    header.appendChild(close);

    var log = el("div", "log");
    log.setAttribute("role", "log");
    log.setAttribute("aria-live", "polite");
    log.setAttribute("aria-label", T.conversation);
    log.tabIndex = 0;

    var form = el("form", "form");
    var label = el("label", "sr-only", T.question);
    label.htmlFor = "hiring-assistant-input";
    var input = el("textarea");
    input.id = "hiring-assistant-input";
    input.rows = 1;
    input.maxLength = MAX_QUESTION_CHARS;
    input.placeholder = T.placeholder;
    var send = el("button", "send", T.send);
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
    launcher.setAttribute("aria-label", T.open);
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-controls", panelId);

    var dock = el("div", "dock");
    dock.appendChild(panel);
    dock.appendChild(launcher);
    var placement = el("style");
    root.appendChild(placement);
    root.appendChild(dock);

    // The host covers the visual viewport: left/top are its offset in the layout viewport
    // (what `position: fixed` is relative to), and a pinch zoom is undone by scaling, so the
    // widget keeps its size and its corner. Written into the shadow root's own style, whose
    // !important rules the page cannot override.
    var sheet = false;
    function place() {
      var vv = window.visualViewport;
      var scale = vv ? vv.scale || 1 : 1;
      var width = vv ? vv.width * scale : window.innerWidth;
      var height = vv ? vv.height * scale : window.innerHeight;
      sheet = width <= PHONE_MAX_WIDTH;
      dock.className = "dock" + (panel.hidden ? "" : " open") + (sheet ? " sheet" : "");
      var px = function (value) { return Math.round(value * 100) / 100 + "px !important;"; };
      // CSS `zoom` on the page's <html> multiplies into the widget (its size and its offsets):
      // undone with the inverse zoom, where the browser tells the zoom (currentCSSZoom).
      var inherited = (host.parentNode && host.parentNode.currentCSSZoom) || 1;
      placement.textContent = vv ?
        ":host { zoom: " + (1 / inherited) + " !important;" +
        " left: " + px(vv.offsetLeft) + " top: " + px(vv.offsetTop) + " right: auto !important;" +
        " bottom: auto !important; width: " + px(width) + " height: " + px(height) +
        " transform: scale(" + (1 / scale) + ") !important; transform-origin: 0 0 !important;" +
        " --vw: " + width + "px; --vh: " + height + "px; }" : "";
    }
    place();
    if (window.visualViewport) {
      window.visualViewport.addEventListener("resize", place);
      window.visualViewport.addEventListener("scroll", place);
    }
    window.addEventListener("resize", place);

    var history = [];
    var busy = false;
    var conversation = randomId();

    function setOpen(open) {
      panel.hidden = !open;
      launcher.setAttribute("aria-expanded", open ? "true" : "false");
      launcher.setAttribute("aria-label", open ? T.close : T.open);
      dock.className = "dock" + (open ? " open" : "") + (sheet ? " sheet" : "");
      if (open) {
        if (!log.childElementCount) {
          addMessage("assistant", T.greeting);
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

    // A quote as text: table rows as a small table (no pipes), list items without markers.
    function addQuote(parent, quote) {
      var box = el("div", "quote");
      var table = null;
      var list = null;
      String(quote).split("\n").forEach(function (raw) {
        var line = raw.trim();
        if (!line) { return; }
        if (line.charAt(0) === "|") {
          list = null;
          var cells = line.replace(/^\|/, "").replace(/\|$/, "").split("|");
          if (cells.every(function (cell) { return /^[\s:-]*$/.test(cell); })) { return; } // |---|
          if (!table) { table = box.appendChild(el("table")); }
          var row = table.appendChild(el("tr"));
          cells.forEach(function (cell) { row.appendChild(el("td", "", cell.trim())); });
        } else if (/^(?:[-*•·]|\d+[.)])\s+/.test(line)) {
          table = null;
          if (!list) { list = box.appendChild(el("ul")); }
          list.appendChild(el("li", "", line.replace(/^(?:[-*•·]|\d+[.)])\s+/, "")));
        } else {
          table = null;
          list = null;
          box.appendChild(el("p", "", line));
        }
      });
      parent.appendChild(box);
    }

    function addSources(node, sources) {
      if (!Array.isArray(sources) || !sources.length) { return; }
      var block = el("div", "sources");
      block.appendChild(el("div", "sources-label", sources.length === 1 ? T.source : T.sources));
      sources.forEach(function (source) {
        var item = el("div", "source");
        var name = String(source.title || "") + " › " + String(source.section || "");
        var url = typeof source.url === "string" ? source.url : "";
        var head;
        if (/^https?:\/\//i.test(url)) { // only a web page: never javascript: or data:
          head = el("a", "source-title", name);
          head.href = url;
          head.target = "_blank";
          head.rel = "noopener noreferrer";
        } else {
          head = el("div", "source-title", name);
        }
        item.appendChild(head);
        if (source.quote) { addQuote(item, source.quote); }
        block.appendChild(item);
      });
      node.appendChild(block);
      log.scrollTop = log.scrollHeight;
    }

    // 👍/👎 under an answer; a vote opens an optional comment, and Send (or Enter) posts both.
    function addFeedback(node, answerId) {
      var bar = el("div", "feedback");
      var up = el("button", "vote up");
      var down = el("button", "vote down");
      var chosen = null;
      [[up, T.voteUp, "up", false], [down, T.voteDown, "down", true]].forEach(function (spec) {
        var button = spec[0];
        button.type = "button";
        button.title = spec[1];
        button.setAttribute("aria-label", spec[1]);
        button.setAttribute("aria-pressed", "false");
        button.appendChild(thumbIcon(spec[3]));
        button.addEventListener("click", function () {
          chosen = spec[2];
          up.setAttribute("aria-pressed", chosen === "up" ? "true" : "false");
          down.setAttribute("aria-pressed", chosen === "down" ? "true" : "false");
          comment.hidden = false;
          field.focus();
        });
        bar.appendChild(button);
      });
      var comment = el("div", "comment");
      comment.hidden = true;
      var field = el("input");
      field.type = "text";
      field.maxLength = MAX_COMMENT_CHARS;
      field.placeholder = T.comment;
      field.setAttribute("aria-label", T.comment);
      var submit = el("button", "", T.sendVote);
      submit.type = "button";
      comment.appendChild(field);
      comment.appendChild(submit);
      bar.appendChild(comment);

      function post() {
        if (!chosen || submit.disabled) { return; }
        submit.disabled = up.disabled = down.disabled = field.disabled = true;
        var body = { id: answerId, rating: chosen };
        if (field.value.trim()) { body.comment = field.value.trim(); }
        fetch(baseUrl + "/api/feedback", {
          method: "POST", mode: "cors", credentials: "omit",
          headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
        }).then(function (response) {
          return response.json().catch(function () { return null; }).then(function (data) {
            return { ok: response.ok, body: data };
          });
        }).then(function (result) {
          comment.remove();
          var why = result.body && typeof result.body.error === "string" ? result.body.error : "";
          bar.appendChild(el("span", "feedback-note", result.ok ? T.thanks : T.voteFailed + why));
        }, function () {
          comment.remove();
          bar.appendChild(el("span", "feedback-note", T.voteFailed + MESSAGES.unreachable));
        });
      }
      submit.addEventListener("click", post);
      field.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && !event.isComposing) { event.preventDefault(); post(); }
      });
      node.appendChild(bar);
    }

    function failure(status, body) {
      if (status === 429) { return MESSAGES.rateLimited; }
      if (status === 413) { return MESSAGES.tooLong; }
      if (body && typeof body.error === "string" && status >= 400 && status < 500) {
        return T.sorry + body.error + ".";
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
      var pending = addMessage("assistant pending", T.thinking);
      var controller = window.AbortController ? new AbortController() : null;
      var timer = controller ? setTimeout(function () { controller.abort(); }, TIMEOUT_MS) : null;
      var sent = recentHistory();
      fetch(baseUrl + "/api/ask", {
        method: "POST",
        mode: "cors",
        credentials: "omit",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ question: question, history: sent, conversation: conversation, client: "widget" }),
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
        if (typeof result.body.id === "string") { addFeedback(node, result.body.id); }
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
    // On <html>, beside <body>: a transform or filter on the page's body would otherwise
    // become the containing block of `position: fixed` and carry the widget off screen.
    if (!document.querySelector(TAG)) { document.documentElement.appendChild(document.createElement(TAG)); }
  }
  if (document.body) { mount(); } else { document.addEventListener("DOMContentLoaded", mount); }
})();
