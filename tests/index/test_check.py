"""`rag check`: the ledger, the store and the lexical cache agree, or are told apart and repaired.
Real embedded Chroma, damaged the ways a real one gets damaged: a deleted store folder, chunks the
ledger never recorded, an empty chunk an older version wrote, a stale version of an article."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from chromadb.api.shared_system_client import SharedSystemClient

from index.check import check
from index.ingest import ingest
from rag.pipeline import build
from rag.settings import Settings
from rag.store.chroma import Store
from rag.store.ledger import Ledger, ledger_path
from tests.conftest import SEEDS, make_settings
from tests.helpers.chunks import kept_chunks


def _seeded(tmp_path: Path, embed_model) -> Settings:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path / "store")
    ingest([SEEDS], settings, embed_model, progress=False)
    return settings


def test_a_whole_index_is_consistent(tmp_path: Path, embed_model) -> None:  # type: ignore[no-untyped-def]
    settings = _seeded(tmp_path, embed_model)
    build(settings, embed_model=embed_model)  # writes the BM25 cache
    report = check(settings, embed_model)
    assert report.problems == 0 and report.articles == 5 and report.chunks > 5
    assert report.summary().endswith("consistent")


def test_a_lost_store_is_rebuilt_from_the_ledger_without_the_files(
    tmp_path: Path, embed_model
) -> None:  # type: ignore[no-untyped-def]
    settings = _seeded(tmp_path, embed_model)
    chunks = Store(settings.store).count()
    shutil.rmtree(tmp_path / "store" / "chroma")  # the vector store is gone, the ledger is not
    SharedSystemClient.clear_system_cache()  # as a new process would find it
    report = check(settings, embed_model)
    assert len(report.missing) == 5 and report.chunks == 0
    assert "5 articles missing from the store" in report.summary()
    repaired = check(settings, embed_model, repair=True)
    assert repaired.repaired == {"articles indexed again": 5}
    assert Store(settings.store).count() == chunks
    answer = build(settings, embed_model=embed_model).qa.ask("What did Hegseth say about 5%?")
    assert "5%" in answer.answer and answer.citations
    assert check(settings, embed_model).problems == 0


def test_orphaned_empty_and_outdated_chunks_are_found_and_removed(
    tmp_path: Path, embed_model
) -> None:  # type: ignore[no-untyped-def]
    settings = _seeded(tmp_path, embed_model)
    store = Store(settings.store)
    before = store.count()
    some = next(store.records())
    article = some.metadata["article_id"]
    vector = [0.1] * len(embed_model.get_text_embedding("x"))
    current = some.id.split(":")[1]  # the hash of the version the ledger records
    store.collection.add(  # what older versions and interrupted writes could leave behind
        ids=[
            "ghost:00000000:0",
            f"{article}:deadbeef:0",
            f"{article}:{current}:99",
            "hollow:11111111:0",
        ],
        embeddings=[vector] * 4,
        documents=[
            "A chunk no ledger records.",
            "An older version of the article.",
            "Past the chunks the ledger counts for this version.",
            "",
        ],
        metadatas=[
            {**some.metadata, "article_id": "ghost"},
            some.metadata,
            some.metadata,
            {**some.metadata, "article_id": "hollow"},
        ],
    )
    report = check(settings, embed_model)
    assert report.orphaned == ["ghost"]
    # a server names the chunks from the ledger's rows: one they do not name is reported
    assert sorted(report.outdated_chunks) == sorted(
        [f"{article}:{current}:99", f"{article}:deadbeef:0"]
    )
    assert report.empty_chunks == ["hollow:11111111:0"]
    assert not report.missing and report.problems == 4
    repaired = check(settings, embed_model, repair=True)
    assert repaired.repaired == {
        "empty chunks deleted": 1,
        "outdated chunks deleted": 2,
        "orphaned articles deleted": 1,
    }
    assert Store(settings.store).count() == before
    assert check(settings, embed_model).problems == 0


def test_a_stranded_copy_is_found_and_indexed_again(tmp_path: Path, embed_model) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "in"
    folder.mkdir()
    shared = "The northern pier of Port Elwin closed on Monday after storm damage to its deck."
    (folder / "a.txt").write_text("Pier closed\n\n" + shared, encoding="utf-8")
    (folder / "b.txt").write_text("Pier shut\n\n" + shared + "\n\nFerries use the quay.", "utf-8")
    settings = make_settings(tmp_path / "store")
    ingest([folder], settings, embed_model, progress=False)
    # the carrier's record and chunks gone behind the ingest's back (a crash in an older version)
    Ledger(ledger_path(settings)).remove(["a"])
    Store(settings.store).collection.delete(where={"article_id": "a"})
    report = check(settings, embed_model)
    assert report.stranded == ["b"]
    check(settings, embed_model, repair=True)
    texts = [r.text for r in kept_chunks(settings)]
    assert any("storm damage" in t for t in texts)
    assert check(settings, embed_model).problems == 0


@pytest.mark.subprocess
def test_cli_check_exit_codes(tmp_path: Path, embed_model) -> None:  # type: ignore[no-untyped-def]
    settings = _seeded(tmp_path, embed_model)
    env = {"RAG_STORE__PATH": str(settings.store.path), "PATH": str(Path(sys.executable).parent)}
    cmd = [sys.executable, "-m", "ui.cli", "check"]
    ok = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert ok.returncode == 0 and "consistent" in ok.stdout
    shutil.rmtree(tmp_path / "store" / "chroma")
    bad = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 1 and "missing from the store" in bad.stdout
    fixed = subprocess.run(
        [*cmd, "--repair"], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert fixed.returncode == 0 and "articles indexed again 5" in fixed.stdout


@pytest.fixture
def read_only_mount(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(a writable folder, the same folder mounted read-only): a real read-only file system."""
    src, ro = tmp_path / "src", tmp_path / "ro"
    src.mkdir()
    ro.mkdir()
    bind = subprocess.run(["mount", "--bind", str(src), str(ro)], capture_output=True)
    if bind.returncode != 0:
        pytest.skip(f"cannot bind-mount here ({bind.stderr.decode().strip()})")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], check=True)
        yield src, ro
    finally:
        subprocess.run(["umount", str(ro)], check=False)


@pytest.mark.subprocess
def test_a_read_only_store_answers_and_refuses_writes_clearly(
    read_only_mount: tuple[Path, Path], tmp_path: Path
) -> None:
    """Finding 6: a read-only store made even `rag ask` crash."""
    src, ro = read_only_mount
    run = functools.partial(subprocess.run, capture_output=True, text=True, cwd=tmp_path)
    cli = [sys.executable, "-m", "ui.cli"]
    base = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path)}
    made = run([*cli, "ingest", "--quiet", str(SEEDS)], env={**base, "RAG_STORE__PATH": str(src)})
    assert made.returncode == 0, made.stderr
    env = {**base, "RAG_STORE__PATH": str(ro)}
    with pytest.raises(OSError):
        (ro / "probe").write_text("x")  # the mount really is read-only
    asked = run([*cli, "ask", "What did Hegseth say about 5%?", "--json"], env=env)
    assert asked.returncode == 0, asked.stderr
    assert "5%" in json.loads(asked.stdout)["answer"]
    added = run([*cli, "ingest", "--quiet", str(SEEDS)], env=env)
    assert added.returncode == 2 and "Traceback" not in added.stderr
    assert "is read-only: nothing can be added" in added.stderr


def _council_corpus(path: Path, n: int) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            paras = [
                f"The council of town {i} met on day {j} to discuss road number {i * j} and "
                f"its repairs costing {j} million."
                for j in range(30)
            ]
            f.write(
                json.dumps({"id": f"n{i}", "title": f"Council {i}", "text": "\n\n".join(paras)})
            )
            f.write("\n")
    return path


@pytest.mark.subprocess
def test_a_corrupted_vector_index_is_an_error_not_a_crash_and_is_repaired(
    tmp_path: Path, embed_model
) -> None:  # type: ignore[no-untyped-def]
    """Finding 6: a damaged HNSW file made the process segfault on its first query."""
    settings = make_settings(tmp_path / "store")
    ingest([_council_corpus(tmp_path / "c.jsonl", 250)], settings, embed_model, progress=False)
    SharedSystemClient.clear_system_cache()
    graphs = list((tmp_path / "store" / "chroma").glob("*/data_level0.bin"))
    assert graphs, "the collection is large enough for Chroma to write its HNSW graph"
    data = bytearray(graphs[0].read_bytes())
    data[len(data) // 3 : len(data) // 3 + 4000] = bytes(range(256)) * 15 + bytes(160)
    graphs[0].write_bytes(bytes(data))
    env = {"RAG_STORE__PATH": str(settings.store.path), "PATH": str(Path(sys.executable).parent)}
    run = functools.partial(subprocess.run, capture_output=True, text=True, cwd=tmp_path, env=env)
    cli = [sys.executable, "-m", "ui.cli"]
    searched = run([*cli, "search", "road number 40 repairs"])
    assert searched.returncode == 2, (searched.returncode, searched.stderr[-500:])  # not -11
    assert "is damaged" in searched.stderr and "rag check --repair" in searched.stderr
    checked = run([*cli, "check"])
    assert checked.returncode == 1 and "damaged vector index" in checked.stdout
    repaired = run([*cli, "check", "--repair"])
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "articles indexed again 250" in repaired.stdout
    searched = run([*cli, "search", "road number 40 repairs", "--json"])
    assert searched.returncode == 0 and json.loads(searched.stdout)
    assert run([*cli, "check"]).returncode == 0


@pytest.mark.slow
def test_a_healthy_store_grown_in_many_ingests_is_never_called_damaged(
    tmp_path: Path, embed_model
) -> None:  # type: ignore[no-untyped-def]
    """Chroma does not rewrite the graph's header on every save (its node count goes stale while
    the data file grows): the check must go by the data file, not call a live store damaged."""
    from index.loaders import Article

    settings = make_settings(tmp_path / "store")
    for part in range(4):
        articles = [
            Article(
                id=f"p{part}-{i}",
                title=f"Council {part} {i}",
                paragraphs=[
                    f"The council {part} of town {i} met on day {j} about road {i * j}."
                    for j in range(25)
                ],
            )
            for i in range(300)
        ]
        ingest([], settings, embed_model, articles=articles, progress=False)
        SharedSystemClient.clear_system_cache()
        assert check(settings, embed_model).problems == 0, part
    pipe = build(settings, embed_model=embed_model)
    assert pipe.retriever.retrieve("council 3 of town 7 road", top_k=1)


@pytest.mark.subprocess
@pytest.mark.parametrize("damage", ["overwritten", "truncated"])
def test_a_damaged_ledger_is_set_aside_and_rebuilt_from_the_store(
    tmp_path: Path, embed_model, damage: str
) -> None:  # type: ignore[no-untyped-def]
    """Issue 39, finding 7: a truncated or overwritten ledger made `rag check`, `--repair` and
    `rag ingest` send each other round in a circle and `rag serve` crash with a traceback. Now
    each says it is damaged and that `rag check --repair` rebuilds it, which it does from the
    store, keeping the damaged file."""
    settings = _seeded(tmp_path, embed_model)
    chunks = Store(settings.store).count()
    path = ledger_path(settings)
    data = path.read_bytes()
    bad = b"garbage " * 2000 if damage == "overwritten" else data[: len(data) // 3]
    path.write_bytes(bad)
    SharedSystemClient.clear_system_cache()
    env = {"RAG_STORE__PATH": str(settings.store.path), "PATH": str(Path(sys.executable).parent)}
    run = functools.partial(
        subprocess.run, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120
    )
    cli = [sys.executable, "-m", "ui.cli"]
    for command in (["check"], ["ingest", "--quiet", str(SEEDS)], ["serve", "--port", "0"]):
        done = run([*cli, *command])
        said = done.stdout + done.stderr
        assert done.returncode != 0 and "Traceback" not in said, (command, said[-800:])
        assert "is damaged" in said and "rag check --repair" in said, (command, said[-800:])
    repaired = run([*cli, "check", "--repair"])
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "ledger rebuilt from the store (articles) 5" in repaired.stdout
    (kept,) = [p for p in path.parent.glob(path.name + ".damaged-*") if p.name[-1].isdigit()]
    assert kept.read_bytes()[:16] == bad[:16]  # the damaged file, kept as it was
    assert run([*cli, "check"]).returncode == 0
    assert Store(settings.store).count() == chunks  # nothing deleted
    asked = run([*cli, "ask", "What did Hegseth say about 5%?", "--json"])
    assert asked.returncode == 0 and json.loads(asked.stdout)["citations"]
    again = run([*cli, "ingest", "--quiet", str(SEEDS)])
    assert again.returncode == 0 and "5 articles" in again.stdout, again.stderr
    assert run([*cli, "check"]).returncode == 0


def test_an_emptied_ledger_beside_a_full_store_is_rebuilt_not_the_store_emptied(
    tmp_path: Path, embed_model
) -> None:  # type: ignore[no-untyped-def]
    """A ledger file emptied to nothing opens as a new, empty ledger: every article in the store
    looked orphaned, and `--repair` deleted them all. Now it is rebuilt from the store."""
    settings = _seeded(tmp_path, embed_model)
    chunks = Store(settings.store).count()
    path = ledger_path(settings)
    for part in path.parent.glob(path.name + "-*"):
        part.unlink()
    path.write_bytes(b"")
    report = check(settings, embed_model)
    assert len(report.orphaned) == 5 and "rebuilds it from the store" in report.summary()
    repaired = check(settings, embed_model, repair=True)
    assert repaired.repaired.get("ledger rebuilt from the store (articles)") == 5
    assert "orphaned articles deleted" not in repaired.repaired
    assert Store(settings.store).count() == chunks
    assert check(settings, embed_model).problems == 0


def test_a_stale_lexical_cache_is_no_fault(tmp_path: Path, embed_model) -> None:  # type: ignore[no-untyped-def]
    """A BM25 cache left by a process killed while it built one is wasted disk, not a fault:
    `rag check` kept failing on it after a kill -9 (issue 39, finding 6). It is reported, and
    `--repair` removes it."""
    from rag.store.layout import Layout

    settings = _seeded(tmp_path, embed_model)
    build(settings, embed_model=embed_model)  # writes the current BM25 cache
    left = Layout.of(settings).bm25 / "20-0000000000000000"
    left.mkdir(parents=True)
    (left / "params.index.json").write_text('{"num_docs": 3}')
    report = check(settings, embed_model)
    assert report.problems == 0 and report.stale_caches == [left.name]
    assert "consistent" in report.summary() and "stale lexical caches" in report.summary()
    repaired = check(settings, embed_model, repair=True)
    assert repaired.repaired == {"stale lexical caches removed": 1} and not left.exists()


@pytest.mark.slow
@pytest.mark.server
def test_the_server_store_is_checked_and_repaired_as_the_embedded_one(
    tmp_path: Path, chroma_server, postgres, embed_model
) -> None:  # type: ignore[no-untyped-def]
    """On the server store (chunks on a `chroma run` server, books on PostgreSQL), `rag check`
    finds what a lost collection, an orphan and an empty chunk leave, and `--repair` mends it
    from the books on the server: no file of the writer's machine is needed."""
    import uuid

    host, port = chroma_server
    name = "t" + uuid.uuid4().hex[:12]
    settings = make_settings(
        tmp_path / "store",
        store={"url": str(postgres), "collection": name, "host": host, "port": port},
    )
    ingest([SEEDS], settings, embed_model, progress=False)
    store = Store(settings.store)
    chunks = store.count()
    some = next(store.records())
    some_article = some.metadata["article_id"]
    vector = [0.1] * len(embed_model.get_text_embedding("x"))
    store.collection.add(
        ids=["ghost:00000000:0", "hollow:11111111:0"],
        embeddings=[vector] * 2,
        documents=["A chunk no ledger records.", ""],
        metadatas=[
            {**some.metadata, "article_id": "ghost"},
            {**some.metadata, "article_id": "hollow"},
        ],
    )
    report = check(settings, embed_model)
    assert report.orphaned == ["ghost"] and report.empty_chunks == ["hollow:11111111:0"]
    repaired = check(settings, embed_model, repair=True)
    assert repaired.repaired == {"empty chunks deleted": 1, "orphaned articles deleted": 1}
    assert Store(settings.store).count() == chunks and check(settings, embed_model).problems == 0

    # keyword rows lost on the server (the keyword half of search, which keeps the chunks'
    # records): the article's chunks are found with no text and the article missing, and it is
    # indexed again from the copy of it the ledger keeps
    import psycopg

    with psycopg.connect(str(postgres), autocommit=True) as conn:
        conn.execute(f'DELETE FROM "rag_{name}".chunks WHERE article = %s', (some_article,))
    report = check(settings, embed_model)
    assert report.missing == [some_article], report.summary()
    lost = report.empty_chunks
    assert lost and all(c.startswith(some_article + ":") for c in lost), report.summary()
    repaired = check(settings, embed_model, repair=True)
    assert repaired.repaired == {"empty chunks deleted": len(lost), "articles indexed again": 1}
    assert check(settings, embed_model).problems == 0

    # the collection lost on the Chroma server, the books kept on PostgreSQL; another machine's
    # folder (a new `path`) repairs it
    store.client.delete_collection(name)
    elsewhere = settings.model_copy(
        update={"store": settings.store.model_copy(update={"path": tmp_path / "elsewhere"})}
    )
    report = check(elsewhere, embed_model)
    assert len(report.missing) == 5, report.summary()
    repaired = check(elsewhere, embed_model, repair=True)
    assert repaired.repaired == {"articles indexed again": 5}
    assert Store(elsewhere.store).count() == chunks
    answer = build(elsewhere, embed_model=embed_model).qa.ask("What did Hegseth say about 5%?")
    assert "5%" in answer.answer and answer.citations
