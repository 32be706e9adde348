"""The catalogue opened from the BM25 cache reads chunk records from disk as they are needed:
correct under concurrent reads, and the same catalogue as one read back from the store."""

from __future__ import annotations

import json
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
