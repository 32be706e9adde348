"""The catalogue opened from the BM25 cache reads chunk records from disk as they are needed:
correct under concurrent reads, and the same catalogue as one read back from the store."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rag.catalogue import JsonLines, Summary


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
    data = json.loads(path.read_text())
    path.write_text(json.dumps(data | {"version": 0}))
    assert Summary.load(path) is None
    path.write_text("{not json")
    assert Summary.load(path) is None


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
