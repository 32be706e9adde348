"""The chat in Chromium with keys scoped to collections (a real `rag serve`): a read key sees
its collections and no upload; a write key uploads an article and then asks about it; another
collection's key does not see it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from index.ingest import ingest
from rag.settings import Settings, on_collection
from rag.store.keys import KeyRing
from rag.store.layout import Layout
from tests.conftest import SEEDS, make_settings
from tests.e2e.conftest import TIMEOUT, screenshot
from tests.e2e.test_browser_chat import ask
from tests.helpers.server import Server, launch, stop, wait_ready

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.server, pytest.mark.browser, pytest.mark.slow]

BRIDGE = {
    "id": "pol-kestrelwood-bridge",
    "title": "Inquiry into the Kestrelwood bridge reports",
    "text": "The inquiry into the Kestrelwood bridge found that the council ignored three "
    "warnings about corrosion before the bridge closed in March.",
}
MEMO = {
    "id": "priv-bittersalt-memo",
    "title": "Bittersalt memo",
    "text": "The Bittersalt memo shows the harbour fund paid for two inspectors' trips.",
}
UPLOADED = (
    "Ferry tender decided\n\nThe Kestrelwood ferry tender was won by Norrvik Lines, the port "
    "authority said on Monday.\n"
)


@pytest.fixture(scope="module")
def keyed(
    tmp_path_factory: pytest.TempPathFactory, embed_model
) -> Iterator[tuple[Server, dict[str, str]]]:  # type: ignore[no-untyped-def]
    """A store with the seeds (the default collection), `politics` and `private`, keys of both,
    and a `rag serve` on a copy of it."""
    root = tmp_path_factory.mktemp("scoped-ui")
    settings: Settings = make_settings(root / "store")
    ingest([SEEDS], settings, embed_model, progress=False)
    for name, article in (("politics", BRIDGE), ("private", MEMO)):
        path = root / f"{name}.jsonl"
        path.write_text(json.dumps(article) + "\n")
        ingest([path], on_collection(settings, name), embed_model, progress=False)
    ring = KeyRing(Layout.of(settings).keys)
    keys = {
        "politics-read": ring.create("politics", "read")[1],
        "politics-write": ring.create("politics", "write")[1],
        "private-read": ring.create("private", "read")[1],
    }
    # the feed test's news site is on 127.0.0.1
    server = launch(
        settings, tmp_path_factory.mktemp("scoped-ui-serve"), RAG_FETCH__PRIVATE_URLS="true"
    )
    try:
        wait_ready(server)
        yield server, keys
    finally:
        stop(server)


def logged_in(browser: Browser, server: Server, key: str) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(server.url + "/")
    page.get_by_label("username").fill("desk")
    page.get_by_label("password").fill(key)
    page.get_by_role("button", name="Login").click()
    page.locator("#question textarea").wait_for()
    page.locator("#collection").wait_for()
    return page


def choices(page: Page) -> list[str]:
    """The collections the picker offers."""
    page.locator("#collection input").click()
    options = page.locator("#collection [role=option]")
    options.first.wait_for()
    found = [str(o.get_attribute("aria-label")) for o in options.all()]
    page.keyboard.press("Escape")
    return found


def answer_text(page: Page, turn: int) -> str:
    page.locator(f'#chat a[href^="#cite-{turn}-"]').first.wait_for()
    return page.locator("#chat").inner_text()


def test_a_read_key_sees_its_collection_and_no_upload(
    browser: Browser, keyed: tuple[Server, dict[str, str]]
) -> None:
    server, keys = keyed
    page = logged_in(browser, server, keys["politics-read"])
    assert choices(page) == ["politics"]
    assert not page.locator("#add-articles").is_visible()
    assert not page.locator("#upload").is_visible()
    ask(page, "What did the inquiry find about the bridge?")
    shown = answer_text(page, 0)
    assert "corrosion" in shown and "Bittersalt" not in shown and "Hegseth" not in shown
    page.context.close()


def test_a_write_key_uploads_then_asks_and_another_collection_does_not_see_it(
    browser: Browser, keyed: tuple[Server, dict[str, str]], tmp_path: Path
) -> None:
    server, keys = keyed
    page = logged_in(browser, server, keys["politics-write"])
    assert choices(page) == ["politics"]
    page.locator("#add-articles").click()  # open the accordion
    upload = tmp_path / "ferry-tender.txt"
    upload.write_text(UPLOADED)
    page.locator("#upload input[type=file]").set_input_files(str(upload))
    page.locator("#add").click()
    page.locator("#added").get_by_text("added").first.wait_for()
    page.get_by_text("Indexed articles").click()  # the list shows it (its filters kept)
    page.locator(".articles-table").get_by_text("Ferry tender decided").wait_for()
    ask(page, "Who won the ferry tender?")
    shown = answer_text(page, 0)
    assert "Norrvik" in shown
    page.locator('#chat a[href="#cite-0-1"]').first.click()
    page.locator("#source-panel mark").first.wait_for()
    assert "Norrvik" in page.locator("#source-panel").inner_text()

    # the conversation as Markdown: its text with [1], then the source with its quote
    page.locator("#export-box").click()
    page.locator("#export").click()
    page.locator("#export-md").get_by_text("Sources").first.wait_for()
    exported = page.locator("#export-md").inner_text()
    assert "## 1. Who won the ferry tender?" in exported and "[1]" in exported
    assert "1. **Ferry tender decided**" in exported and "upload:ferry-tender.txt" in exported
    assert "> The Kestrelwood ferry tender was won by Norrvik Lines" in exported
    with page.expect_download() as download:
        page.locator("#download-md").click()
    saved = Path(download.value.path()).read_text()
    assert saved.startswith("# News Q&A (politics), exported ")
    assert "\n1. **Ferry tender decided**" in saved and "Norrvik Lines" in saved
    page.context.close()

    other = logged_in(browser, server, keys["private-read"])
    assert choices(other) == ["private"]
    ask(other, "Who won the ferry tender?")
    other.locator("#chat").get_by_text("articles").first.wait_for()
    other.wait_for_timeout(500)
    assert "Norrvik" not in other.locator("#chat").inner_text()
    assert "Norrvik" not in other.content()
    other.context.close()


def test_a_thumbs_down_with_the_answer_expected_becomes_a_test_question(
    browser: Browser, keyed: tuple[Server, dict[str, str]], tmp_path: Path
) -> None:
    """Feedback in the browser, then `rag feedback export` and `rag eval --dataset` on what it
    wrote: the reader's expected answer is what the eval checks."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    server, keys = keyed
    page = logged_in(browser, server, keys["politics-read"])
    ask(page, "What did the inquiry find about the bridge?")
    answer_text(page, 0)
    page.locator("#chat").get_by_role("button", name="Dislike").last.click()
    page.locator("#feedback-said").get_by_text("feedback").wait_for()
    assert "(down)" in page.locator("#feedback-said").inner_text()
    page.locator("#correct").click()  # open the form
    page.locator("#expected textarea").fill("three warnings about corrosion")
    page.locator("#unsupported").get_by_label("1").check()
    page.locator("#send-feedback").click()
    page.locator("#feedback-said").get_by_text("test question").wait_for()
    page.context.close()

    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env |= {"RAG_STORE__PATH": str(server.log.parent / "store"), "PYTHONPATH": str(ROOT)}

    def rag(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ui.cli", *args, "--collection", "politics"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    listed = rag("feedback", "list")
    assert listed.stdout.count("\tdown\t") == 2, listed.stdout + listed.stderr
    out = tmp_path / "flagged.jsonl"
    exported = rag("feedback", "export", "--out", str(out))
    assert exported.returncode == 0 and "wrote 1 question(s)" in exported.stdout, exported.stderr
    assert "left out 1 thumbs-down" in exported.stdout
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert record["key_facts"] == ["three warnings about corrosion"]
    assert "unsupported-citation" in record["tags"]
    ran = rag("eval", "--dataset", str(out), "--backend", "extractive", "--out", str(tmp_path))
    assert ran.returncode == 0 and "flagged: 1 questions" in ran.stdout, ran.stdout + ran.stderr
    (report,) = tmp_path.glob("flagged-extractive-*.json")
    (result,) = json.loads(report.read_text())["results"]
    assert result["user_input"] == "What did the inquiry find about the bridge?"
    assert result["scores"]["key_fact_recall"] == 1.0


def test_a_write_key_follows_a_feed_from_the_browser_and_asks_about_its_news(
    browser: Browser, keyed: tuple[Server, dict[str, str]], tmp_path: Path
) -> None:
    from tests.helpers.news_site import NewsSite

    server, keys = keyed
    with NewsSite() as site:
        page = logged_in(browser, server, keys["politics-write"])
        page.locator("#add-articles").click()
        page.locator("#feed-url textarea").fill(site.url + "/feed.xml")
        page.locator("#follow").click()
        page.locator("#added").get_by_text("Following").wait_for()
        assert "/feed.xml" in page.locator("#feeds").inner_text()
        screenshot(page, "screenshot-add-articles.png", tmp_path)
        assert "/feed.xml" in site.requests[0]
    ask(page, "How much will the new ferry terminal cost?")
    answer_text(page, 0)
    assert "14" in page.locator("#chat").inner_text()
    page.locator('#chat a[href="#cite-0-1"]').first.click()
    page.locator("#source-panel mark").first.wait_for()
    assert "ferry terminal" in page.locator("#source-panel").inner_text()
    # removed again by its id, from the browser
    page.locator("#remove-id textarea").fill("no-such-article")
    page.locator("#remove").click()
    page.locator("#added").get_by_text("no article").wait_for()
    page.context.close()
