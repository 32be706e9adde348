"""Conversations kept on the server (`rag.store.conversations`): each owner sees only theirs, a
share token opens one read-only, a deleted one is gone."""

from __future__ import annotations

from pathlib import Path

from rag.store.conversations import MAX_TITLE, ConversationBook

TURNS = [{"question": "When will Starmer host Rutte?", "shown": "Monday [1]", "answer": {}}]


def test_each_owner_sees_their_own_and_a_save_updates_the_one_open(tmp_path: Path) -> None:
    book = ConversationBook(tmp_path / "conversations.sqlite3")
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


def test_a_share_token_opens_it_and_a_delete_removes_it(tmp_path: Path) -> None:
    book = ConversationBook(tmp_path / "conversations.sqlite3")
    kept = book.save("browser:x", "news", TURNS)
    assert book.share(kept.id, "browser:y") is None  # only its owner shares it
    token = book.share(kept.id, "browser:x")
    assert token and book.share(kept.id, "browser:x") == token
    assert book.shared(token).turns == TURNS  # type: ignore[union-attr]
    assert book.shared("nope") is None and book.shared("") is None
    assert not book.delete(kept.id, "browser:y") and book.delete(kept.id, "browser:x")
    assert book.shared(token) is None and book.listed("browser:x", "news") == []


def test_a_long_first_question_makes_a_short_title(tmp_path: Path) -> None:
    book = ConversationBook(tmp_path / "conversations.sqlite3")
    long = [{"question": "why " * 100, "shown": "", "answer": None}]
    assert len(book.save("o", "news", long).title) == MAX_TITLE
