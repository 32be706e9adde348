"""The Gradio chat in headless Chromium (Playwright, sync API) against a real `rag serve` process.

Asks a question, clicks a citation, checks the source panel highlights the quoted sentence, and
saves a screenshot (the README's docs/screenshot.png with UPDATE_SCREENSHOT=1); then examples, a
follow-up, clearing, settings and friendly errors.
The rendering helpers (citation links, highlighting) are tested without a browser in
tests/ui/test_pure_parts.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rag.settings import Settings
from tests.conftest import ROOT
from tests.e2e.conftest import TIMEOUT, screenshot
from tests.helpers.server import Server, launch, stop, wait_ready

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


pytestmark = pytest.mark.server  # every test here drives a real `rag serve`

# The README's screenshot; a test run writes it only when asked (UPDATE_SCREENSHOT=1), so a
# plain `make test` leaves the checkout unchanged.
SCREENSHOT = ROOT / "docs" / "screenshot.png"


@pytest.fixture(scope="module")
def server(seeded: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = launch(seeded, tmp_path_factory.mktemp("web"))
    try:
        wait_ready(srv)
        yield srv
    finally:
        stop(srv)


# --- in the browser -------------------------------------------------------------------------
@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(server.url + "/")
    page.locator("#question textarea").wait_for()
    yield page
    context.close()


def ask(page: Page, question: str) -> None:
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")


@pytest.mark.slow
@pytest.mark.browser
def test_ask_click_citation_and_see_the_quote(page: Page, tmp_path: Path) -> None:
    ask(page, "What did Hegseth say about 5%?")
    link = page.locator('#chat a[href="#cite-0-1"]').first
    link.wait_for()
    assert "almost near consensus" in page.locator("#chat").inner_text()
    assert "Sources:" in page.locator("#chat").inner_text()

    # the citation after the quote opens its source with the quoted sentence marked
    chat = page.locator("#chat").inner_text()
    n = chat[chat.index("almost near consensus") :].split("[", 1)[1].split("]", 1)[0]
    page.locator(f'#chat a[href="#cite-0-{n}"]').first.click()
    mark = page.locator("#source-panel mark").first
    mark.wait_for()
    assert "almost near consensus" in mark.inner_text()
    panel = page.locator("#source-panel").inner_text()
    assert "Keir Starmer to meet head of Nato" in panel  # the article's title
    assert "undated" in panel and "unknown source" in panel  # date and source lines
    assert "A few countries" in panel  # the rest of the passage around the quote

    shot = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOT") == "1" else tmp_path / "shot.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 20_000


@pytest.mark.slow
@pytest.mark.browser
def test_example_follow_up_and_clear(page: Page) -> None:
    page.get_by_role("button", name="Select example 1: What did Hegseth say about 5%?").click()
    page.locator('#chat a[href="#cite-0-1"]').first.wait_for()
    assert "almost near consensus" in page.locator("#chat").inner_text()

    ask(page, "And what did he say about the UK?")  # "he" is Hegseth: history is kept
    page.locator('#chat a[href="#cite-1-1"]').first.wait_for()
    assert "going to get there" in page.locator("#chat").inner_text()

    # the citation after the quote opens its source with the quoted sentence marked (the
    # follow-up's answer is the last one to quote it)
    chat = page.locator("#chat").inner_text()
    n = chat[chat.rindex("going to get there") :].split("[", 1)[1].split("]", 1)[0]
    page.locator(f'#chat a[href="#cite-1-{n}"]').first.click()
    page.locator("#source-panel mark").first.wait_for()
    assert "going to get there" in page.locator("#source-panel mark").first.inner_text()

    page.locator("#clear").click()
    page.locator('#chat a[href^="#cite-"]').first.wait_for(state="detached")
    assert "Click a citation" in page.locator("#source-panel").inner_text()
    # a new chat: the examples are back
    page.get_by_role("button", name="Select example 2: When will Starmer host Rutte?").wait_for()


@pytest.mark.slow
@pytest.mark.browser
def test_declined_and_backend_errors_are_friendly(page: Page) -> None:
    ask(page, "What did Emmanuel Macron say about defence spending?")
    page.get_by_text("could not find this in the indexed articles").wait_for()
    assert "The articles don" in page.locator("#chat").inner_text()

    page.get_by_text("Settings").click()
    page.get_by_label("openai").check()  # no key or base URL is configured for it
    ask(page, "What did Hegseth say about 5%?")
    page.get_by_text("RAG_LLM__API_KEY").wait_for()
    text = page.locator("#chat").inner_text()
    assert "⚠️" in text
    assert "Traceback" not in text


@pytest.mark.slow
@pytest.mark.browser
def test_settings_filter_and_article_list(page: Page) -> None:
    page.get_by_text("Indexed articles").click()
    table = page.locator(".articles-table")
    table.wait_for()
    assert table.locator("tr").count() >= 6  # header + the 5 seed articles
    assert "Keir Starmer to meet head of Nato" in table.inner_text()
    everything = table.locator("tr").count()

    search = page.locator("#article-search textarea")
    search.fill("starmer 2025-06")  # every word: in the title, the source, the id or the date
    search.press("Enter")
    page.wait_for_function(
        f"() => document.querySelectorAll('.articles-table tr').length < {everything}"
    )
    rows = page.locator(".articles-table tr").all_inner_texts()[1:]
    assert rows and all("starmer" in r.lower() and "2025-06" in r for r in rows)
    search.fill("no-such-word")
    search.press("Enter")
    page.get_by_text("No article matches 'no-such-word'").wait_for()
    search.fill("")
    search.press("Enter")
    page.wait_for_function(
        f"() => document.querySelectorAll('.articles-table tr').length == {everything}"
    )
    assert "the newest first" in page.locator("#component-0, body").first.inner_text()
    # a date range: the September article alone (the undated seeds are left out)
    since = page.locator("#list-from input").first
    since.fill("2025-09-01")
    since.press("Enter")
    page.wait_for_function("() => document.querySelectorAll('.articles-table tr').length == 2")
    assert "NATO chief, UK prime minister" in page.locator(".articles-table").inner_text()

    page.get_by_text("Settings").click()
    page.locator("#date-from input").first.fill("2030-01-01")
    ask(page, "What did Hegseth say about 5%?")
    page.get_by_text("could not find this in the indexed articles").wait_for()

    # the date picker refuses what is not a day before it is sent (`field_date` says why if a
    # client sends one anyway: tests/ui/test_pure_parts.py); a calendar picks one
    field = page.locator("#date-from input").first
    field.fill("June")
    field.press("Enter")
    page.locator("#date-from input.invalid").wait_for()
    assert page.locator("#date-from button.calendar").is_visible()


@pytest.mark.slow
@pytest.mark.browser
def test_short_answer_comes_first_and_as_of_reads_this_week(page: Page) -> None:
    ask(page, "How much has Starmer committed to spend on defence from April 2027?")
    short = page.locator("#chat strong.short-answer").first
    short.wait_for()
    assert "2.5%" in short.inner_text()

    page.get_by_text("Settings").click()
    page.locator("#as-of textarea, #as-of input").first.fill("2025-06-06")
    ask(page, "What did Starmer say this week?")
    page.get_by_text("Monday 2 June 2025 to Friday 6 June 2025").wait_for()
    assert "as of 2025-06-06" in page.locator("#chat").inner_text()


@pytest.mark.slow
@pytest.mark.browser
def test_markdown_in_an_article_is_shown_as_text(page: Page, server: Server) -> None:
    """An article's markdown image (a tracking beacon) and link, quoted in an answer, show as the
    text they are: no request reaches the beacon, no image or foreign link is in the chat."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import httpx

    hits: list[str] = []

    class Beacon(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    beacon = ThreadingHTTPServer(("127.0.0.1", 0), Beacon)
    threading.Thread(target=beacon.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{beacon.server_address[1]}"
    try:
        text = (
            f"The Elwin harbour pier reopened on Friday ![pier]({base}/beacon.png) after "
            f"eleven weeks of repairs, officials said, [read more]({base}/phish) **today**. "
            f"Ferries return to the harbour next week, see {base}/plain or www.example.org."
        )
        article = {"title": "Elwin pier [update](http://evil.example)", "text": text}
        r = httpx.post(server.api + "/articles", json={"articles": [article]}, timeout=60)
        assert r.status_code == 200, r.text
        ask(page, "When did the Elwin harbour pier reopen?")
        page.locator('#chat a[href="#cite-0-1"]').first.wait_for()
        chat = page.locator("#chat")
        page.wait_for_timeout(1500)  # time for an image to be fetched, if it were one
        assert hits == []
        assert chat.locator("img").count() == 0
        hrefs = chat.locator("a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
        assert hrefs and all(h.startswith("#cite-") for h in hrefs), hrefs
        shown = chat.inner_text()
        assert f"![pier]({base}/beacon.png)" in shown and "**today**" in shown
        assert "[update](http://evil.example)" in shown
    finally:
        beacon.shutdown()


@pytest.mark.slow
@pytest.mark.browser
def test_script_in_an_article_runs_nowhere(page: Page, server: Server) -> None:
    """An article whose title, source and text carry <script>, an <img onerror> and a
    javascript: link: quoted in the answer, opened in the source panel and listed in the
    article table, it shows as text and none of it runs."""
    import httpx

    bad = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
    article = {
        "title": f"Orlen dam {bad}",
        "source": '<svg onload="window.__xss=3">',
        "text": (
            f"The Orlen dam was closed on Thursday {bad} after engineers found cracks, the "
            'operator said. <a href="javascript:window.__xss=4">details</a> It reopens in May.'
        ),
    }
    r = httpx.post(server.api + "/articles", json={"articles": [article]}, timeout=60)
    assert r.status_code == 200, r.text
    page.reload()  # the article table is made as the page loads
    page.locator("#question textarea").wait_for()
    page.get_by_text("Indexed articles").click()
    page.locator(".articles-table").wait_for()
    ask(page, "When was the Orlen dam closed?")
    link = page.locator('#chat a[href="#cite-0-1"]').first
    link.wait_for()
    link.click()
    page.locator("#source-panel mark").first.wait_for()
    page.wait_for_timeout(1000)  # time for an injected handler to fire, if one were there
    assert page.evaluate("window.__xss") is None
    for where in ("#chat", "#source-panel", ".articles-table"):
        box = page.locator(where)
        assert box.locator("script, img[onerror], svg[onload]").count() == 0, where
        assert box.locator('a[href^="javascript:"]').count() == 0, where
    assert "<script>" in page.locator("#source-panel").inner_text()
    assert "Orlen dam <script>" in page.locator(".articles-table").inner_text()


@pytest.mark.slow
@pytest.mark.browser
def test_with_a_key_the_ui_opens_only_after_its_login(
    browser: Browser, seeded: Settings, tmp_path: Path
) -> None:
    """With RAG_SERVER__API_KEY set, the routes Gradio leaves open (the heartbeat stream, token,
    user, app_id, startup-events) answer 401 until the browser has logged in; the login page still
    loads, and after logging in with the key the chat answers."""
    import httpx

    key = "web-ui-key"
    srv = launch(seeded, tmp_path, RAG_SERVER__API_KEY=key)
    try:
        wait_ready(srv)
        gated = ["/gradio_api/token", "/gradio_api/user", "/gradio_api/app_id"]
        for path in [*gated, "/gradio_api/heartbeat/abc", "/gradio_api/startup-events"]:
            r = httpx.get(srv.url + path, timeout=10)
            assert r.status_code == 401, (path, r.text)
            assert "log in to the web UI" in r.json()["detail"]
        assert httpx.get(srv.url + "/gradio_api/app_id", headers={"X-API-Key": key}).is_success

        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(TIMEOUT)
        page.goto(srv.url + "/")
        page.get_by_label("username").fill("reader")
        page.get_by_label("password").fill("wrong")
        page.get_by_role("button", name="Login").click()
        page.get_by_text("Incorrect Credentials").wait_for()
        page.get_by_label("username").fill("reader")  # the login form is cleared after a miss
        page.get_by_label("password").fill(key)
        page.get_by_role("button", name="Login").click()
        page.locator("#question textarea").wait_for()
        ask(page, "What did Hegseth say about 5%?")
        page.locator('#chat a[href="#cite-0-1"]').first.wait_for()
        assert "almost near consensus" in page.locator("#chat").inner_text()
        cookies = {c["name"]: c["value"] for c in context.cookies()}
        r = httpx.get(srv.url + "/gradio_api/user", cookies=cookies, timeout=10)
        assert r.status_code == 200 and r.json() == "reader"
        context.close()
    finally:
        stop(srv)


@pytest.mark.slow
@pytest.mark.browser
def test_apostrophes_read_as_apostrophes(page: Page) -> None:
    """What a reader sees is the text: a decline ("The articles don't mention …") and a short
    answer show their apostrophes, not the entities they travel in ("don&#x27;t")."""
    ask(page, "What did Emmanuel Macron say about defence spending?")
    page.get_by_text("mention Emmanuel Macron").first.wait_for()
    shown = page.locator("#chat").inner_text()
    assert "The articles don't mention Emmanuel Macron" in shown
    assert "&#" not in shown and "&amp;" not in shown


@pytest.mark.slow
@pytest.mark.browser
def test_a_conversation_is_kept_reopened_after_a_reload_shared_and_deleted(
    page: Page, browser: Browser, server: Server, tmp_path: Path
) -> None:
    ask(page, "When will Starmer host Rutte?")
    page.locator('#chat a[href="#cite-0-1"]').first.wait_for()
    page.get_by_role("button", name="Toggle Sidebar").click()
    page.locator("#conversations").get_by_text("When will Starmer host Rutte?").wait_for()
    page.reload()
    page.locator("#question textarea").wait_for()
    assert page.locator('#chat a[href="#cite-0-1"]').count() == 0  # a new page, a new chat
    page.get_by_role("button", name="Toggle Sidebar").click()
    listed = page.locator("#conversations").get_by_text("When will Starmer host Rutte?")
    listed.click()
    page.locator('#chat a[href="#cite-0-1"]').first.wait_for()
    assert "next Monday" in page.locator("#chat").inner_text()
    screenshot(page, "screenshot-conversations.png", tmp_path)

    page.locator("#share-conversation").click()
    link = page.locator("#share-link textarea")
    link.wait_for()
    url = link.input_value()
    assert "?conversation=" in url and url.startswith(server.url)
    other = browser.new_context().new_page()  # another browser: none of its conversations
    other.set_default_timeout(TIMEOUT)
    other.goto(url)
    other.locator("#notice").get_by_text("read-only").wait_for()
    assert "next Monday" in other.locator("#chat").inner_text()
    other.get_by_role("button", name="Toggle Sidebar").click()
    assert other.locator("#conversations").get_by_text("host Rutte").count() == 0
    other.context.close()

    page.locator("#delete-conversation").click()
    page.locator("#notice").get_by_text("deleted").wait_for()
    assert page.locator("#conversations").get_by_text("host Rutte").count() == 0
    page.reload()
    page.locator("#question textarea").wait_for()
    page.get_by_role("button", name="Toggle Sidebar").click()
    page.wait_for_timeout(500)
    assert page.locator("#conversations").get_by_text("host Rutte").count() == 0


def tab_to(page: Page, selector: str, *, back: bool = False, limit: int = 120) -> None:
    """Press Tab (Shift+Tab when `back`) until the focus is on what `selector` matches."""
    for _ in range(limit):
        if page.evaluate("s => !!document.activeElement?.closest(s)", selector):
            return
        page.keyboard.press("Shift+Tab" if back else "Tab")
    raise AssertionError(f"the keyboard never reached {selector}")


@pytest.mark.slow
@pytest.mark.browser
def test_ask_open_a_citation_and_export_with_the_keyboard_alone(page: Page) -> None:
    """The question box has the focus when the page opens; Enter asks; the citations and the
    export are reached with Tab and opened with Enter."""
    assert page.evaluate("() => !!document.activeElement?.closest('#question')")
    page.keyboard.type("What did Hegseth say about 5%?")
    page.keyboard.press("Enter")
    page.locator('#chat a[href="#cite-0-1"]').first.wait_for()
    tab_to(page, '#chat a[href^="#cite-0-"]', back=True)
    page.keyboard.press("Enter")
    page.locator("#source-panel mark").first.wait_for()
    tab_to(page, "#export-box button, #export-box [role=button], #export-box .label-wrap")
    page.keyboard.press("Enter")
    tab_to(page, "#export")
    page.keyboard.press("Enter")
    page.locator("#export-md").get_by_text("Sources").first.wait_for()
    assert "## 1. What did Hegseth say about 5%?" in page.locator("#export-md").inner_text()
