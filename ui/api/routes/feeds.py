"""`GET /v1/feeds` (the feeds the collection follows, how often, and what came of each last
read: any key that may read it), `POST /v1/feeds` (follow one, read it now: a write key) and
`DELETE /v1/feeds?url=URL` (stop following it: a write key). The list is `rag.store.feeds`';
`rag serve` reads the due ones (`ui.feeds`)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException
from starlette.concurrency import run_in_threadpool

from rag.errors import ConfigError
from rag.store.feeds import Feed, FeedList
from rag.store.layout import Layout
from ui.api.deps import Reader, Writer
from ui.api.schemas import FeedIn
from ui.feeds import read_feeds

router = APIRouter(tags=["articles"])


def shown(feed: Feed) -> dict[str, Any]:
    out = asdict(feed)
    if feed.last_read is not None:
        out["last_read"] = datetime.fromtimestamp(feed.last_read, UTC).isoformat(timespec="seconds")
    return out


@router.get("/feeds", summary="The feeds the collection follows")
def list_feeds(pipeline: Reader) -> dict[str, Any]:
    return {"feeds": [shown(f) for f in FeedList(Layout.of(pipeline.settings).feeds).all()]}


@router.post("/feeds", summary="Follow a feed (read now, then every few minutes)", status_code=201)
async def follow_feed(body: FeedIn, pipeline: Writer) -> dict[str, Any]:
    feeds = FeedList(Layout.of(pipeline.settings).feeds)
    try:
        feed = feeds.add(body.url, body.every_minutes * 60)
    except ConfigError as exc:
        raise HTTPException(422, str(exc)) from None
    if body.read_now:
        outcome = await run_in_threadpool(read_feeds, pipeline, [feed.url])
        feeds.read([feed.url], outcome)
        feed = next(f for f in feeds.all() if f.url == feed.url)
    return shown(feed)


@router.delete("/feeds", summary="Stop following a feed", responses={404: {}})
def unfollow_feed(url: str, pipeline: Writer) -> dict[str, Any]:
    if not FeedList(Layout.of(pipeline.settings).feeds).remove(url):
        raise HTTPException(404, f"the collection follows no feed {url[:200]!r}: GET /v1/feeds")
    return {"url": url, "status": "removed"}
