"""The catalogue opened from the BM25 cache reads chunk records from disk as they are needed:
correct under concurrent reads, and the same catalogue as one read back from the store."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from rag.store.catalogue import Joined, JsonLines, Summary


def test_json_lines_reads_the_right_record_from_many_threads(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    rows = [{"node_id": f"c{i}", "text": "é" * (i % 7) + str(i)} for i in range(2000)]
    offsets, at = [], 0
    with path.open("wb") as fh:
        for row in rows:
            offsets.append(at)
            line = (json.dumps(row, ensure_ascii=False) + "\n").encode()
            fh.write(line)
            at += len(line)
    path.with_suffix(".mmindex.json").write_text(json.dumps(offsets))
    lines = JsonLines(path)
    assert len(lines) == len(rows) and lines[-1 + len(rows)] == rows[-1]
    order = [(i * 7919) % len(rows) for i in range(20_000)]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda i: lines[i], order))
    assert got == [rows[i] for i in order]
    assert lines[3:6] == rows[3:6]
    # read through in one pass (an index rebuilt from this one): the same records
    assert list(lines) == rows
    keep = [0, 5, 6, 1999]
    assert list(lines.picked(keep)) == [rows[i] for i in keep]
    joined = Joined(lines, keep, [{"node_id": "new"}])
    assert list(joined) == [joined[i] for i in range(len(joined))]


def test_a_summary_round_trips_and_refuses_another_version(tmp_path: Path) -> None:
    summary = Summary.of(
        [
            ("a:1", {"article_id": "a", "date": "2025-06-05", "source": "AA", "dup_hashes": "h1"}),
            ("a:2", {"article_id": "a", "date": "2025-06-05", "source": "AA"}),
            ("b:1", {"article_id": "b", "date": "", "source": "BBC"}),
        ]
    )
    assert summary.articles["a"]["chunks"] == 2 and summary.latest == 20250605
    assert summary.dup_map == {"h1": ["a"]} and summary.dates == [20250605, 20250605, 0]
    path = tmp_path / "catalogue.json"
    summary.save(path)
    assert Summary.load(path) == summary
    assert Summary.current(path)  # told from its first bytes, as `load` tells it
    data = json.loads(path.read_text())
    path.write_text(json.dumps({"version": 0} | data | {"version": 0}, separators=(",", ":")))
    assert Summary.load(path) is None and not Summary.current(path)
    path.write_text(json.dumps({"ids": []} | data, separators=(",", ":")))  # no version first
    assert not Summary.current(path)
    path.write_text("{not json")
    assert Summary.load(path) is None and not Summary.current(path)
    assert not Summary.current(tmp_path / "none.json")


@pytest.mark.subprocess
def test_a_big_store_answers_at_once_after_an_ingest_and_rebuilds_bm25_aside(
    tmp_path: Path, embed_model, seeds_copy: Path
) -> None:  # type: ignore[no-untyped-def]
    """Above RAG_RETRIEVAL__REBUILD_INLINE_MAX chunks (0 here), a start after an ingest takes
    the saved BM25 index as it is: the new article is listed, quoted and found by the dense
    search at once, a removed one is never returned; a separate process rebuilds BM25, and the
    retriever picks it up when it is saved, after which BM25 finds the new article too."""
    from index.ingest import ingest
    from rag.pipeline import build
    from tests.conftest import make_settings

    settings = make_settings(tmp_path / "store", retrieval={"rebuild_inline_max": 0})
    ingest([seeds_copy], settings, embed_model, progress=False)
    first = build(settings, embed_model=embed_model)  # nothing saved yet: built inline, saved
    gone = sorted(seeds_copy.iterdir())[-1]
    removed = {e["article_id"] for e in first.catalogue.articles() if e["location"] == str(gone)}
    gone_title = next(e["title"] for e in first.catalogue.articles() if e["article_id"] in removed)
    gone.unlink()
    article = {
        "id": "harbour",
        "title": "Elwin harbour reopens",
        "published": "2025-06-20",
        "text": "The harbour of Elwin reopened its northern pier on Friday after storm repairs "
        "that took eleven weeks, the port authority said.",
    }
    (seeds_copy / "harbour.jsonl").write_text(json.dumps(article) + "\n")
    ingest([seeds_copy], settings, embed_model, progress=False, prune=True)
    pipe = build(settings, embed_model=embed_model)
    listed = {e["article_id"]: e for e in pipe.catalogue.articles()}
    new_id = next(a for a, e in listed.items() if e["title"] == "Elwin harbour reopens")
    question = "When did the Elwin harbour pier reopen?"
    dense = pipe.retriever.retrieve(question, mode="dense")
    assert dense[0].article_id == new_id
    assert pipe.catalogue.chunk_text(dense[0].chunk_id) == dense[0].text
    assert removed and not removed & set(listed)
    bm25 = pipe.retriever.retrieve(gone_title + " " + question, mode="bm25")
    assert not {p.article_id for p in bm25} & removed
    assert new_id not in {p.article_id for p in bm25}  # not yet
    deadline = time.monotonic() + 120
    while not pipe.retriever.sync():
        assert time.monotonic() < deadline, "the BM25 index was not rebuilt"
        time.sleep(0.5)
    bm25 = pipe.retriever.retrieve(question, mode="bm25")
    assert bm25[0].article_id == new_id
    assert pipe.catalogue.size == pipe.store.count()


def test_an_index_saved_by_an_older_version_is_replaced(tmp_path: Path, embed_model) -> None:  # type: ignore[no-untyped-def]
    """A saved index whose summary is of another version is rebuilt once and saved over, so the
    next start opens it instead of rebuilding again."""
    from index.ingest import ingest
    from rag.pipeline import build
    from tests.conftest import SEEDS, make_settings

    settings = make_settings(tmp_path / "store")
    ingest([SEEDS], settings, embed_model, progress=False)
    build(settings, embed_model=embed_model)
    (saved,) = (tmp_path / "store" / "bm25" / settings.store.collection).iterdir()
    data = json.loads((saved / "catalogue.json").read_text())
    (saved / "catalogue.json").write_text(json.dumps(data | {"version": 0}))
    build(settings, embed_model=embed_model)
    assert json.loads((saved / "catalogue.json").read_text())["version"] == data["version"]


def test_a_start_names_its_chunks_from_the_ledger_and_never_lists_the_store(
    tmp_path: Path, embed_model, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Listing every chunk id of a 1.47M-chunk Chroma store took a minute, counting them 15 s:
    a start names them from the ledger's rows (article, content hash, chunk count), which name
    exactly the store's chunks, and finds the index saved under their fingerprint."""
    from index.ingest import ingest
    from rag.pipeline import build
    from rag.store.chroma import Store
    from rag.store.ledger import open_ledger
    from tests.conftest import SEEDS, make_settings

    settings = make_settings(tmp_path / "store")
    ingest([SEEDS], settings, embed_model, progress=False)
    store_ids = Store(settings.store).ids()
    ledger = open_ledger(settings)
    named, name = ledger.chunk_ids(), ledger.fingerprint()
    ledger.close()
    assert named is not None and sorted(named) == sorted(store_ids)
    assert name is not None and name.startswith(f"{len(store_ids)}-")
    build(settings, embed_model=embed_model)  # builds and saves the BM25 index

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("a start read the whole store")

    monkeypatch.setattr(Store, "ids", refuse)
    monkeypatch.setattr(Store, "count", refuse)
    monkeypatch.setattr(Store, "records", refuse)
    monkeypatch.setattr(Store, "records_of", refuse)
    pipe = build(settings, embed_model=embed_model)
    assert pipe.catalogue.fingerprint == name
    assert sorted(pipe.catalogue.summary.ids) == sorted(store_ids)
    answer = pipe.qa.ask("What did Hegseth say about 5%?", backend="extractive")
    assert answer.citations and not answer.declined


def _seeds_chunks(tmp_path: Path, embed_model: Any) -> tuple[Any, list[str], str, Any]:
    """The seeds ingested into a store under `tmp_path`: the store, its chunk ids, their
    fingerprint, its ledger (which keeps the chunks' records)."""
    from index.ingest import ingest
    from rag.store.chroma import Store, fingerprint_of
    from rag.store.ledger import open_ledger
    from tests.conftest import SEEDS, make_settings

    settings = make_settings(tmp_path / "store")
    ingest([SEEDS], settings, embed_model, progress=False)
    store = Store(settings.store)
    ids = store.ids()
    return store, ids, fingerprint_of(ids), open_ledger(settings)


def test_bm25_built_in_batches_is_the_index_built_at_once(tmp_path: Path, embed_model) -> None:  # type: ignore[no-untyped-def]
    """The index is built from records streamed a batch at a time (a vocabulary growing across
    batches, token ids packed as they come): the same vocabulary, scores and hits as one batch."""
    import numpy as np
    from llama_index.core.schema import QueryBundle

    import rag.retrieval.bm25 as bm25
    from rag.retrieval.bm25 import BM25Index
    from rag.schema import Filters
    from rag.store.records import chunk_records

    store, ids, fp, ledger = _seeds_chunks(tmp_path, embed_model)
    whole = BM25Index.build(
        chunk_records(store, ids, ledger), fp, tmp_path / "whole", ledger=ledger
    )
    bm25.BUILD_BATCH, before = 3, bm25.BUILD_BATCH
    try:
        batched = BM25Index.build(
            chunk_records(store, ids, ledger), fp, tmp_path / "batched", ledger=ledger
        )
    finally:
        bm25.BUILD_BATCH = before
    assert whole.retriever.bm25.vocab_dict == batched.retriever.bm25.vocab_dict
    for key in ("data", "indices", "indptr"):
        assert np.array_equal(whole.retriever.bm25.scores[key], batched.retriever.bm25.scores[key])
    assert list(whole.records) == list(batched.records)
    found = 0
    for q in ("Hegseth NATO spending 5%", "Starmer defence April 2027", "harbour storm"):
        hits = [
            [h.node.node_id for h in index.retriever_for(5, Filters()).retrieve(QueryBundle(q))]
            for index in (whole, batched)
        ]
        assert hits[0] == hits[1]
        found += bool(hits[0])
    assert found == 2  # the two questions on the seeds' news ("harbour storm" finds nothing)
    assert whole.size == len(ids) and sorted(whole.summary.ids) == sorted(ids)


def test_a_bm25_index_saved_with_other_parameters_is_built_again(
    tmp_path: Path, embed_model
) -> None:  # type: ignore[no-untyped-def]
    """The index is built with K1 / B; one saved with other values (bm25s's own 1.5 / 0.75,
    before they changed) is not read, so the next open rebuilds it."""
    from rag.retrieval.bm25 import BM25Index
    from rag.store.records import chunk_records
    from rag.text.terms import K1, B

    store, ids, fp, ledger = _seeds_chunks(tmp_path, embed_model)
    built = BM25Index.build(
        chunk_records(store, ids, ledger), fp, tmp_path / "cache", ledger=ledger
    )
    assert (built.retriever.bm25.k1, built.retriever.bm25.b) == (K1, B)
    assert BM25Index.cached(tmp_path / "cache", fp, ledger) is not None
    params = tmp_path / "cache" / fp / "params.index.json"
    saved = json.loads(params.read_text())
    params.write_text(json.dumps({**saved, "k1": 1.5, "b": 0.75}))
    assert BM25Index.cached(tmp_path / "cache", fp, ledger) is None


def test_a_bm25_index_saved_otherwise_is_built_again_in_its_place(
    tmp_path: Path, embed_model
) -> None:  # type: ignore[no-untyped-def]
    """An index saved under the same chunks' name with other K1 / B or cut into other words is
    not read, and a build puts the new one in its place (it stayed, and the build failed to
    read itself back: "the BM25 index saved in ... cannot be read back"). One saved before the
    token pattern was written down was cut with today's, and is read."""
    from rag.retrieval.bm25 import BM25Index
    from rag.store.records import chunk_records
    from rag.text.terms import TOKEN_PATTERN

    store, ids, fp, ledger = _seeds_chunks(tmp_path, embed_model)
    cache = tmp_path / "cache"
    BM25Index.build(chunk_records(store, ids, ledger), fp, cache, ledger=ledger)
    args, params = cache / fp / "retriever.json", cache / fp / "params.index.json"
    saved, saved_params = json.loads(args.read_text()), json.loads(params.read_text())
    assert saved["token_pattern"] == TOKEN_PATTERN
    args.write_text(json.dumps({k: v for k, v in saved.items() if k != "token_pattern"}))
    assert BM25Index.cached(cache, fp, ledger) is not None
    for other_args, other_params in (
        (saved | {"token_pattern": r"(?u)\b\w+\b"}, saved_params),
        (saved, saved_params | {"k1": 1.5, "b": 0.75}),
    ):
        args.write_text(json.dumps(other_args))
        params.write_text(json.dumps(other_params))
        assert BM25Index.cached(cache, fp, ledger) is None
        assert not BM25Index.is_saved(cache, fp)
        rebuilt = BM25Index.build(chunk_records(store, ids, ledger), fp, cache, ledger=ledger)
        assert rebuilt.size == len(ids) and BM25Index.cached(cache, fp, ledger) is not None


@pytest.mark.slow
@pytest.mark.subprocess
def test_rag_ingest_leaves_a_big_store_ready_to_serve(tmp_path: Path, seeds_copy: Path) -> None:
    """Above RAG_RETRIEVAL__REBUILD_INLINE_MAX chunks (0 here) `rag ingest` saves the BM25 index
    before it returns, so the next start opens it instead of building it; after a further
    ingest it is rebuilt aside."""
    import os
    import subprocess
    import sys

    from rag.retrieval.bm25 import BM25Index
    from rag.store.ledger import open_ledger
    from tests.conftest import ROOT, make_settings

    store_dir = tmp_path / "store"
    env = os.environ | {"RAG_STORE__PATH": str(store_dir), "RAG_RETRIEVAL__REBUILD_INLINE_MAX": "0"}
    cli = [sys.executable, "-m", "ui.cli", "ingest", str(seeds_copy)]
    done = subprocess.run(cli, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "built and saved" in done.stderr
    settings = make_settings(store_dir)
    cache = store_dir / "bm25" / settings.store.collection
    ledger = open_ledger(settings)
    assert BM25Index.cached(cache, _ledger_fingerprint(settings), ledger) is not None
    (seeds_copy / "harbour.txt").write_text(
        "Elwin harbour reopens\n\nThe harbour of Elwin reopened its northern pier on Friday."
    )
    done = subprocess.run(cli, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "being rebuilt aside" in done.stderr
    fp = _ledger_fingerprint(settings)
    deadline = time.monotonic() + 120
    while BM25Index.cached(cache, fp, ledger) is None:
        assert time.monotonic() < deadline, "the BM25 index was not rebuilt"
        time.sleep(0.5)


def _ledger_fingerprint(settings) -> str:  # type: ignore[no-untyped-def]
    from rag.store.ledger import open_ledger

    ledger = open_ledger(settings)
    try:
        name = ledger.fingerprint()
    finally:
        ledger.close()
    assert name is not None
    return name


def test_a_bm25_index_saved_beside_the_records_file_keeps_no_text(
    tmp_path: Path, embed_model: Any
) -> None:
    """Built where the ledger keeps the chunks' records, the saved index names each chunk and
    holds none of its text (kept once, in the records file); its hits read their records from
    there, and without that ledger the saved index is not used."""
    from llama_index.core.schema import QueryBundle

    from rag.retrieval.bm25 import BM25Index
    from rag.schema import Filters
    from rag.store.records import chunk_records

    store, ids, fp, ledger = _seeds_chunks(tmp_path, embed_model)
    cache = tmp_path / "cache"
    BM25Index.build(chunk_records(store, ids, ledger), fp, cache, ledger=ledger)
    lines = (cache / fp / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(ids) and all(set(json.loads(line)) == {"node_id"} for line in lines)
    index = BM25Index.cached(cache, fp, ledger)
    assert index is not None
    hits = index.retriever_for(3, Filters()).retrieve(QueryBundle("Hegseth NATO spending 5%"))
    assert hits and all("title" in h.node.metadata and h.node.get_content() for h in hits)
    assert BM25Index.cached(cache, fp) is None
