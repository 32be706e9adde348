"""Reading the feeds each collection follows, while `rag serve` runs.

`FeedPoller.run` looks every CHECK_SECONDS at each collection's feed list (`rag.store.feeds`) and
reads the feeds that are due into that collection (`index.web.ingest_urls`: only new items are
fetched), one writer at a time with the server's uploads, then lets the collection's pipeline
see them and notes each feed's outcome. A collection is opened to be written to, and closed again
when idle like any other.
"""

from __future__ import annotations

import logging
import threading

from rag.errors import RagError
from rag.pipeline import Pipeline
from rag.settings import on_collection
from rag.store.feeds import FeedList
from rag.store.layout import Layout
from ui.served import NoSuchCollection, Served

log = logging.getLogger(__name__)

CHECK_SECONDS = 30.0


def read_feeds(pipeline: Pipeline, urls: list[str]) -> str:
    """Read `urls` into the pipeline's collection; what came of it, in a line."""
    from ui.api.routes.articles import fetch_into

    report, _ = fetch_into(pipeline, urls)
    problems = "; ".join(f"{p.location}: {p.message}" for p in report.problems[:3])
    return report.summary() + (f" (problems: {problems})" if problems else "")


class FeedPoller:
    """See the module's docstring."""

    def __init__(self, served: Served, check_seconds: float = CHECK_SECONDS) -> None:
        self.served, self.check_seconds = served, check_seconds

    def round(self) -> dict[str, str]:
        """Read every due feed of every collection once: collection -> outcome."""
        done = {}
        for name in sorted(self.served.names()):
            feeds = FeedList(Layout.of(on_collection(self.served.settings, name)).feeds)
            due = [f.url for f in feeds.due()]
            if not due:
                continue
            try:
                outcome = read_feeds(self.served.pipeline(name), due)
            except NoSuchCollection:
                continue  # deleted meanwhile
            except RagError as exc:
                outcome = f"not read: {exc}"
            except Exception as exc:  # a feed must not stop the others, nor the poller
                log.exception("reading the feeds of %r", name)
                outcome = f"not read: {type(exc).__name__}"
            feeds.read(due, outcome)
            done[name] = outcome
            log.info("feeds of %r: %s", name, outcome)
        return done

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.check_seconds):
            try:
                self.round()
            except Exception:
                log.exception("the feed poller's round failed")
