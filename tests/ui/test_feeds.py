"""The feeds a collection follows: `/v1/feeds` (and `rag feeds`) keep the list, a new feed is read
at once, and `rag serve`'s poller (`ui.feeds.FeedPoller`) reads the due ones into their own
collection, noting each one's outcome. A real news site on 127.0.0.1 serves the feed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import tests.helpers.news_site
from index.ingest import ingest
from rag.pipeline import build
from rag.settings import on_collection
from rag.store.feeds import FeedList
from rag.store.layout import Layout
from tests.conftest import SEEDS, make_settings
from tests.helpers.news_site import NewsSite
from ui.api import create_app
from ui.feeds import FeedPoller

news_site = tests.helpers.news_site.news_site

pytestmark = pytest.mark.server  # the local news site


@pytest.fixture
def client(tmp_path: Path, embed_model) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path / "store", fetch={"private_urls": True})
    ingest([SEEDS], settings, embed_model, progress=False)
    note = tmp_path / "desk.jsonl"
    note.write_text(json.dumps({"id": "desk-1", "title": "Desk", "text": "A desk note."}) + "\n")
    ingest([note], on_collection(settings, "desk"), embed_model, progress=False)
    app = create_app(build(settings, embed_model=embed_model), ui=False)
    with TestClient(app) as c:
        yield c
    app.state.served.close()


def test_a_followed_feed_is_read_now_and_again_when_due_into_its_collection(
    client: TestClient, news_site: NewsSite
) -> None:
    feed = news_site.url + "/feed.xml"
    made = client.post("/v1/collections/desk/feeds", json={"url": feed, "every_minutes": 5})
    assert made.status_code == 201, made.text
    first = made.json()
    assert first["url"] == feed and first["every"] == 300 and first["last_read"]
    assert "new" in first["last_outcome"] and "0 new" not in first["last_outcome"]
    desk = client.get("/v1/collections/desk/articles").json()
    assert desk["count"] > 1  # the feed's items beside the note
    assert client.get("/v1/articles").json()["count"] == 5  # the default collection: the seeds
    listed = client.get("/v1/collections/desk/feeds").json()["feeds"]
    assert [f["url"] for f in listed] == [feed]

    served = client.app.state.served  # type: ignore[attr-defined]
    poller = FeedPoller(served)
    assert poller.round() == {}  # read a moment ago: not due
    feeds = FeedList(Layout.of(on_collection(served.settings, "desk")).feeds)
    feeds.read([feed], "read long ago", when=0)
    outcome = poller.round()
    assert set(outcome) == {"desk"} and "0 new" in outcome["desk"]  # nothing new since
    assert feeds.all()[0].last_outcome == outcome["desk"]

    gone = client.delete("/v1/collections/desk/feeds", params={"url": feed})
    assert gone.status_code == 200
    assert client.delete("/v1/collections/desk/feeds", params={"url": feed}).status_code == 404
    assert client.get("/v1/collections/desk/feeds").json()["feeds"] == []


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"url": "ftp://example.org/feed"}, "not an http(s) URL"),
        ({"url": "https://example.org/feed", "every_minutes": 0}, "greater than or equal to 1"),
        ({"url": "https://example.org/feed", "often": 3}, "often"),
    ],
)
def test_a_bad_feed_is_a_422_that_says_why(
    client: TestClient, body: dict[str, object], says: str
) -> None:
    got = client.post("/v1/feeds", json={"read_now": False} | body)
    assert got.status_code == 422 and says in got.text
    assert client.get("/v1/feeds").json()["feeds"] == []
