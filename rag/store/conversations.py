"""Conversations kept on the server, so that a reader finds them again after a reload, on another
day or in another browser with the same key.

One SQLite file per store folder (`Layout.conversations`); with the server store
(`RAG_STORE__URL`), `PgConversationBook` keeps them on PostgreSQL for every machine
(`conversation_book` picks). Each conversation belongs to one
collection and one owner (the key's id where keys are used, else a random id the browser keeps),
holds its turns as the chat keeps them (question, what was shown, the Answer as JSON), and can be
shared: `share` gives it a token, and whoever opens the link with the token sees it read-only
(the web UI still asks for a key that may read its collection where keys are used).
"""

from __future__ import annotations

import json
import secrets
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag.settings import Settings
from rag.store import postgres
from rag.store.layout import Layout
from rag.store.sqlite import transaction

MAX_TITLE = 80
MAX_LISTED = 200  # conversations a sidebar lists, newest first

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    collection TEXT NOT NULL,
    owner TEXT NOT NULL,
    title TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    turns TEXT NOT NULL,
    share TEXT UNIQUE
);
CREATE INDEX IF NOT EXISTS conversations_owner ON conversations (owner, collection, updated);
"""


@dataclass(frozen=True)
class Conversation:
    id: str
    collection: str
    owner: str
    title: str
    created: str
    updated: str
    turns: list[dict[str, Any]]
    share: str | None = None


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def title_of(turns: list[dict[str, Any]]) -> str:
    first = " ".join(str(turns[0].get("question", "")).split()) if turns else ""
    return (first[: MAX_TITLE - 1] + "…") if len(first) > MAX_TITLE else first or "(empty)"


class ConversationBook:
    """The conversations of one store folder (see the module's docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _db(self) -> AbstractContextManager[Any]:
        return transaction(self.path, SCHEMA)

    def _exists(self) -> bool:
        return self.path.exists()

    @staticmethod
    def _row(r: tuple[Any, ...]) -> Conversation:
        return Conversation(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), r[7])

    _COLUMNS = "id, collection, owner, title, created, updated, turns, share"

    def save(
        self, owner: str, collection: str, turns: list[dict[str, Any]], cid: str | None = None
    ) -> Conversation:
        """Keep the turns as conversation `cid` (a new one when None or not the owner's)."""
        now, body = _now(), json.dumps(turns, ensure_ascii=False)
        with self._db() as db:
            if cid is not None:
                done = db.execute(
                    "UPDATE conversations SET turns = ?, title = ?, updated = ? "
                    "WHERE id = ? AND owner = ? AND collection = ?",
                    (body, title_of(turns), now, cid, owner, collection),
                ).rowcount
                if done:
                    row = db.execute(
                        f"SELECT {self._COLUMNS} FROM conversations WHERE id = ?", (cid,)
                    ).fetchone()
                    return self._row(row)
            new = "c_" + secrets.token_hex(8)
            db.execute(
                f"INSERT INTO conversations ({self._COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                (new, collection, owner, title_of(turns), now, now, body),
            )
        return Conversation(new, collection, owner, title_of(turns), now, now, turns)

    def listed(self, owner: str, collection: str) -> list[Conversation]:
        """The owner's conversations in the collection, the latest first."""
        if not self._exists():
            return []
        with self._db() as db:
            rows = db.execute(
                f"SELECT {self._COLUMNS} FROM conversations WHERE owner = ? AND collection = ? "
                "ORDER BY updated DESC, id LIMIT ?",
                (owner, collection, MAX_LISTED),
            ).fetchall()
        return [self._row(r) for r in rows]

    def get(self, cid: str, owner: str) -> Conversation | None:
        """Conversation `cid` if it is the owner's."""
        if not self._exists():
            return None
        with self._db() as db:
            row = db.execute(
                f"SELECT {self._COLUMNS} FROM conversations WHERE id = ? AND owner = ?",
                (cid, owner),
            ).fetchone()
        return self._row(row) if row else None

    def delete(self, cid: str, owner: str) -> bool:
        if not self._exists():
            return False
        with self._db() as db:
            return bool(
                db.execute(
                    "DELETE FROM conversations WHERE id = ? AND owner = ?", (cid, owner)
                ).rowcount
            )

    def share(self, cid: str, owner: str) -> str | None:
        """A token that opens the conversation read-only (the same one each time); None when
        it is not the owner's."""
        found = self.get(cid, owner)
        if found is None:
            return None
        if found.share:
            return found.share
        token = secrets.token_urlsafe(18)
        with self._db() as db:
            db.execute("UPDATE conversations SET share = ? WHERE id = ?", (token, cid))
        return token

    def shared(self, token: str) -> Conversation | None:
        """The conversation a share token opens."""
        if not token or not self._exists():
            return None
        with self._db() as db:
            row = db.execute(
                f"SELECT {self._COLUMNS} FROM conversations WHERE share = ?", (token,)
            ).fetchone()
        return self._row(row) if row else None


CONVERSATIONS_SCHEMA = "rag__conversations"  # (no collection's: they cannot start with "_")


class PgConversationBook(ConversationBook):
    """The conversations on the PostgreSQL server of the server store: a reader finds them
    through whichever server answers."""

    def __init__(self, url: str, schema: str = CONVERSATIONS_SCHEMA) -> None:
        self.url, self.schema = url, schema

    def _db(self) -> AbstractContextManager[Any]:
        return postgres.transaction(self.url, self.schema, SCHEMA)

    def _exists(self) -> bool:
        return True


def conversation_book(settings: Settings) -> ConversationBook:
    """The conversations: on the PostgreSQL server where the books are (`RAG_STORE__URL`), for
    every machine, else the file in the store folder."""
    url = postgres.server_url(settings)
    return (
        ConversationBook(Layout.of(settings).conversations)
        if url is None
        else PgConversationBook(url)
    )
