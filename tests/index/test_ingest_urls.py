"""Articles from URLs and feeds (issue "News in as it arrives", part 2), against the real local
web server of tests/helpers/news_site.py: `rag ingest FEED_URL` ingests every item with its date
and title, a 404, a timeout and a 50 MB page each cost one line while the rest succeed, and a
second run fetches no page; `{"urls": [...]}` through the API, with private addresses refused unless
the setting allows them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import tests.helpers.news_site
from index.loaders import Article
from rag.pipeline import build
from tests.conftest import make_settings
from tests.helpers.chunks import kept_chunks
from tests.helpers.news_site import NewsSite
from ui.cli import main

news_site = tests.helpers.news_site.news_site

TITLES = {
    "Harbour board approves new ferry terminal",
    "Marsh valley bus route saved after petition",
    "School roof repairs to finish before autumn term",
}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    store = tmp_path / "store"
    monkeypatch.setenv("RAG_STORE__PATH", str(store))
    monkeypatch.setenv("RAG_FETCH__TIMEOUT", "1")
    monkeypatch.setenv("RAG_FETCH__MAX_BYTES", "1000000")
    monkeypatch.setenv("RAG_LLM__BACKEND", "extractive")
    monkeypatch.chdir(tmp_path)
    return store


def _articles(store: Path, embed_model: Any) -> dict[str, dict[str, Any]]:
    settings = make_settings(store)
    return {a["title"]: a for a in build(settings, embed_model=embed_model).catalogue.articles()}


@pytest.mark.server
def test_rag_ingest_a_feed_then_again(
    news_site: NewsSite, env: Path, embed_model: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = news_site.url + "/feed.xml"
    assert main(["ingest", "--quiet", feed]) == 0
    out = capsys.readouterr()
    articles = _articles(env, embed_model)
    assert set(articles) >= TITLES
    assert articles["Harbour board approves new ferry terminal"]["date"] == "2025-06-02"
    assert all(articles[t]["date"] for t in TITLES)
    errors = [line for line in out.err.splitlines() if line.startswith("skipped")]
    assert len(errors) == 3, out.err
    by_url = {line.split(": ", 1)[0].removeprefix("skipped "): line for line in errors}
    assert "404" in by_url[news_site.url + "/missing"]
    assert "timed out" in by_url[news_site.url + "/slow"]
    assert "RAG_FETCH__MAX_BYTES" in by_url[news_site.url + "/huge"]
    assert news_site.sent["/huge"] < 10_000_000  # of 50 MB

    pages_before = [p for p in news_site.requests if not p.endswith(".xml")]
    assert main(["ingest", "--quiet", feed]) == 0
    again = capsys.readouterr()
    pages_after = [p for p in news_site.requests if not p.endswith(".xml")]
    assert pages_after == pages_before  # the feed was read again, no page was fetched
    assert "0 new" in again.out and "failed before" in again.err
    assert main(["ingest", "--quiet", "--refresh", feed]) == 0  # fetches them all again
    capsys.readouterr()
    assert len(news_site.requests) > len(pages_after) + 3


@pytest.mark.server
def test_the_same_story_by_another_address_is_one_article(
    news_site: NewsSite, env: Path, embed_model: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", "--quiet", news_site.url + "/story-1.html"]) == 0
    capsys.readouterr()
    n = len(news_site.requests)
    # the same URL with a tracking parameter: not fetched at all
    assert main(["ingest", "--quiet", news_site.url + "/story-1.html?utm_source=feed"]) == 0
    assert len(news_site.requests) == n and "1 unchanged" in capsys.readouterr().out
    # its canonical address, which the page named: fetched (a page's word that it is another
    # address is not taken as that address fetched), and the same article, unchanged
    canonical = news_site.url + "/news/harbour-board-approves-ferry-terminal"
    assert main(["ingest", "--quiet", canonical]) == 0
    assert len(news_site.requests) == n + 1 and "1 unchanged" in capsys.readouterr().out
    assert len(_articles(env, embed_model)) == 1


@pytest.mark.server
def test_a_page_on_another_host_cannot_replace_an_article(
    news_site: NewsSite, env: Path, embed_model: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A page naming another site's indexed story its canonical address is an article of its own
    address: the story's text stays, cited under its own URL (it was replaced: issue 39, 1)."""
    story = news_site.url + "/news/harbour-board-approves-ferry-terminal"
    assert main(["ingest", "--quiet", story]) == 0
    before = _texts(env, embed_model)
    with NewsSite() as stranger:  # another port: another host
        assert main(["ingest", "--quiet", f"{stranger.url}/claims?url={story}"]) == 0
        assert "1 new" in capsys.readouterr().out
    after = _texts(env, embed_model)
    assert len(after) == 2 and before.items() <= after.items()
    assert sum("casino" in t for t in after.values()) == 1


@pytest.mark.server
def test_a_page_naming_an_indexed_address_its_own_cannot_replace_it(
    news_site: NewsSite, env: Path, embed_model: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """On the same site, a page that calls itself the indexed story is refused, saying only the
    story's own address replaces it; a page claiming an address not yet published is replaced
    by the real page once that is fetched (it was reported unchanged and never fetched)."""
    story = news_site.url + "/news/harbour-board-approves-ferry-terminal"
    assert main(["ingest", "--quiet", story]) == 0
    before = _texts(env, embed_model)
    capsys.readouterr()
    assert main(["ingest", "--quiet", f"{news_site.url}/claims?url={story}"]) != 0
    assert "only a fetch of that address itself replaces it" in capsys.readouterr().err
    assert _texts(env, embed_model) == before

    unpublished = news_site.url + "/news/marsh-valley-bus-route-saved"
    assert main(["ingest", "--quiet", f"{news_site.url}/claims?url={unpublished}"]) == 0
    assert sum("casino" in t for t in _texts(env, embed_model).values()) == 1
    n = len(news_site.requests)
    assert main(["ingest", "--quiet", unpublished]) == 0
    assert len(news_site.requests) == n + 1 and "1 changed" in capsys.readouterr().out
    texts = _texts(env, embed_model)
    assert len(texts) == 2 and not any("casino" in t for t in texts.values())


def _texts(store: Path, embed_model: Any) -> dict[str, str]:
    """Each article's indexed text, by id."""
    from rag.pipeline import build

    settings = make_settings(store)
    pipe = build(settings, embed_model=embed_model)
    try:
        chunks = kept_chunks(settings)
    finally:
        pipe.close()
    out: dict[str, str] = {}
    for chunk in chunks:
        article = str(chunk.metadata["article_id"])
        out[article] = out.get(article, "") + chunk.text
    return out


def _page_urls(store: Path) -> list[str]:
    from rag.store.ledger import open_ledger

    ledger = open_ledger(make_settings(store))
    try:
        with ledger._mutex:  # a test may read the table directly
            return [u for (u,) in ledger._db.execute("SELECT url FROM urls")]
    finally:
        ledger.close()


@pytest.mark.server
def test_post_urls_through_the_api(news_site: NewsSite, tmp_path: Path, embed_model: Any) -> None:
    from index.ingest import ingest
    from tests.conftest import SEEDS
    from ui.api import create_app

    settings = make_settings(tmp_path / "store", fetch={"timeout": 1, "max_bytes": 1_000_000})
    ingest([SEEDS], settings, embed_model, progress=False)
    with TestClient(create_app(build(settings, embed_model=embed_model), ui=False)) as client:
        r = client.post("/v1/articles", json={"urls": [news_site.url + "/story-2.html"]})
        assert r.status_code == 422, r.text  # 127.0.0.1 is private: refused by default
        assert "RAG_FETCH__PRIVATE_URLS" in r.json()["detail"]
        assert news_site.requests == []

    opened = make_settings(
        tmp_path / "store", fetch={"timeout": 1, "max_bytes": 1_000_000, "private_urls": True}
    )
    with TestClient(create_app(build(opened, embed_model=embed_model), ui=False)) as client:
        urls = [news_site.url + "/story-2.html", news_site.url + "/missing"]
        r = client.post("/v1/articles", json={"urls": urls})
        assert r.status_code == 200, r.text
        body = r.json()
        assert [x["status"] for x in body["results"]] == ["added"]
        assert [p["location"] for p in body["problems"]] == [news_site.url + "/missing"]
        answer = client.post(
            "/v1/query", json={"question": "Which bus route was saved after a petition?"}
        ).json()
        assert "41" in answer["answer"] or "Marsh valley" in answer["answer"], answer
        assert client.post("/v1/articles", json={"urls": ["ftp://x"]}).status_code == 422
        again = client.post("/v1/articles", json={"urls": urls[:1]}).json()
        assert again["results"][0]["status"] == "unchanged"


def test_a_feed_item_fills_what_the_page_lacks() -> None:
    from datetime import date

    from index.fetch import FeedItem, Page
    from index.loaders import DEFAULT_LIMITS
    from index.web import WebIntake, _add_page

    html = (
        b"<html><body><article><p>The Elwin ferry returns to service on 3 May after a refit "
        b"that took eleven weeks, the operator said on Monday.</p></article></body></html>"
    )
    page = Page("http://x.test/a", "http://x.test/a", "text/html", html, "utf-8")
    item = FeedItem("http://x.test/a", "Ferry back", date(2025, 4, 28), "Ann Lee", None)
    out = WebIntake()
    _add_page(page, item, DEFAULT_LIMITS, out)
    (article,) = out.articles
    assert isinstance(article, Article)
    assert (article.title, article.date, article.author) == (
        "Ferry back",
        date(2025, 4, 28),
        "Ann Lee",
    )
    assert article.location == "http://x.test/a" and article.id.startswith("u-")


@pytest.mark.slow
@pytest.mark.server
def test_polled_feeds_bring_new_items_only(
    news_site: NewsSite, tmp_path: Path, embed_model: Any
) -> None:
    import threading

    from index.watch import Round, poll_feeds

    settings = make_settings(tmp_path / "store", fetch={"timeout": 1, "max_bytes": 1_000_000})
    rounds: list[Round] = []
    stop = threading.Event()

    def seen(done: Round) -> None:
        rounds.append(done)
        if len(rounds) == 2:
            stop.set()

    # two rounds, 10 s apart (the shortest period): the second finds nothing new
    poll_feeds([news_site.url + "/feed.xml"], settings, embed_model, 10, stop, seen)
    first, second = rounds
    assert len(first.added) == 3 and len(first.problems) == 3
    assert second.added == [] and all("failed before" in p for p in second.problems)
    stories = sorted(p for p in news_site.requests if p.startswith("/story"))
    assert stories == ["/story-1.html", "/story-2.html", "/story-3.html"]  # each fetched once


@pytest.mark.server
def test_fetching_past_the_upload_time_adds_nothing(
    news_site: NewsSite, tmp_path: Path, embed_model: Any
) -> None:
    from index.web import ingest_urls
    from rag.errors import Deadline, TimeLimitError

    settings = make_settings(tmp_path / "store", fetch={"timeout": 1})
    with pytest.raises(TimeLimitError, match="RAG_SERVER__MAX_UPLOAD_SECONDS"):
        ingest_urls(
            [news_site.url + "/feed.xml"],
            settings,
            embed_model,
            progress=False,
            deadline=Deadline.after(1e-9, "RAG_SERVER__MAX_UPLOAD_SECONDS"),
        )
    assert not (tmp_path / "store" / "chroma").exists()  # nothing was written
