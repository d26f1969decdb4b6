"""Real-browser tests: Debian's chromium driven by Playwright, against `assistant serve`.

The test starts everything itself: an index of tests/data/guides, `assistant serve` as a
subprocess on a free loopback port, two static "host site" servers on other loopback
ports (one listed in ASSISTANT_ALLOWED_ORIGINS, one not), a loopback port where no server
listens (an assistant that is down), and /usr/bin/chromium (never a downloaded browser;
`make chromium` installs the Debian package). Screenshots of the chat page and the widget go to
tests/artifacts/ (`make screenshots` writes the reviewer's set under eval/out/). Sizes: desktop
1280x900 and a phone, 390x844 with mobile emulation (a page wider than the screen widens the
layout viewport there, as on a real phone). Nothing here is timed: waits are upper bounds.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
GUIDES = Path(__file__).parent / "data" / "guides"
ARTIFACTS = Path(__file__).parent / "artifacts"
# `make screenshots` points this at eval/out/screenshots for a reviewer.
SCREENSHOTS = Path(os.environ.get("SCREENSHOTS_DIR") or ARTIFACTS)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ANSWER_WAIT_MS = 60_000  # the first answer also warms the model up
JUNIOR_LEUVEN = "What does a junior backend developer earn in Leuven?"
JUNIOR, SENIOR = "€37,080 – €49,440", "€61,800 – €87,550"
LEUVEN_SALARIES = "Recruiting Backend Developers in Leuven › Salary Ranges"
LEUVEN_PAGE = "https://www.bedevs.be/hiring/backend-developers-in-leuven"  # base URL + slug
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 2}
SIZES = {"desktop": DESKTOP, "phone": PHONE}
MARKUP = '<img src=x onerror="window.__pwned=1;alert(1)"> What do junior backend developers earn in Leuven?'
UNREACHABLE = "can't be reached"  # the widget's notices, as the visitor reads them
NOT_ALLOWED = "This site is not allowed to use the assistant"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's name
        pass


@contextlib.contextmanager
def _static_site(folder: Path) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Two static host sites on their own loopback ports: 'listed' and 'unlisted'."""
    listed_dir = tmp_path_factory.mktemp("listed-site")
    unlisted_dir = tmp_path_factory.mktemp("unlisted-site")
    with _static_site(listed_dir) as listed, _static_site(unlisted_dir) as unlisted:
        yield {"listed": listed, "unlisted": unlisted, "dirs": (listed_dir, unlisted_dir)}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def log_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The served assistant's question log: a SQLite file the tests read back."""
    return f"sqlite:///{tmp_path_factory.mktemp('question-log') / 'questions.db'}"


ADMIN_TOKEN = "browser-tests-admin-token-42"


@pytest.fixture(scope="module")
def server(guides_index: Path, sites: dict, log_db: str,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "ASSISTANT_ALLOWED_ORIGINS": sites["listed"], "GRADIO_ANALYTICS_ENABLED": "False",
           "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "ASSISTANT_CORPUS": str(GUIDES),
           "ASSISTANT_LOG_URL": log_db, "ASSISTANT_ADMIN_TOKEN": ADMIN_TOKEN}
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    command = [str(Path(sys.executable).parent / "assistant"), "serve", "--host", "127.0.0.1",
               "--port", str(port), "--index", str(guides_index)]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                pytest.fail(f"assistant serve exited with {process.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"assistant serve did not come up:\n{log.read_text()}")
            time.sleep(0.5)
        for folder in sites["dirs"]:  # the "pasted script tag" pages, pointing at this server
            (folder / "index.html").write_text(
                "<!doctype html><html><head><meta charset='utf-8'><title>Host site</title>"
                "<style>*{color:red!important;font-size:40px!important}</style></head><body>"
                "<h1>A guide page on another site</h1>"
                f'<script src="{url}/widget.js" data-assistant-url="{url}"></script></body></html>',
                encoding="utf-8")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def down_page(server: str, sites: dict) -> Iterator[tuple[str, str]]:
    """A page on the listed site whose widget points at an assistant that is down:
    (page url, assistant url). widget.js still comes from the live server; the assistant
    url is a loopback port that is bound but not listening, so connecting is refused (and,
    being held, no other process can start listening there during the test)."""
    with socket.socket() as dead:
        dead.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{dead.getsockname()[1]}"
        (sites["dirs"][0] / "down.html").write_text(
            "<!doctype html><html><head><meta charset='utf-8'><title>Host site</title></head><body>"
            "<h1>A guide page whose assistant is down</h1>"
            f'<script src="{server}/widget.js" data-assistant-url="{down}"></script></body></html>',
            encoding="utf-8")
        yield f"{sites['listed']}/down.html", down


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make chromium` (or apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def new_page(browser: Browser, size: dict = DESKTOP):
    """A page in a fresh context of that size, recording dialogs (none may open)."""
    context = browser.new_context(**size)
    page = context.new_page()
    page.dialogs = []  # type: ignore[attr-defined]
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    return context, page


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context, page = new_page(browser)
    yield page
    context.close()


@pytest.fixture(params=list(SIZES))
def sized_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """The same test at desktop and at phone size."""
    context, page = new_page(browser, SIZES[request.param])
    page.size_name = request.param  # type: ignore[attr-defined]
    yield page
    context.close()


# What the visitor can see of every element: its box cut by each ancestor that clips
# (overflow other than visible), so a message scrolled out of the conversation is not "off
# screen". Returns the elements whose visible part is outside the visual viewport.
OUTSIDE_VIEWPORT_JS = """(where) => {
  const vv = window.visualViewport;
  const view = {left: vv.offsetLeft, top: vv.offsetTop, right: vv.offsetLeft + vv.width,
                bottom: vv.offsetTop + vv.height};
  const scope = where === 'widget'
    ? document.querySelector('hiring-assistant-widget').shadowRoot : document.body;
  const parentOf = (e) => e.parentElement || (e.parentNode && e.parentNode.host) || null;
  const outside = [];
  for (const e of scope.querySelectorAll('*')) {
    const style = getComputedStyle(e);
    if (style.display === 'none' || style.visibility === 'hidden' || e.closest('[hidden]')) continue;
    const r = e.getBoundingClientRect();
    let box = {left: r.left, top: r.top, right: r.right, bottom: r.bottom};
    for (let a = parentOf(e); a && a !== document.documentElement && a !== document.body; a = parentOf(a)) {
      const o = getComputedStyle(a);
      if (o.overflowX === 'visible' && o.overflowY === 'visible') continue;
      const c = a.getBoundingClientRect();
      box = {left: Math.max(box.left, c.left), top: Math.max(box.top, c.top),
             right: Math.min(box.right, c.right), bottom: Math.min(box.bottom, c.bottom)};
    }
    if (box.right - box.left < 1 || box.bottom - box.top < 1) continue;  // nothing of it shows
    if (box.left < view.left - 1 || box.top < view.top - 1 || box.right > view.right + 1
        || box.bottom > view.bottom + 1) {
      outside.push(`${e.tagName.toLowerCase()}.${e.getAttribute('class') || ''}`.slice(0, 80) + ' ' +
                   [box.left, box.top, box.right, box.bottom].map(Math.round).join(','));
    }
  }
  return outside;
}"""


def assert_within_viewport(page: Page, where: str = "page") -> None:
    outside = page.evaluate(OUTSIDE_VIEWPORT_JS, where)
    assert outside == [], f"outside the viewport: {outside[:10]}"


def _screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


# --- the chat page ------------------------------------------------------------------------


def _chat_ask(page: Page, question: str) -> None:
    box = page.get_by_role("textbox").first
    box.fill(question)
    box.press("Enter")


def test_chat_page_salary_answer_with_figures_and_source(server: str, page: Page) -> None:
    page.goto(f"{server}/")
    places = httpx.get(f"{server}/api/health").json()["places"]
    examples = page.locator(".examples button, button.example")
    expect(examples.first).to_be_visible(timeout=ANSWER_WAIT_MS)
    texts = examples.all_inner_texts()
    assert texts and all(any(place in text for place in places) for text in texts)

    _chat_ask(page, JUNIOR_LEUVEN)
    bot = page.locator("[data-testid='bot']")
    expect(bot.filter(has_text=JUNIOR).first).to_be_visible(timeout=ANSWER_WAIT_MS)
    # the source is shown open, as a link to the guide's page, its quote as a small table
    link = page.locator("a.source-link").first
    expect(link).to_have_text(LEUVEN_SALARIES)
    expect(link).to_have_attribute("href", LEUVEN_PAGE)
    expect(page.locator(".quote-table td").filter(has_text=JUNIOR).first).to_be_visible()
    expect(page.locator(".sources").first).not_to_contain_text("|")
    expect(page.locator(".sources-label").first).to_have_text("Source")
    expect(page.locator(".salary-chart").first).to_be_visible()

    _chat_ask(page, "and seniors?")
    expect(bot.filter(has_text=SENIOR).first).to_be_visible(timeout=ANSWER_WAIT_MS)
    _screenshot(page, "chat-page.png")


def _bar_ends(page: Page) -> list[tuple[float, list[str]]]:
    """Each chart's bar: where it ends as a fraction of its track, and the chart's axis labels."""
    return page.evaluate("""() => [...document.querySelectorAll('.salary-chart')].map(chart => {
      const bar = chart.querySelector('.salary-bar').getBoundingClientRect();
      const track = chart.querySelector('.salary-track').getBoundingClientRect();
      return [(bar.right - track.left) / track.width,
              [...chart.querySelectorAll('.salary-axis span')].map(s => s.textContent)];
    })""")


def test_chat_page_chart_bars_differ_by_level_on_one_scale(server: str, sized_page: Page) -> None:
    page = sized_page
    page.goto(f"{server}/")
    _chat_ask(page, JUNIOR_LEUVEN)
    expect(page.locator(".salary-chart")).to_have_count(1, timeout=ANSWER_WAIT_MS)
    _chat_ask(page, "and seniors?")
    expect(page.locator(".salary-chart")).to_have_count(2, timeout=ANSWER_WAIT_MS)
    (junior, junior_axis), (senior, senior_axis) = _bar_ends(page)
    assert junior_axis == senior_axis and junior_axis[0] == "€0" and len(junior_axis) >= 3
    # on the guide's one scale (0 to €100k here), the junior maximum ends far left of the senior's
    assert junior == pytest.approx(0.4944, abs=0.02) and senior == pytest.approx(0.8755, abs=0.02)
    title = page.locator(".salary-title").first
    expect(title).to_have_text("Backend Developers · Leuven")
    # one font for each whole title: Gradio's bundled semi-bold face lacks most glyphs, so a
    # bold title was drawn in two fonts, its first letter apart (issue 10's "ʙackend")
    for selector in (".salary-title", "h1"):
        assert len(_fonts_drawing(page, selector)) == 1, (selector, _fonts_drawing(page, selector))


def _fonts_drawing(page: Page, selector: str) -> list[str]:
    """The fonts chromium drew the first `selector` element's text with (DevTools protocol)."""
    session = page.context.new_cdp_session(page)
    try:
        session.send("DOM.enable")
        session.send("CSS.enable")
        root = session.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
        node = session.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        fonts = session.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        return [font["postScriptName"] for font in fonts]
    finally:
        session.detach()


def test_chat_page_fills_the_window_with_nothing_off_screen(server: str, sized_page: Page) -> None:
    page = sized_page
    page.goto(f"{server}/")
    box = page.get_by_role("textbox").first
    expect(box).to_be_visible(timeout=ANSWER_WAIT_MS)
    placeholder = box.get_attribute("placeholder") or ""
    assert placeholder.startswith("Ask a question, for example:") and "?" in placeholder
    expect(page.locator("footer")).to_be_hidden()  # no "Use via API" footer
    expect(page.get_by_text("Use via API")).to_have_count(0)
    expect(page.get_by_text("1 recruiting guides")).to_have_count(0)
    bot = page.locator("[data-testid='bot']")
    for question, shown in ((JUNIOR_LEUVEN, JUNIOR), ("and seniors?", SENIOR),
                            ("Which companies hire backend developers in Ghent?", "Showpad")):
        _chat_ask(page, question)
        expect(bot.filter(has_text=shown).first).to_be_visible(timeout=ANSWER_WAIT_MS)
    # the chat box does not pin a fixed height: the input sits at the bottom of the window
    viewport = page.viewport_size
    input_box = box.bounding_box()
    assert input_box and input_box["y"] + input_box["height"] > viewport["height"] - 90
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    assert_within_viewport(page)
    # no label chip over the conversation
    expect(page.locator("[data-testid='block-label']")).to_have_count(0)
    _screenshot(page, f"chat-page-{page.size_name}.png")  # type: ignore[attr-defined]


@pytest.mark.parametrize(("question", "label", "period"), [
    ("Hoeveel verdient een junior backend developer in Leuven?", "Bron", "bruto per jaar"),
    ("Combien gagne un développeur backend junior à Louvain ?", "Source", "brut par an"),
], ids=["nl", "fr"])
def test_chat_page_labels_in_the_answers_language(server: str, page: Page, question: str, label: str,
                                                  period: str) -> None:
    page.goto(f"{server}/")
    _chat_ask(page, question)
    expect(page.locator("[data-testid='bot']").filter(has_text=JUNIOR).first).to_be_visible(
        timeout=ANSWER_WAIT_MS)
    expect(page.locator(".sources-label").first).to_have_text(label)
    expect(page.locator(".salary-chart").first).to_contain_text(period)
    expect(page.locator(".salary-chart").first).not_to_contain_text("gross")


def test_chat_page_compares_two_places_in_one_chart(server: str, page: Page) -> None:
    page.goto(f"{server}/")
    _chat_ask(page, "Compare senior backend developer salaries in Leuven and Ghent")
    chart = page.locator(".salary-chart").first
    expect(chart).to_be_visible(timeout=ANSWER_WAIT_MS)
    expect(chart.locator(".salary-panel")).to_have_count(2)
    expect(chart).to_contain_text("Leuven")
    expect(chart).to_contain_text("Ghent")


# --- the widget -------------------------------------------------------------------------


def _open_widget(page: Page) -> None:
    page.get_by_role("button", name="Open the hiring assistant").click()
    expect(page.get_by_role("dialog", name="Hiring assistant")).to_be_visible()


def _widget_ask(page: Page, question: str) -> None:
    box = page.get_by_role("textbox", name="Your question")
    box.fill(question)
    box.press("Enter")


def _answers(page: Page):
    return page.locator("hiring-assistant-widget .msg.assistant:not(.pending)")


def test_widget_on_demo_page_holds_a_two_turn_conversation(server: str, page: Page) -> None:
    page.goto(f"{server}/widget/demo")
    _open_widget(page)
    _widget_ask(page, "What do junior backend developers earn in Leuven?")
    answers = _answers(page)
    expect(answers.filter(has_text=JUNIOR)).to_have_count(1, timeout=ANSWER_WAIT_MS)
    _widget_ask(page, "and seniors?")
    expect(answers.filter(has_text=SENIOR)).to_have_count(1, timeout=ANSWER_WAIT_MS)
    for figure in (JUNIOR, SENIOR):
        answer = answers.filter(has_text=figure)
        expect(answer.locator(".source-title")).to_have_text(LEUVEN_SALARIES)
        expect(answer.locator("a.source-title")).to_have_attribute("href", LEUVEN_PAGE)
        expect(answer.locator(".quote td").filter(has_text=figure)).to_have_count(1)
        expect(answer.locator(".quote")).not_to_contain_text("|")
        expect(answer).to_be_visible()
    _screenshot(page, "widget-demo.png")


def test_widget_stays_on_screen_on_an_overflowing_page(server: str, sized_page: Page) -> None:
    """The demo page's hostile CSS makes it wider than a phone's screen, which widens the
    layout viewport there: the launcher, the panel and all in it must stay in view."""
    page = sized_page
    page.goto(f"{server}/widget/demo")
    if page.size_name == "phone":  # type: ignore[attr-defined]
        assert page.evaluate("document.documentElement.scrollWidth") > page.viewport_size["width"]
    launcher = page.get_by_role("button", name="Open the hiring assistant")
    expect(launcher).to_be_visible()
    assert_within_viewport(page, "widget")
    _open_widget(page)
    _widget_ask(page, JUNIOR_LEUVEN)
    expect(_answers(page).filter(has_text=JUNIOR)).to_have_count(1, timeout=ANSWER_WAIT_MS)
    assert_within_viewport(page, "widget")
    dialog = page.get_by_role("dialog", name="Hiring assistant").bounding_box()
    view = page.evaluate("[visualViewport.width, visualViewport.height]")
    if page.size_name == "phone":  # type: ignore[attr-defined]
        # a full-height sheet
        assert dialog and dialog["width"] >= view[0] - 1 and dialog["height"] >= view[1] - 1
    else:
        assert dialog and dialog["width"] < view[0] / 2
    page.get_by_role("textbox", name="Your question").focus()
    page.keyboard.press("Escape")
    expect(launcher).to_be_visible()
    assert_within_viewport(page, "widget")
    _screenshot(page, f"widget-demo-{page.size_name}.png")  # type: ignore[attr-defined]


def test_widget_stays_on_screen_when_the_page_is_pinch_zoomed(server: str, browser: Browser) -> None:
    context, page = new_page(browser, PHONE)
    try:
        page.goto(f"{server}/widget/demo")
        expect(page.get_by_role("button", name="Open the hiring assistant")).to_be_visible()
        # a pinch zoom, as the browser applies it (2x, scrolled into the page)
        session = context.new_cdp_session(page)
        session.send("Emulation.setPageScaleFactor", {"pageScaleFactor": 2})
        page.evaluate("window.scrollTo(300, 200)")
        page.wait_for_function("visualViewport.scale > 1.5")
        page.wait_for_timeout(200)  # the widget re-places itself on the viewport's events
        assert_within_viewport(page, "widget")
    finally:
        context.close()


def test_widget_stays_on_screen_on_a_css_zoomed_page(server: str, sites: dict, sized_page: Page) -> None:
    """`html { zoom: 1.5 }` multiplies into the widget's offsets: they are undone."""
    page = sized_page
    (sites["dirs"][0] / "zoomed.html").write_text(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<style>html { zoom: 1.5 } body { width: 2000px }</style></head><body><h1>Zoomed</h1>"
        f"<script src='{server}/widget.js' data-assistant-url='{server}'></script></body></html>",
        encoding="utf-8")
    page.goto(f"{sites['listed']}/zoomed.html")
    expect(page.get_by_role("button", name="Open the hiring assistant")).to_be_visible()
    assert_within_viewport(page, "widget")
    _open_widget(page)
    assert_within_viewport(page, "widget")


@pytest.mark.parametrize(("lang", "open_name", "question", "source_label"), [
    ("nl-BE", "Open de wervingsassistent", "Je vraag", "Bron"),
    ("fr", "Ouvrir l'assistant de recrutement", "Votre question", "Source"),
    ("de", "Open the hiring assistant", "Your question", "Source"),  # no German: English
], ids=["nl", "fr", "other"])
def test_widget_speaks_the_host_pages_language(server: str, sites: dict, page: Page, lang: str,
                                               open_name: str, question: str, source_label: str) -> None:
    (sites["dirs"][0] / f"{lang}.html").write_text(
        f"<!doctype html><html lang='{lang}'><head><meta charset='utf-8'><title>Gids</title></head>"
        f"<body><h1>Gids</h1><script src='{server}/widget.js' data-assistant-url='{server}'></script>"
        "</body></html>", encoding="utf-8")
    page.goto(f"{sites['listed']}/{lang}.html")
    page.get_by_role("button", name=open_name).click()
    box = page.get_by_role("textbox", name=question)
    box.fill("Hoeveel verdient een junior backend developer in Leuven?")
    box.press("Enter")
    answer = _answers(page).filter(has_text=JUNIOR)
    expect(answer).to_have_count(1, timeout=ANSWER_WAIT_MS)
    expect(answer.locator(".sources-label")).to_have_text(source_label)
    expect(answer.locator("a.source-title")).to_have_attribute("href", LEUVEN_PAGE)


def test_widget_is_keyboard_accessible(server: str, page: Page) -> None:
    page.goto(f"{server}/widget/demo")
    launcher = page.get_by_role("button", name="Open the hiring assistant")
    launcher.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Hiring assistant")
    expect(dialog).to_be_visible()
    expect(page.get_by_role("textbox", name="Your question")).to_be_focused()
    page.keyboard.type(JUNIOR_LEUVEN)
    page.keyboard.press("Enter")
    expect(_answers(page).filter(has_text=JUNIOR)).to_have_count(1, timeout=ANSWER_WAIT_MS)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name="Open the hiring assistant")).to_be_focused()


@pytest.mark.parametrize("where", ["widget", "chat page"])
def test_markup_in_a_question_shows_as_text_and_runs_nothing(server: str, page: Page, where: str) -> None:
    if where == "widget":
        page.goto(f"{server}/widget/demo")
        _open_widget(page)
        _widget_ask(page, MARKUP)
        expect(_answers(page).filter(has_text=JUNIOR)).to_have_count(1, timeout=ANSWER_WAIT_MS)
        expect(page.locator("hiring-assistant-widget .msg.user")).to_have_text(MARKUP)
        images = page.locator("hiring-assistant-widget img")
    else:
        page.goto(f"{server}/")
        _chat_ask(page, MARKUP)
        expect(page.locator("[data-testid='bot']").filter(has_text=JUNIOR).first).to_be_visible(
            timeout=ANSWER_WAIT_MS)
        expect(page.locator("[data-testid='user']").first).to_contain_text(MARKUP)
        images = page.locator("[data-testid='user'] img")
    expect(images).to_have_count(0)
    assert page.evaluate("window.__pwned") is None
    assert page.dialogs == []  # type: ignore[attr-defined]


def _ask_expecting_notice(page: Page, message: str, not_message: str) -> None:
    """Ask one question that must fail with `message` (and not `not_message`), no answer."""
    _open_widget(page)
    _widget_ask(page, JUNIOR_LEUVEN)
    notice = page.locator("hiring-assistant-widget .msg.notice")
    expect(notice).to_contain_text(message, timeout=ANSWER_WAIT_MS)
    expect(notice).not_to_contain_text(not_message)
    expect(_answers(page).filter(has_text=JUNIOR)).to_have_count(0)


@pytest.mark.parametrize(("failure", "message", "not_message"), [
    ("429", "Too many questions", UNREACHABLE),
    ("server unreachable", UNREACHABLE, NOT_ALLOWED),  # /api/ask and the /api/health probe fail
    ("origin refused", NOT_ALLOWED, UNREACHABLE),  # /api/ask fails, the probe reaches the server
], ids=["429", "server unreachable", "origin refused"])
def test_widget_says_clearly_when_it_cannot_answer(server: str, page: Page, failure: str,
                                                   message: str, not_message: str) -> None:
    if failure == "429":
        routed = ["**/api/ask"]
        page.route("**/api/ask", lambda route: route.fulfill(
            status=429, json={"error": "too many requests; try again in a moment", "status": 429},
            headers={"Retry-After": "30"}))
    else:  # what the page sees of both a down server and a CORS refusal: fetch rejects
        routed = ["**/api/ask", "**/api/health"] if failure == "server unreachable" else ["**/api/ask"]
        for pattern in routed:
            page.route(pattern, lambda route: route.abort("connectionrefused"))
    page.goto(f"{server}/widget/demo")
    _ask_expecting_notice(page, message, not_message)
    # the question was not added to the history: a retry that succeeds is a fresh first turn
    for pattern in routed:
        page.unroute(pattern)
    _widget_ask(page, JUNIOR_LEUVEN)
    expect(_answers(page).filter(has_text=JUNIOR)).to_have_count(1, timeout=ANSWER_WAIT_MS)


def test_widget_on_a_listed_site_answers(server: str, sites: dict, page: Page) -> None:
    page.goto(f"{sites['listed']}/index.html")
    _open_widget(page)
    _widget_ask(page, JUNIOR_LEUVEN)
    expect(_answers(page).filter(has_text=JUNIOR)).to_have_count(1, timeout=ANSWER_WAIT_MS)
    expect(_answers(page).filter(has_text=JUNIOR).locator(".source-title")).to_have_text(LEUVEN_SALARIES)


# --- feedback (issue 12) --------------------------------------------------------------------


def _stored(log_db: str, answer_id: str) -> tuple[dict | None, dict | None]:
    """The record and the vote of one answer, read straight from the served log's database."""
    import sqlalchemy as sa

    engine = sa.create_engine(log_db)
    try:
        with engine.connect() as connection:
            row = connection.execute(sa.text("SELECT * FROM answers WHERE id = :id"),
                                     {"id": answer_id}).first()
            vote = connection.execute(sa.text("SELECT * FROM feedback WHERE answer_id = :id"),
                                      {"id": answer_id}).first()
    finally:
        engine.dispose()
    return (dict(row._mapping) if row else None), (dict(vote._mapping) if vote else None)


def _wait_stored(log_db: str, answer_id: str, vote: bool = True) -> tuple[dict, dict | None]:
    deadline = time.monotonic() + 15  # the record is written by the server's background thread
    while True:
        row, stored_vote = _stored(log_db, answer_id)
        if row and (stored_vote or not vote):
            return row, stored_vote
        if time.monotonic() > deadline:
            pytest.fail(f"answer {answer_id} not stored: record {row}, vote {stored_vote}")
        time.sleep(0.2)


def test_widget_thumbs_down_with_a_comment_is_stored(server: str, sites: dict, log_db: str,
                                                     page: Page) -> None:
    answer_ids: list[str] = []
    page.on("response", lambda r: answer_ids.append(r.json()["id"]) if r.url.endswith("/api/ask") else None)
    page.goto(f"{sites['listed']}/index.html")  # another site: the vote goes cross-origin
    _open_widget(page)
    _widget_ask(page, JUNIOR_LEUVEN)
    answer = _answers(page).filter(has_text=JUNIOR)
    expect(answer).to_have_count(1, timeout=ANSWER_WAIT_MS)
    down = answer.get_by_role("button", name="Not helpful")
    expect(answer.get_by_role("button", name="Helpful", exact=True)).to_be_visible()
    down.click()
    expect(down).to_have_attribute("aria-pressed", "true")
    comment = answer.get_by_role("textbox", name="Add a comment (optional)")
    expect(comment).to_be_focused()
    comment.fill("I asked about Leuven juniors, wanted the bonus too")
    comment.press("Enter")
    expect(answer.locator(".feedback-note")).to_have_text("Thanks for your feedback.")
    expect(down).to_be_disabled()
    [answer_id] = answer_ids
    row, vote = _wait_stored(log_db, answer_id)
    assert row["interface"] == "widget" and row["question"] == JUNIOR_LEUVEN
    assert row["conversation"] and len(row["conversation"]) == 32  # the page's random id
    assert (vote["rating"], vote["comment"]) == ("down", "I asked about Leuven juniors, wanted the bonus too")
    # a second question in the same page: the same conversation id
    _widget_ask(page, "and seniors?")
    expect(_answers(page).filter(has_text=SENIOR)).to_have_count(1, timeout=ANSWER_WAIT_MS)
    second, _ = _wait_stored(log_db, answer_ids[-1], vote=False)
    assert second["conversation"] == row["conversation"]
    up = _answers(page).filter(has_text=SENIOR).get_by_role("button", name="Helpful", exact=True)
    up.click()
    _answers(page).filter(has_text=SENIOR).get_by_role("button", name="Send").click()
    expect(_answers(page).filter(has_text=SENIOR).locator(".feedback-note")).to_have_text(
        "Thanks for your feedback.")
    assert _wait_stored(log_db, answer_ids[-1])[1]["rating"] == "up"
    assert_within_viewport(page, "widget")


FEEDBACK_JS = """async ([url, body]) => {
  const response = await fetch(url + '/api/feedback', {method: 'POST', mode: 'cors',
    headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)});
  return [response.status, await response.json()];
}"""


def test_feedback_endpoint_from_a_page_in_the_browser(server: str, sites: dict, page: Page) -> None:
    page.goto(f"{sites['listed']}/index.html")
    answer = httpx.post(f"{server}/api/ask", json={"question": JUNIOR_LEUVEN}).json()
    status, body = page.evaluate(FEEDBACK_JS, [server, {"id": answer["id"], "rating": "up"}])
    assert status == 201 and body == {"id": answer["id"], "rating": "up", "comment": None}
    status, body = page.evaluate(FEEDBACK_JS, [server, {"id": answer["id"], "rating": "down"}])
    assert (status, body) == (409, {"error": "this answer already has its vote", "status": 409})
    status, body = page.evaluate(FEEDBACK_JS, [server, {"id": "f" * 32, "rating": "up"}])
    assert status == 404 and body["status"] == 404
    status, body = page.evaluate(FEEDBACK_JS, [server, {"id": "nope", "rating": "up"}])
    assert status == 422 and set(body) == {"error", "status"}
    other = httpx.post(f"{server}/api/ask", json={"question": JUNIOR_LEUVEN}).json()
    status, body = page.evaluate(FEEDBACK_JS, [server, {"id": other["id"], "rating": "up",
                                                        "comment": "x" * 501}])
    assert status == 413 and "500" in body["error"]


def test_chat_page_like_is_stored(server: str, log_db: str, page: Page) -> None:
    page.goto(f"{server}/")
    _chat_ask(page, "What do backend developers earn in Ghent?")
    bot = page.locator("[data-testid='bot']")
    expect(bot.first).to_be_visible(timeout=ANSWER_WAIT_MS)
    expect(page.locator(".sources").first).to_be_visible(timeout=ANSWER_WAIT_MS)
    page.get_by_role("button", name="Like", exact=True).first.click()
    deadline = time.monotonic() + 15
    import sqlalchemy as sa

    engine = sa.create_engine(log_db)
    try:
        while True:
            with engine.connect() as connection:
                found = connection.execute(sa.text(
                    "SELECT a.interface, a.question, a.conversation, f.rating FROM feedback f "
                    "JOIN answers a ON a.id = f.answer_id WHERE a.interface = 'chat'")).all()
            if found or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        engine.dispose()
    assert [(r[0], r[1], r[3]) for r in found] == [
        ("chat", "What do backend developers earn in Ghent?", "up")]
    assert found[0][2]  # Gradio's session hash: random, made by the page


def test_admin_insights_needs_the_token(server: str) -> None:
    assert httpx.get(f"{server}/admin/insights").status_code == 401
    assert httpx.get(f"{server}/admin/insights",
                     headers={"Authorization": "Bearer wrong-token-for-sure"}).status_code == 401
    page = httpx.get(f"{server}/admin/insights", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                     timeout=120)
    assert page.status_code == 200 and "What recruiters ask" in page.text


@pytest.mark.parametrize("case", ["unlisted site", "server down"])
def test_widget_tells_a_refused_origin_from_a_server_that_is_down(
        server: str, sites: dict, down_page: tuple[str, str], page: Page, case: str) -> None:
    # Both fail the same way for the page (fetch rejects), so only the probe can tell them apart.
    if case == "unlisted site":
        url, assistant = f"{sites['unlisted']}/index.html", server
        message, not_message = NOT_ALLOWED, UNREACHABLE
    else:  # a listed site, so the origin cannot be what fails
        (url, assistant), message, not_message = down_page, UNREACHABLE, NOT_ALLOWED
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(url)
    _ask_expecting_notice(page, message, not_message)
    assert f"{assistant}/api/health" in requested  # the verdict comes from probing that server
    if case == "unlisted site":  # and the server itself refuses that origin
        response = httpx.post(f"{server}/api/ask", json={"question": JUNIOR_LEUVEN},
                              headers={"Origin": sites["unlisted"]})
        assert response.status_code == 403
    else:  # and nothing answers there at all
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{assistant}/api/health", timeout=2)


# --- the API's documentation page ---------------------------------------------------------


def test_api_docs_render_the_endpoints_with_the_network_blocked(server: str, browser: Browser) -> None:
    """Every request that leaves the assistant's own server is refused, as offline: the page
    must still render its operations (issue 10: a CDN-loaded page was blank)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    outside: list[str] = []

    def only_the_server(route) -> None:
        if route.request.url.startswith(server + "/"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", only_the_server)
    page = context.new_page()
    try:
        page.goto(f"{server}/api/docs")
        paths = page.locator(".opblock-summary-path")
        expect(paths.filter(has_text="/api/ask")).to_be_visible(timeout=30_000)
        expect(paths.filter(has_text="/api/health")).to_be_visible()
        expect(paths.filter(has_text="/api/feedback")).to_be_visible()  # issue 12
        expect(page.locator(".opblock-post")).to_have_count(2)
        assert outside == []
    finally:
        context.close()


# --- screenshots for a reviewer (`make screenshots`) -----------------------------------------


def test_screenshots_of_the_chat_page_and_the_widget(server: str, sized_page: Page) -> None:
    """What a visitor sees, at desktop and phone size: the chat page after a salary question
    and its follow-up, and the widget open on the demo page with an answer."""
    page, size = sized_page, sized_page.size_name  # type: ignore[attr-defined]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(f"{server}/")
    bot = page.locator("[data-testid='bot']")
    for question, shown in ((JUNIOR_LEUVEN, JUNIOR), ("and seniors?", SENIOR)):
        _chat_ask(page, question)
        expect(bot.filter(has_text=shown).first).to_be_visible(timeout=ANSWER_WAIT_MS)
    page.wait_for_timeout(500)  # let the last message scroll into place
    shots = [SCREENSHOTS / f"chat-page-{size}.png", SCREENSHOTS / f"widget-{size}.png"]
    page.screenshot(path=str(shots[0]))
    page.goto(f"{server}/widget/demo")
    _open_widget(page)
    _widget_ask(page, JUNIOR_LEUVEN)
    expect(_answers(page).filter(has_text=JUNIOR)).to_have_count(1, timeout=ANSWER_WAIT_MS)
    page.screenshot(path=str(shots[1]))
    assert all(shot.stat().st_size > 10_000 for shot in shots)
