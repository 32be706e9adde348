"""Ingestion into real Chroma: incremental runs, changed and removed articles, duplicates,
boilerplate never indexed, crash safety (kill -9), the embedding-model guard."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from index.ingest import ingest
from rag.errors import EmbeddingMismatchError, IndexMissingError
from rag.pipeline import build
from rag.settings import Settings
from rag.store.chroma import Store
from rag.store.ledger import Ledger, ledger_path
from rag.text.rules import normalize
from tests.conftest import ROOT, SEEDS, make_settings
from tests.helpers.chunks import kept_chunks

BOILERPLATE = (
    "Your support helps us to tell the story",
    "donation allows us",
    "Read More:",
    "Listen to this article",
    "Picture: Getty",
    "RECOMMENDED",
    "Explore",
    "RelatedTRT",
    "Berlin whipping up spy mania",
    "Japan's atomic bomb survivors",
    "1 min read",
)


def test_no_boilerplate_reaches_the_index(seeded: Settings) -> None:
    texts = [r.text for r in kept_chunks(seeded)]
    assert len({r.split(":")[0] for r in (x.id for x in kept_chunks(seeded))}) == 5
    for junk in BOILERPLATE:
        assert not [t for t in texts if junk in t], junk


def test_repeated_paragraph_indexed_once_and_reported(seeded: Settings, pipeline) -> None:  # type: ignore[no-untyped-def]
    quote = normalize("Speaking at a press conference on Wednesday, Mr Rutte said:")
    carriers = [r for r in kept_chunks(seeded) if quote in normalize(r.text)]
    assert len(carriers) == 1  # 001, 002 and 003 all print it
    passages = pipeline.retriever.retrieve(
        "Rutte press conference Wednesday sticking with the 2%, forget it", top_k=5
    )
    hits = [p for p in passages if quote in normalize(p.text)]
    assert len(hits) == 1
    assert set(hits[0].also_in) >= {"002_8535347776e4cd11", "003_3381dbb6a6a46670"} - {
        hits[0].article_id
    }
    assert hits[0].also_in


def test_reingest_adds_nothing(seeded: Settings, embed_model) -> None:  # type: ignore[no-untyped-def]
    before = Store(seeded.store).count()
    report = ingest([SEEDS], seeded, embed_model, progress=False)
    assert (report.new, report.updated, report.unchanged, report.chunks_added) == (0, 0, 5, 0)
    assert "nothing to do" in report.summary()
    assert Store(seeded.store).count() == before


def test_changed_article_reindexed_alone_and_prune(
    tmp_path: Path, seeds_copy: Path, embed_model
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path / "store")
    first = ingest([seeds_copy], settings, embed_model, progress=False)
    assert first.new == 5
    f = next(seeds_copy.glob("000_*.txt"))
    f.write_text(
        f.read_text() + "\n\nA brand new closing paragraph about submarines in the North Sea.\n"
    )
    second = ingest([seeds_copy], settings, embed_model, progress=False)
    assert (second.new, second.updated, second.unchanged) == (0, 1, 4)
    ids = [r.id for r in kept_chunks(settings)]
    assert len(ids) == len(set(ids))
    assert any("submarines in the North Sea" in r.text for r in kept_chunks(settings))
    # chunks of the old version are gone: only one version of article 000 is indexed
    assert len({i.split(":")[1] for i in ids if i.startswith("000_")}) == 1

    next(seeds_copy.glob("004_*.txt")).unlink()
    third = ingest([seeds_copy], settings, embed_model, progress=False)
    assert third.removed == 0  # without --prune nothing is removed
    fourth = ingest([seeds_copy], settings, embed_model, progress=False, prune=True)
    assert fourth.removed == 1
    assert not [r for r in kept_chunks(settings) if r.metadata["article_id"].startswith("004_")]


def test_pruning_the_first_copy_gives_its_paragraphs_back(
    tmp_path: Path, seeds_copy: Path, embed_model
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path / "store")
    ingest([seeds_copy], settings, embed_model, progress=False)
    quote = normalize("The two leaders have spoken a number of times")
    owner = [r.metadata["article_id"] for r in kept_chunks(settings) if quote in normalize(r.text)]
    assert owner == ["001_529e3f3e4383d2b0"]
    next(seeds_copy.glob("001_*.txt")).unlink()
    report = ingest([seeds_copy], settings, embed_model, progress=False, prune=True)
    assert report.removed == 1 and report.updated >= 1
    owner = [r.metadata["article_id"] for r in kept_chunks(settings) if quote in normalize(r.text)]
    assert owner == ["002_8535347776e4cd11"]


def _synthetic_corpus(path: Path, n: int) -> None:
    topics = ["harbour", "railway", "orchard", "library", "stadium", "bridge", "museum", "market"]
    with path.open("w") as fh:
        for i in range(n):
            t = topics[i % len(topics)]
            paras = [
                f"Article {i} reports that the {t} number {i} reopened after repairs costing {i * 7} thousand."
                for _ in range(1)
            ]
            paras += [
                f"Residents of district {i} said the {t} works took {i % 12 + 1} months and paragraph {j} adds detail {i * j}."
                for j in range(6)
            ]
            fh.write(
                json.dumps(
                    {
                        "id": f"syn-{i:04d}",
                        "title": f"The {t} {i} reopens",
                        "text": "\n\n".join(paras),
                    }
                )
                + "\n"
            )


@pytest.mark.slow
@pytest.mark.subprocess
def test_kill_minus_9_midway_then_resume(tmp_path: Path, embed_model) -> None:  # type: ignore[no-untyped-def]
    corpus = tmp_path / "corpus.jsonl"
    _synthetic_corpus(corpus, 400)
    store_dir = tmp_path / "store"
    settings = make_settings(store_dir)
    env = {**os.environ, "RAG_STORE__PATH": str(store_dir)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ui.cli", "ingest", "--quiet", str(corpus)], env=env, cwd=tmp_path
    )
    state = ledger_path(settings)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if state.exists() and len(Ledger(state)) > 0:  # at least one batch written
            break
        time.sleep(0.05)
    assert proc.poll() is None, "ingestion finished before it could be interrupted"
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = Store(settings.store).count()

    report = ingest([corpus], settings, embed_model, progress=False)
    assert 0 < report.unchanged < 400, "the resumed run skipped what the killed run finished"
    ids = [r.id for r in kept_chunks(settings)]
    assert len(ids) == len(set(ids))

    clean_settings = make_settings(tmp_path / "clean")
    ingest([corpus], clean_settings, embed_model, progress=False)
    assert sorted(ids) == sorted(r.id for r in kept_chunks(clean_settings))
    assert partial < len(ids)


def test_embedding_model_mismatch_is_a_clear_error(
    tmp_path: Path, seeds_copy: Path, embed_model
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path / "store")
    ingest([seeds_copy], settings, embed_model, progress=False)
    store = Store(settings.store)
    store.collection.modify(metadata={"embed_model": "text-embedding-3-small", "embed_dim": 1536})
    with pytest.raises(EmbeddingMismatchError, match="rebuild"):
        build(settings, embed_model=embed_model)
    with pytest.raises(EmbeddingMismatchError):
        ingest([seeds_copy], settings, embed_model, progress=False)
    report = ingest([seeds_copy], settings, embed_model, progress=False, rebuild=True)
    assert report.new == 5
    assert build(settings, embed_model=embed_model).catalogue.size > 0


def test_missing_index_says_what_to_run(tmp_path: Path, embed_model) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(IndexMissingError, match="rag ingest"):
        build(make_settings(tmp_path / "nothing"), embed_model=embed_model)


def _rag(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ui.cli", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
@pytest.mark.subprocess
def test_cli_ingest_and_search_json(tmp_path: Path) -> None:
    env = {"RAG_STORE__PATH": str(tmp_path / "store")}
    r = _rag("ingest", "--quiet", str(SEEDS), cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert "5 new" in r.stdout
    r = _rag("ingest", "--quiet", str(SEEDS), cwd=tmp_path, env=env)
    assert "0 new chunks" in r.stdout and "up to date" in r.stdout
    r = _rag("search", "What did Hegseth say about 5%?", "--json", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)  # the top 5 (RAG_RETRIEVAL__TOP_K)
    assert any(
        p["article_id"].startswith("002_")
        and "almost near consensus on a 5% commitment" in p["text"]
        for p in shown
    )
    for p in json.loads(r.stdout):
        assert {"title", "date", "source", "score", "chunk_id", "also_in"} <= set(p)


@pytest.mark.subprocess
def test_cli_errors_are_one_line_with_next_step(tmp_path: Path) -> None:
    r = _rag("search", "anything", cwd=tmp_path, env={"RAG_STORE__PATH": str(tmp_path / "none")})
    assert r.returncode == 2
    assert (
        r.stderr.startswith("error: no index")
        and "rag ingest" in r.stderr
        and "Traceback" not in r.stderr
    )
    r = _rag("search", "x", cwd=tmp_path, env={"RAG_CHUNK__SIZE": "ten"})
    assert r.returncode == 2 and "RAG_CHUNK__SIZE" in r.stderr
    r = _rag("--help", cwd=ROOT)
    assert r.returncode == 0 and "ingest" in r.stdout and "RAG_LLM__BACKEND" in r.stdout


def test_filters_by_date_and_source(pipeline) -> None:  # type: ignore[no-untyped-def]
    from datetime import date

    from rag.schema import Filters

    late = pipeline.retriever.retrieve(
        "Rutte Starmer talks", filters=Filters(date_from=date(2025, 9, 1))
    )
    assert late and {p.article_id for p in late} == {"004_53d1d0ba0fc63e9e"}
    for mode in ("dense", "bm25", "hybrid"):
        aa = pipeline.retriever.retrieve(
            "defence spending", filters=Filters(sources=["AA"]), mode=mode
        )
        assert aa and all(p.source == "AA" for p in aa), mode
    early = pipeline.retriever.retrieve("Rutte", filters=Filters(date_to=date(2025, 6, 30)))
    assert early and all(p.date and p.date <= "2025-06-30" for p in early)
    none = pipeline.retriever.retrieve("Rutte", filters=Filters(sources=["Nobody"]))
    assert none == []


@pytest.mark.slow
@pytest.mark.server
def test_chroma_server_store(
    tmp_path: Path, chroma_server, embed_model, request: pytest.FixtureRequest
) -> None:  # type: ignore[no-untyped-def]
    host, port = chroma_server
    settings = make_settings(tmp_path / "state", store={"host": host, "port": port})
    report = ingest([SEEDS], settings, embed_model, progress=False)
    assert report.new == 5 and report.chunks_added > 0
    again = ingest([SEEDS], settings, embed_model, progress=False)
    assert again.chunks_added == 0
    assert not (tmp_path / "state" / "chroma").exists()  # vectors live on the server
    pipe = build(settings, embed_model=embed_model)
    top = pipe.retriever.retrieve("What did Hegseth say about 5%?", top_k=5)
    assert any("almost near consensus" in p.text for p in top)
    # BM25 is saved beside the store folder: the next start reads no chunk back from the server
    reads = request.getfixturevalue("store_reads")
    again_pipe = build(settings, embed_model=embed_model)
    assert reads == [] and again_pipe.catalogue.size == pipe.catalogue.size
    assert (tmp_path / "state" / "bm25").is_dir()


def test_unreachable_chroma_server(tmp_path: Path, embed_model) -> None:  # type: ignore[no-untyped-def]
    from rag.errors import ConfigError
    from tests.helpers.processes import free_port

    settings = make_settings(tmp_path, store={"host": "127.0.0.1", "port": free_port()})
    with pytest.raises(ConfigError, match="chroma run"):
        build(settings, embed_model=embed_model)


def test_an_article_with_nothing_new_is_never_an_empty_hit(tmp_path: Path, embed_model) -> None:  # type: ignore[no-untyped-def]
    body = (
        "The harbour authority of Port Elwin closed the northern pier on Monday after storm "
        "damage.\n\nRepairs to the pier will take six weeks and cost 2.4 million pounds, the "
        "authority said."
    )
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a_first.txt").write_text("Title: Pier closed\n\n" + body, encoding="utf-8")
    (folder / "b_copy.txt").write_text("Title: Pier shut\n\n" + body, encoding="utf-8")
    settings = make_settings(tmp_path / "store")
    report = ingest([folder], settings, embed_model, progress=False)
    assert report.duplicate_articles == ["b_copy"]
    pipe = build(settings, embed_model=embed_model)
    for q in ("Pier shut", "What did the mayor of Elwin say about tourism?", "pier"):
        hits = pipe.retriever.retrieve(q, top_k=5)
        assert hits and all(h.text.strip() for h in hits), q
    hit = pipe.retriever.retrieve("How long will the pier repairs take?", top_k=1)[0]
    assert hit.article_id == "a_first" and hit.also_in == ["b_copy"]
    declined = pipe.qa.ask("Who won the 1987 chess olympiad in Port Elwin?")
    assert declined.declined  # and no IndexError on the way


@pytest.mark.server
def test_health_and_questions_say_when_the_chroma_server_is_down(
    tmp_path: Path, chroma_server, embed_model
) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from ui.api.app import create_app

    host, port = chroma_server
    settings = make_settings(tmp_path / "state", store={"host": host, "port": port})
    ingest([SEEDS], settings, embed_model, progress=False)
    client = TestClient(create_app(build(settings, embed_model=embed_model), ui=False))
    assert client.get("/v1/health").json()["status"] == "ok"
    chroma_server.proc.terminate()
    chroma_server.proc.wait(10)
    r = client.get("/v1/health")
    assert r.status_code == 503
    assert r.json()["status"] == "unavailable" and "chroma run" in r.json()["detail"]
    # and a question then is a 503 that says the same, not a 500
    r = client.post("/v1/query", json={"question": "What did Hegseth say about 5%?"})
    assert r.status_code == 503 and "chroma run" in r.json()["detail"]


def _two_copies(folder: Path) -> tuple[Path, Path]:
    shared = (
        "The harbour authority of Port Elwin closed the northern pier on Monday after storm "
        "damage.\n\nRepairs to the pier will take six weeks and cost 2.4 million pounds, the "
        "authority said."
    )
    folder.mkdir(parents=True, exist_ok=True)
    a = folder / "a_first.txt"
    b = folder / "b_copy.txt"
    a.write_text("Pier closed\n\n" + shared, encoding="utf-8")
    b.write_text("Pier shut\n\n" + shared + "\n\nFerries now dock at the south quay.", "utf-8")
    return a, b


def _chunks_with(settings: Settings, words: str) -> list[str]:
    return [
        r.metadata["article_id"]
        for r in kept_chunks(settings)
        if normalize(words) in normalize(r.text)
    ]


@pytest.mark.parametrize("how", ["edited", "removed"])
def test_a_copy_keeps_its_text_when_the_carrier_changes_or_goes(
    tmp_path: Path, embed_model, how: str
) -> None:  # type: ignore[no-untyped-def]
    """Finding 1: B repeats A's paragraphs, which only A indexed; A is rewritten (ingesting A's
    file alone, B not in the input) or pruned: B's sentences are indexed again, under B."""
    a, _ = _two_copies(tmp_path / "in")
    settings = make_settings(tmp_path / "store")
    ingest([tmp_path / "in"], settings, embed_model, progress=False)
    assert _chunks_with(settings, "take six weeks and cost 2.4 million") == ["a_first"]
    if how == "edited":
        a.write_text("Pier closed\n\nThe pier reopened on Friday.", encoding="utf-8")
        report = ingest([a], settings, embed_model, progress=False)
        # B was not in this ingest's input: the ledger's copy of it is indexed again
        assert report.updated == 1 and report.restored == 1
        assert "1 articles indexed again" in report.summary()
    else:
        a.unlink()
        report = ingest([tmp_path / "in"], settings, embed_model, progress=False, prune=True)
        assert report.removed == 1 and report.updated == 1  # B, read again, takes them back
    assert _chunks_with(settings, "take six weeks and cost 2.4 million") == ["b_copy"]
    hit = build(settings, embed_model=embed_model).retriever.retrieve(
        "How long will the pier repairs take?", top_k=1
    )[0]
    assert hit.article_id == "b_copy" and "six weeks" in hit.text
    again = ingest([tmp_path / "in"], settings, embed_model, progress=False)
    assert again.chunks_added == 0 and again.restored == 0


def test_an_article_with_nothing_new_gets_no_chunk_but_is_listed(
    tmp_path: Path, embed_model
) -> None:  # type: ignore[no-untyped-def]
    """Finding 2: no empty chunk is stored; the copy is still listed and named beside its twin."""
    folder = tmp_path / "in"
    a, b = _two_copies(folder)
    b.write_text(a.read_text(encoding="utf-8").replace("Pier closed", "Pier shut"), "utf-8")
    settings = make_settings(tmp_path / "store")
    report = ingest([folder], settings, embed_model, progress=False)
    assert report.duplicate_articles == ["b_copy"]
    records = list(kept_chunks(settings))
    assert records and all(r.text.strip() for r in records)
    assert {r.metadata["article_id"] for r in records} == {"a_first"}
    pipe = build(settings, embed_model=embed_model)
    listed = {e["article_id"]: e for e in pipe.catalogue.articles()}
    assert listed["b_copy"]["chunks"] == 0 and listed["b_copy"]["title"] == "Pier shut"
    hit = pipe.retriever.retrieve("How long will the pier repairs take?", top_k=1)[0]
    assert hit.also_in == ["b_copy"]


def test_a_restart_takes_the_chunks_from_the_saved_bm25_index(
    tmp_path: Path, embed_model, request: pytest.FixtureRequest
) -> None:  # type: ignore[no-untyped-def]
    """Reading every chunk back from Chroma is slow on a big store (~6k chunks/s); the saved BM25
    index holds the same chunks, so a start with an index saved for exactly these chunks reads
    none from the store, and lists and quotes the same."""
    settings = make_settings(tmp_path / "store")
    ingest([SEEDS], settings, embed_model, progress=False)
    first = build(settings, embed_model=embed_model)
    reads = request.getfixturevalue("store_reads")  # counted from here on
    second = build(settings, embed_model=embed_model)
    assert reads == []
    assert second.catalogue.articles() == first.catalogue.articles()
    assert second.catalogue.size == first.catalogue.size
    for record in kept_chunks(settings):
        assert second.catalogue.chunk_text(record.id) == record.text
    question = "What did Hegseth say about 5%?"
    assert second.qa.ask(question).answer == first.qa.ask(question).answer
