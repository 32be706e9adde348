"""The books (the ingestion ledger and the writers' lock) kept the same way in a file and on a
real PostgreSQL server (`RAG_STORE__URL`): one contract, both engines."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from filelock import Timeout

from rag.errors import StoreUnavailableError
from rag.settings import Settings
from rag.store.ledger import (
    Ledger,
    LedgerBusyError,
    PgLedger,
    Recorded,
    arrivals,
    open_ledger,
    read_ledger,
    writer_active,
    writers_lock,
)
from tests.conftest import make_settings

pytestmark = [pytest.mark.server]  # the server half starts PostgreSQL


@pytest.fixture(params=["files", "server"])
def books(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "files":
        return make_settings(tmp_path / "store")
    return request.getfixturevalue("pg_settings")  # type: ignore[no-any-return]


def row(article: str, *, kept: tuple[str, ...] = (), copied: tuple[str, ...] = ()) -> Recorded:
    return Recorded(
        article, f"h-{article}", 2, f"t-{article}", f"i-{article}", {"title": article}, kept, copied
    )


def test_the_books_record_change_and_forget_articles(books: Settings) -> None:
    ledger = open_ledger(books)
    assert isinstance(ledger, PgLedger) == (books.store.url is not None)
    assert len(ledger) == 0 and ledger.version() == 0 and ledger.paragraphs_complete()
    ledger.record([row("a", kept=("p1", "p2")), row("b", kept=("p3",), copied=("p1",))])
    assert ledger.hashes() == {"a": "h-a", "b": "h-b"} and len(ledger) == 2
    assert ledger.version() == 1
    assert ledger.owners(["p1", "p3", "p9"]) == {"p1": "a", "p3": "b"}
    assert ledger.owned_by("a") == {"p1", "p2"} and ledger.copies_map() == {"p1": {"b"}}
    assert ledger.bodies(["a", "zz"]) == {"a": {"title": "a"}}
    assert ledger.versions(["b"]) == {"b": "h-b"} and ledger.chunk_counts() == {"a": 2, "b": 2}
    assert ledger.chunk_ids() is not None and len(ledger.chunk_ids() or []) == 4
    fingerprint = ledger.fingerprint()

    ledger.record([row("a", kept=("p2",))])  # a changed: it no longer indexes p1
    assert ledger.stranded() == {"b"}  # b left p1 to a, which dropped it
    ledger.note_inputs([("a", "i-new")])
    assert ledger.entries()["a"].input_hash == "i-new"
    ledger.invalidate(["b"])
    assert ledger.hashes()["b"] == "" and ledger.chunk_ids() is None
    ledger.remove(["b"])
    assert set(ledger.hashes()) == {"a"} and ledger.fingerprint() != fingerprint
    assert [a for a, _ in ledger.arrivals(5)] == ["a"]
    assert list(arrivals(books)) == ["a"]
    ledger.clear()
    assert len(ledger) == 0 and ledger.paragraphs_complete()
    ledger.close()


def test_the_books_remember_urls_and_failures(books: Settings) -> None:
    ledger = open_ledger(books)
    ledger.record([row("a")])
    ledger.note_failed_urls([("http://x/1", "timed out")])
    assert ledger.failed_urls(["http://x/1"], since=time.time() - 60) == {"http://x/1": "timed out"}
    assert ledger.failed_urls(["http://x/1"], since=time.time() + 60) == {}
    ledger.note_urls([("http://x/1", "a"), ("http://x/2", "a")])
    ledger.note_urls([("http://x/2", "a")])  # again: one row
    assert ledger.urls(["http://x/1", "http://x/2", "http://x/3"]) == {
        "http://x/1": "a",
        "http://x/2": "a",
    }
    assert ledger.failed_urls(["http://x/1"], since=0) == {}  # fetched since
    many = [f"http://x/{i}" for i in range(2500)]  # more than one IN list's worth
    assert ledger.urls(many) == {"http://x/1": "a", "http://x/2": "a"}
    ledger.close()


def test_a_second_writer_is_told_busy_and_a_reader_sees_the_writes(books: Settings) -> None:
    first, second = open_ledger(books), open_ledger(books)
    with first.writing(timeout=5):
        assert writer_active(books)
        with (
            pytest.raises(LedgerBusyError, match="another ingest is writing"),
            second.writing(timeout=0.2),
        ):
            pass
        lock = writers_lock(books)
        with pytest.raises(Timeout):
            lock.acquire(timeout=0.1)
        first.record([row("a")])
    assert not writer_active(books)
    assert second.version() == 1 and second.hashes() == {"a": "h-a"}  # no stale read
    with second.writing(timeout=5):
        second.remove(["a"])
    assert len(first) == 0
    first.close()
    second.close()


def test_a_collection_with_no_books_reads_as_none(books: Settings) -> None:
    assert read_ledger(books) is None
    assert arrivals(books) == {}
    open_ledger(books).close()  # made
    found = read_ledger(books)
    assert found is not None and len(found) == 0
    found.close()


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_writer_that_dies_lets_the_lock_go(pg_settings: Settings) -> None:
    url = pg_settings.store.url
    assert url is not None
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from rag.store.postgres import AdvisoryLock\n"
            "held = AdvisoryLock(sys.argv[1], sys.argv[2]).acquire()\n"
            "print('held', flush=True)\n"
            "time.sleep(600)\n",
            url.get_secret_value(),
            pg_settings.store.collection,
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        assert writer_active(pg_settings)
        holder.kill()  # kill -9: no release, the server ends its session
        holder.wait()
        lock = writers_lock(pg_settings)
        lock.acquire(timeout=10)
        lock.release()
    finally:
        holder.kill()


def test_a_server_that_cannot_be_reached_says_which_and_what_to_check(tmp_path: Path) -> None:
    from tests.helpers.processes import free_port

    url = f"postgresql://news:s3cret@127.0.0.1:{free_port()}/news"
    settings = make_settings(tmp_path / "store", store={"url": url})
    with pytest.raises(StoreUnavailableError) as caught:
        open_ledger(settings)
    said = str(caught.value)
    assert "127.0.0.1" in said and "RAG_STORE__URL" in said and "s3cret" not in said


def test_a_store_url_that_is_not_postgres_is_refused(tmp_path: Path) -> None:
    from rag.errors import ConfigError

    with pytest.raises(ConfigError, match=r"RAG_STORE__URL: .*not a PostgreSQL URL: give one like"):
        make_settings(tmp_path, store={"url": "mysql://db/news"})
    assert make_settings(tmp_path, store={"url": ""}).store.url is None


def test_the_file_ledger_is_still_a_file(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "store")
    ledger = open_ledger(settings)
    assert type(ledger) is Ledger and ledger.path.suffix == ".sqlite3"
    ledger.close()


@pytest.mark.slow
def test_a_collection_deleted_takes_its_books_off_the_server(
    pg_settings: Settings, embed_model
) -> None:  # type: ignore[no-untyped-def]
    from index.collections import delete_collection, list_collections
    from index.ingest import ingest
    from rag.store.postgres import collection_exists
    from tests.conftest import SEEDS

    ingest([SEEDS], pg_settings, embed_model, progress=False)
    name, url = pg_settings.store.collection, pg_settings.store.url
    assert url is not None
    listed = {c.name: c.articles for c in list_collections(pg_settings)}
    assert listed == {name: 5}  # counted from the server's books
    gone = delete_collection(pg_settings, name)
    assert gone.articles == 5
    assert not collection_exists(url.get_secret_value(), name)
    assert read_ledger(pg_settings) is None
