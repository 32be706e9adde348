"""The feeds a collection follows, each with how often it is read (`Layout.feeds`, one SQLite file
per collection). `rag feeds add|list|remove`, `/v1/feeds` and the chat's *Add articles* keep the
list; a running `rag serve` reads every collection's due feeds (`index.watch.FeedPoller`) and
notes when and with what outcome each was last read.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rag.errors import ConfigError
from rag.store.sqlite import transaction

MIN_EVERY = 60.0  # seconds: a feed is not read more often than once a minute
MAX_EVERY = 7 * 86400.0
MAX_FEEDS = 500  # per collection

SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    url TEXT PRIMARY KEY,
    every REAL NOT NULL,
    added TEXT NOT NULL,
    last_read REAL,
    last_outcome TEXT NOT NULL DEFAULT ''
)
"""


@dataclass(frozen=True)
class Feed:
    url: str
    every: float  # seconds between reads
    added: str
    last_read: float | None = None  # time.time() of the last read
    last_outcome: str = ""

    def due(self, now: float) -> bool:
        return self.last_read is None or now - self.last_read >= self.every


def check_every(seconds: float) -> float:
    if not MIN_EVERY <= seconds <= MAX_EVERY:
        raise ConfigError(
            f"a feed is read every {MIN_EVERY:g} s to {MAX_EVERY / 86400:g} days, not {seconds:g} s"
        )
    return seconds


def check_url(url: str) -> str:
    url = url.strip()
    if not url.lower().startswith(("http://", "https://")) or len(url) > 2000:
        raise ConfigError(f"not an http(s) URL of at most 2,000 characters: {url[:80]!r}")
    return url


class FeedList:
    """The feeds of one collection (see the module's docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _db(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.path, SCHEMA)

    def add(self, url: str, every: float) -> Feed:
        """Follow `url` (or read it at another pace if followed already)."""
        url, every = check_url(url), check_every(every)
        added = datetime.now(UTC).replace(microsecond=0).isoformat()
        with self._db() as db:
            if db.execute("SELECT count(*) FROM feeds").fetchone()[0] >= MAX_FEEDS:
                known = db.execute("SELECT 1 FROM feeds WHERE url = ?", (url,)).fetchone()
                if not known:
                    raise ConfigError(f"a collection follows at most {MAX_FEEDS} feeds")
            db.execute(
                "INSERT INTO feeds (url, every, added) VALUES (?, ?, ?) "
                "ON CONFLICT(url) DO UPDATE SET every = excluded.every",
                (url, every, added),
            )
        return next(f for f in self.all() if f.url == url)

    def remove(self, url: str) -> bool:
        if not self.path.exists():
            return False
        with self._db() as db:
            return bool(db.execute("DELETE FROM feeds WHERE url = ?", (url.strip(),)).rowcount)

    def all(self) -> list[Feed]:
        if not self.path.exists():
            return []
        with self._db() as db:
            rows = db.execute(
                "SELECT url, every, added, last_read, last_outcome FROM feeds ORDER BY added, url"
            ).fetchall()
        return [Feed(*r) for r in rows]

    def due(self, now: float | None = None) -> list[Feed]:
        now = time.time() if now is None else now
        return [f for f in self.all() if f.due(now)]

    def read(self, urls: list[str], outcome: str, when: float | None = None) -> None:
        """Note that `urls` were read, and with what outcome."""
        when = time.time() if when is None else when
        with self._db() as db:
            db.executemany(
                "UPDATE feeds SET last_read = ?, last_outcome = ? WHERE url = ?",
                [(when, outcome[:500], u) for u in urls],
            )
