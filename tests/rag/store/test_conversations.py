"""Conversations kept on the server (`rag.store.conversations`): each owner sees only theirs, a
share token opens one read-only, a deleted one is gone."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from rag.store.conversations import MAX_TITLE, ConversationBook, PgConversationBook


@pytest.fixture(params=["file", "postgres"])
def book(request: pytest.FixtureRequest, tmp_path: Path) -> ConversationBook:
    """The file of a store folder, and the server store's book on a real PostgreSQL (a schema
    of this test's own: `RAG_STORE__URL` uses `rag__conversations`)."""
    if request.param == "file":
        return ConversationBook(tmp_path / "conversations.sqlite3")
    url = str(request.getfixturevalue("postgres"))
    return PgConversationBook(url, "rag__conversations_" + uuid.uuid4().hex[:8])


TURNS = [{"question": "When will Starmer host Rutte?", "shown": "Monday [1]", "answer": {}}]


def test_each_owner_sees_their_own_and_a_save_updates_the_one_open(book: ConversationBook) -> None:
    assert book.listed("key:a", "news") == []
    first = book.save("key:a", "news", TURNS)
    assert first.title == "When will Starmer host Rutte?"
    more = [*TURNS, {"question": "And Hegseth?", "shown": "…", "answer": None}]
    again = book.save("key:a", "news", more, first.id)
    assert again.id == first.id and book.get(first.id, "key:a").turns == more  # type: ignore[union-attr]
    assert book.listed("key:b", "news") == [] and book.get(first.id, "key:b") is None
    stolen = book.save("key:b", "news", TURNS, first.id)  # not b's: a new one of b's
    assert stolen.id != first.id and len(book.listed("key:a", "news")) == 1
    assert book.listed("key:a", "politics") == []


def test_a_share_token_opens_it_and_a_delete_removes_it(book: ConversationBook) -> None:
    kept = book.save("browser:x", "news", TURNS)
    assert book.share(kept.id, "browser:y") is None  # only its owner shares it
    token = book.share(kept.id, "browser:x")
    assert token and book.share(kept.id, "browser:x") == token
    assert book.shared(token).turns == TURNS  # type: ignore[union-attr]
    assert book.shared("nope") is None and book.shared("") is None
    assert not book.delete(kept.id, "browser:y") and book.delete(kept.id, "browser:x")
    assert book.shared(token) is None and book.listed("browser:x", "news") == []


def test_a_long_first_question_makes_a_short_title(book: ConversationBook) -> None:
    long = [{"question": "why " * 100, "shown": "", "answer": None}]
    assert len(book.save("o", "news", long).title) == MAX_TITLE


def test_the_server_store_keeps_them_on_postgres_and_a_folder_in_a_file(
    postgres,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    from rag.store.conversations import conversation_book
    from tests.conftest import make_settings

    served = make_settings(tmp_path / "a", store={"url": str(postgres)})
    assert isinstance(conversation_book(served), PgConversationBook)
    alone = conversation_book(make_settings(tmp_path / "b"))
    assert type(alone) is ConversationBook and alone.path.parent == tmp_path / "b"
