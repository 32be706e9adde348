"""The ingestion ledger: one record of what is indexed, shared by every writer; writers serialise
across processes; a running pipeline sees what another writer added without a restart."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from chromadb.api.shared_system_client import SharedSystemClient

from index.ingest import ingest
from rag.pipeline import build
from rag.settings import Settings
from rag.store.chroma import Store
from rag.store.layout import Layout
from rag.store.ledger import Ledger, LedgerBusyError, ledger_path
from tests.conftest import SEEDS, make_settings
from tests.helpers.chunks import kept_chunks


def _article(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.txt"
    path.write_text(text, encoding="utf-8")
    return path


def _corpus(path: Path, prefix: str, n: int) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            body = " ".join(
                f"The {prefix} council of town {i} met on day {j} to discuss road number {i * j}."
                for j in range(12)
            )
            f.write(json.dumps({"id": f"{prefix}-{i}", "title": f"{prefix} {i}", "text": body}))
            f.write("\n")
    return path


def _articles_in_store(settings: Settings) -> set[str]:
    return {r.metadata["article_id"] for r in Store(settings.store).records(documents=False)}


def test_ledger_records_what_the_store_holds(tmp_path: Path, embed_model) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path / "store")
    ingest([SEEDS], settings, embed_model, progress=False)
    ledger = Ledger(ledger_path(settings))
    assert set(ledger.hashes()) == _articles_in_store(settings)
    assert len(ledger) == 5
    before = ledger.version()
    report = ingest([SEEDS], settings, embed_model, progress=False)
    assert report.unchanged == 5 and report.chunks_added == 0
    assert ledger.version() == before  # nothing written, nothing recorded


def test_a_second_writer_waits_or_is_told_busy(tmp_path: Path, embed_model) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path / "store")
    ledger = Ledger(ledger_path(settings))
    with ledger.writing(), pytest.raises(LedgerBusyError, match="another ingest"):
        ingest([SEEDS], settings, embed_model, progress=False, lock_timeout=0.2)
    report = ingest([SEEDS], settings, embed_model, progress=False, lock_timeout=5)
    assert report.new == 5


@pytest.mark.slow
@pytest.mark.subprocess
def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    store = tmp_path / "store"
    env = {**os.environ, "RAG_STORE__PATH": str(store)}
    a = _corpus(tmp_path / "a.jsonl", "alpha", 150)
    b = _corpus(tmp_path / "b.jsonl", "beta", 150)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "ui.cli", "ingest", "--quiet", str(path)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for path in (a, b)
    ]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err.decode()[-2000:]
    settings = make_settings(store)
    recorded = set(Ledger(ledger_path(settings)).hashes())
    assert len(recorded) == 300
    assert recorded == _articles_in_store(settings)
    # and a later prune knows every article either writer added
    report = ingest([a], settings, _embed(settings), prune=True, progress=False)
    assert report.removed == 150
    assert _articles_in_store(settings) == {f"alpha-{i}" for i in range(150)}


def _embed(settings: Settings):  # type: ignore[no-untyped-def]
    from rag.embeddings import backends

    return backends.build(settings.embed)


def test_a_running_pipeline_sees_articles_another_writer_added(
    tmp_path: Path, seeded: Settings, embed_model
) -> None:  # type: ignore[no-untyped-def]
    shutil.copytree(seeded.store.path, tmp_path / "store")
    settings = make_settings(tmp_path / "store")
    pipeline = build(settings, embed_model=embed_model)
    new = _article(
        tmp_path / "new",
        "zeppelin",
        "Title: Airship returns to Friedrichshafen\n\nThe Zeppelin NT airship Quokka flew over "
        "Lake Constance on Tuesday for the first time since its restoration, the operator said.",
    )
    ingest([new], settings, embed_model, progress=False)  # another writer: no refresh() here
    hits = pipeline.retriever.retrieve("Which airship flew over Lake Constance?", top_k=3)
    assert hits and hits[0].article_id == "zeppelin"


def test_chunks_written_but_never_recorded_are_not_served(
    tmp_path: Path, seeded: Settings, embed_model
) -> None:  # type: ignore[no-untyped-def]
    """kill -9 between writing a batch's chunks and recording it leaves chunks no article owns:
    they were read from the store as "written since the snapshot" and cited (issue 39, finding
    6). Only chunks of an article the ledger records are served; once recorded, they are."""
    from rag.store.chroma import Store

    shutil.copytree(seeded.store.path, tmp_path / "store")
    settings = make_settings(tmp_path / "store")
    new = _article(
        tmp_path / "new",
        "zeppelin",
        "Title: Airship returns to Friedrichshafen\n\nThe Zeppelin NT airship Quokka flew over "
        "Lake Constance on Tuesday for the first time since its restoration, the operator said.",
    )
    elsewhere = make_settings(tmp_path / "elsewhere")
    ingest([new], elsewhere, embed_model, progress=False)
    written = Store(elsewhere.store).collection.get(
        include=["embeddings", "metadatas", "documents"]
    )
    # the batch's chunks reach the store; the process dies before the ledger records them
    Store(settings.store).collection.add(
        ids=written["ids"],
        embeddings=written["embeddings"],
        metadatas=written["metadatas"],
        documents=written["documents"],
    )
    SharedSystemClient.clear_system_cache()
    pipeline = build(settings, embed_model=embed_model)  # the server starts again
    question = "Which airship flew over Lake Constance?"
    for mode in ("dense", "hybrid"):
        hits = pipeline.retriever.retrieve(question, top_k=5, mode=mode)
        assert hits and all(h.article_id != "zeppelin" for h in hits), mode
    ingest([new], settings, embed_model, progress=False)  # the next run records it
    hits = pipeline.retriever.retrieve(question, top_k=3, mode="dense")
    assert hits and hits[0].article_id == "zeppelin"


def test_an_older_docstore_is_imported_once(tmp_path: Path, embed_model) -> None:  # type: ignore[no-untyped-def]
    from llama_index.core.storage.docstore import SimpleDocumentStore

    settings = make_settings(tmp_path / "store")
    ingest([SEEDS], settings, embed_model, progress=False)
    # make the store look like one written before the ledger existed
    hashes = Ledger(ledger_path(settings)).hashes()
    ledger_path(settings).unlink()
    old = SimpleDocumentStore()
    old.set_document_hashes({doc_id: h for doc_id, h in hashes.items()})
    old.persist(str(Layout.of(settings).old_docstore))
    report = ingest([SEEDS], settings, embed_model, progress=False)
    assert report.unchanged == 5 and report.chunks_added == 0
    assert not Layout.of(settings).old_docstore.exists()
    assert Ledger(ledger_path(settings)).hashes() == hashes


def test_an_unchanged_archive_is_skipped_without_reading_the_store(
    tmp_path: Path, embed_model, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path / "store")
    ingest([SEEDS], settings, embed_model, progress=False)
    ingest([SEEDS], settings, embed_model, progress=False)  # records the input hashes

    def no_scan(*args: object, **kwargs: object) -> None:
        raise AssertionError("an unchanged archive needs no scan of the store")

    monkeypatch.setattr(Store, "records", no_scan)
    report = ingest([SEEDS], settings, embed_model, progress=False)
    assert report.unchanged == 5 and report.chunks_added == 0
    monkeypatch.undo()
    # one changed article: everything is checked again, only it is written
    folder = tmp_path / "seeds"
    shutil.copytree(SEEDS, folder)
    first = sorted(folder.glob("*.txt"))[0]
    first.write_text(first.read_text(encoding="utf-8") + "\n\nA new closing line.\n", "utf-8")
    report = ingest([folder], settings, embed_model, progress=False)
    assert report.updated >= 1 and report.chunks_added >= 1


def test_a_ledger_from_before_paragraph_books_is_filled_from_the_store(
    tmp_path: Path, embed_model
) -> None:  # type: ignore[no-untyped-def]
    """An index written before the ledger kept paragraph owners and article text: the next ingest
    takes the owners from the store; a copy whose text it cannot restore is reported, by name,
    with what to do, and ingesting its file brings its paragraphs back."""
    import sqlite3

    folder = tmp_path / "in"
    shared = "The northern pier of Port Elwin closed on Monday after storm damage to its deck."
    _article(folder, "a_first", "Pier closed\n\n" + shared)
    _article(folder, "b_copy", "Pier shut\n\n" + shared + "\n\nFerries dock at the south quay.")
    settings = make_settings(tmp_path / "store")
    ingest([folder], settings, embed_model, progress=False)
    with sqlite3.connect(ledger_path(settings)) as db:  # what an older version left
        db.execute("DELETE FROM paragraphs")
        db.execute("DELETE FROM copies")
        db.execute("DELETE FROM state WHERE key='paragraphs'")
        db.execute("UPDATE articles SET body=NULL")
    edited = _article(folder, "a_first", "Pier closed\n\nThe pier reopened on Friday.")
    report = ingest([edited], settings, embed_model, progress=False)
    assert Ledger(ledger_path(settings)).paragraphs_complete()
    assert [p.location for p in report.problems] == ["b_copy"]
    assert "ingest its file again" in report.problems[0].message
    report = ingest([folder], settings, embed_model, progress=False)
    assert report.updated == 1 and not report.problems
    texts = [r.text for r in kept_chunks(settings) if r.metadata["article_id"] == "b_copy"]
    assert any("storm damage" in t for t in texts)


def test_adding_articles_reads_no_chunks_back_from_the_store(
    tmp_path: Path, embed_model, request: pytest.FixtureRequest
) -> None:  # type: ignore[no-untyped-def]
    """Who indexes each paragraph is in the ledger: adding articles to a big store costs the new
    articles, not a scan of every chunk (which the first versions did on every change)."""
    settings = make_settings(tmp_path / "store")
    ingest([SEEDS], settings, embed_model, progress=False)
    reads = request.getfixturevalue("store_reads")  # counted from here on
    new = _article(tmp_path / "new", "harbour", "Harbour\n\nThe harbour of Elwin reopened.")
    copy = _article(
        tmp_path / "new",
        "copy",
        "Copy\n\n" + next(SEEDS.glob("001_*.txt")).read_text(encoding="utf-8").split("\n\n")[3],
    )
    report = ingest([new, copy], settings, embed_model, progress=False)
    assert report.new == 2 and report.duplicate_paragraphs == 1  # dedup still applies
    assert reads == []


def _vectors_found(settings: Settings, prefix: str) -> tuple[int, int]:
    """(found, chunks): how many of the `prefix` articles' chunks the vector index returns among
    the 50 nearest to their own stored vector, in a fresh process. A vector the index lost is
    not found (Chroma cannot even return it); one it holds is (HNSW finds a point from its own
    coordinates: 98-100 % here)."""
    script = (
        "import sys\nfrom rag.settings import load\nfrom rag.store.chroma import Store\n"
        "store = Store(load(None).store)\nprefix = sys.argv[1] + '-'\n"
        "ids = [r.id for r in store.records(documents=False)\n"
        "       if str(r.metadata.get('article_id', '')).startswith(prefix)]\n"
        "def vector(cid):  # Chroma reads it from the vector index: an error when lost\n"
        "    try:\n"
        "        return store.collection.get(ids=[cid], include=['embeddings'])['embeddings'][0]\n"
        "    except Exception:\n"
        "        return None\n"
        "held = [(c, v) for c in ids if (v := vector(c)) is not None]\n"
        "found = 0\n"
        "for at in range(0, len(held), 200):\n"
        "    batch = held[at : at + 200]\n"
        "    res = store.collection.query(\n"
        "        query_embeddings=[v for _, v in batch], n_results=50, include=[])\n"
        "    found += sum(c in hits for (c, _), hits in zip(batch, res['ids']))\n"
        "print(found, len(ids))\n"
    )
    env = {**os.environ, "RAG_STORE__PATH": str(settings.store.path)}
    done = subprocess.run(
        [sys.executable, "-c", script, prefix],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found, chunks = map(int, done.stdout.split())
    return found, chunks


@pytest.mark.slow
@pytest.mark.subprocess
def test_two_writer_processes_keep_each_others_vectors(tmp_path: Path, embed_model) -> None:  # type: ignore[no-untyped-def]
    """A process that has the store open (a server) writes after another process (`rag
    ingest`) did: its write must not replace the vector index with its own stale copy, which
    lost about half of the other writer's vectors (found by the chunk records, not by search)."""
    settings = make_settings(tmp_path / "store")
    ingest([SEEDS], settings, embed_model, progress=False)
    pipeline = build(settings, embed_model=embed_model)  # this process holds the store open
    alpha = _corpus(tmp_path / "alpha.jsonl", "alpha", 1000)
    cli = subprocess.run(
        [sys.executable, "-m", "ui.cli", "ingest", "--quiet", str(alpha)],
        env={**os.environ, "RAG_STORE__PATH": str(settings.store.path)},
        cwd=tmp_path,
        capture_output=True,
    )
    assert cli.returncode == 0, cli.stderr.decode()[-2000:]
    ingest([_corpus(tmp_path / "beta.jsonl", "beta", 1000)], settings, embed_model, progress=False)
    pipeline.refresh()
    for prefix in ("alpha", "beta"):
        found, chunks = _vectors_found(settings, prefix)
        assert chunks >= 1000  # every article has its chunk records
        # the stale write left about half of one writer's vectors out of the index
        assert found >= 0.9 * chunks, (prefix, found, chunks)


_OPEN_AT = """
import sys, time
from pathlib import Path
from rag.store.ledger import Ledger
while time.time() < float(sys.argv[2]):
    pass
Ledger(Path(sys.argv[1])).close()
"""


@pytest.mark.slow
@pytest.mark.subprocess
def test_writers_opening_a_new_ledger_together_all_get_in(tmp_path: Path) -> None:
    """Three processes opening the same new ledger at the same moment (two `rag ingest`s started
    together on a new store) all open it: SQLite refuses the switch to WAL at once, without
    waiting, while another process has the new file open, and the ledger tries again."""
    for trial in range(8):
        path = tmp_path / str(trial) / "ledger.sqlite3"
        path.parent.mkdir()
        start = time.time() + 2.0  # after every process has imported
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _OPEN_AT, str(path), str(start)], stderr=subprocess.PIPE
            )
            for _ in range(3)
        ]
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err.decode()[-1000:]


def test_a_reader_sees_what_a_live_writer_committed(tmp_path: Path, embed_model) -> None:  # type: ignore[no-untyped-def]
    """`read_ledger` (`rag store copy`, `rag collections`, the stress bench's count) read the
    ledger file alone, immutable, and missed the articles a running writer had committed that
    were still in SQLite's write-ahead log: a stress run counted 40 of 303 articles lost that
    were all there."""
    from rag.store.ledger import read_ledger

    settings = make_settings(tmp_path / "store")
    ingest([SEEDS], settings, embed_model, progress=False)
    writer = Ledger(ledger_path(settings))  # a server's, open all along
    writer._db.execute("PRAGMA wal_autocheckpoint=0")  # its commits stay in the log
    ingest([_corpus(tmp_path / "more.jsonl", "late", 3)], settings, embed_model, progress=False)
    assert Path(f"{ledger_path(settings)}-wal").stat().st_size > 0
    reader = read_ledger(settings)
    assert reader is not None
    assert {"late-0", "late-1", "late-2"} <= set(reader.hashes()) and len(reader) == 8
    writer.close()
