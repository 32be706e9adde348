"""rag.store.layout: every path under the store folder from one place; a Chroma server's
collection never shares a file with a same-named collection of another server or of the folder."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from rag.store.layout import Layout
from rag.store.ledger import Ledger, ledger_path
from rag.store.migrations import LEDGER_COLUMNS
from tests.conftest import make_settings


def test_a_local_collection_keeps_its_files_where_they_always_were(tmp_path: Path) -> None:
    layout = Layout.of(make_settings(tmp_path, store={"collection": "news"}))
    assert layout.chroma == tmp_path / "chroma"
    assert layout.ledger == tmp_path / "ledger-news.sqlite3"
    assert layout.writers_lock == tmp_path / "ledger-news.sqlite3.lock"
    assert layout.bm25 == tmp_path / "bm25" / "news"
    assert layout.job_log("build") == tmp_path / "bm25" / "news.build.log"


def test_collections_of_two_servers_do_not_share_a_file(tmp_path: Path) -> None:
    here = Layout.of(make_settings(tmp_path, store={"collection": "news"}))
    one = Layout.of(
        make_settings(tmp_path, store={"collection": "news", "host": "127.0.0.1", "port": 8001})
    )
    two = Layout.of(
        make_settings(tmp_path, store={"collection": "news", "host": "127.0.0.1", "port": 8002})
    )
    for path in ("ledger", "bm25", "entities", "entities_lock", "bm25_build_lock"):
        assert len({getattr(x, path) for x in (here, one, two)}) == 3, path


def test_the_ledger_is_where_the_layout_says(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, store={"host": "127.0.0.1", "port": 8001})
    assert ledger_path(settings) == Layout.of(settings).ledger
    assert Layout.of(settings).ledger.name.startswith("ledger-127.0.0.1_8001-")


def test_an_old_ledger_gets_its_columns_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "ledger-news.sqlite3"
    with sqlite3.connect(path) as db:  # the first ledger's articles table
        db.execute(
            "CREATE TABLE articles (id TEXT PRIMARY KEY, hash TEXT NOT NULL, "
            "chunks INTEGER NOT NULL, text_hash TEXT NOT NULL DEFAULT '')"
        )
        db.execute("INSERT INTO articles VALUES ('a', 'h', 3, 't')")
    ledger = Ledger(path)
    try:
        assert ledger.hashes() == {"a": "h"}
    finally:
        ledger.close()
    with sqlite3.connect(path) as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(articles)")}
    assert {name for name, _ in LEDGER_COLUMNS} <= columns
