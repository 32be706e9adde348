"""The BM25 index of a store built two ways, each in a fresh process, one after the other: with
bm25s's own matrix assembly (`stock`: `bm25s.BM25`, what `BM25Retriever` builds) and with the
product's (`lean`: `rag.retrieval.bm25_lean.LeanBM25`). Both read the same chunks from the
store's saved index and tokenise them alike; the build is what differs. Prints each one's
seconds and peak RSS (the process's own, from `wait4`), whether the two matrices are equal
(a hash of their arrays), and the ratios; writes bench/results/bm25_build[-NAME].json.

    python -m bench.bm25_build --store /path/to/store [--rounds 2] [--name 100k]

The store must hold a saved BM25 index (any store `rag ingest` built past
RAG_RETRIEVAL__REBUILD_INLINE_MAX chunks, or one a server has started on); nothing in it is
written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

from bench.common import ROOT, write_result

KINDS = ("stock", "lean")


def child(store: Path, kind: str) -> None:
    """Build the index of `store`'s saved chunks in a temporary folder and print what it took."""
    import bm25s

    import rag.retrieval.bm25_lean as lean
    from index.collections import collection_names
    from rag.retrieval.bm25 import BM25Index
    from rag.settings import load, on_collection
    from rag.store.layout import Layout
    from rag.store.ledger import open_ledger

    settings = load(None, store={"path": str(store)})
    names = collection_names(settings)
    if len(names) == 1:  # a store of one collection (a `rag eval` store's is "realtimeqa")
        settings = on_collection(settings, names[0])
    ledger = open_ledger(settings)
    saved = BM25Index.saved(Layout.of(settings).bm25, ledger)
    if saved is None:
        raise SystemExit(f"{store} holds no saved BM25 index: start `rag serve` on it once")
    if kind == "stock":
        lean.LeanBM25 = bm25s.BM25  # what BM25Index.build makes its index with
    records = zip(saved.summary.ids, iter(saved.records), strict=True)
    with tempfile.TemporaryDirectory(prefix="bench-bm25-") as out:
        started = time.perf_counter()
        built = BM25Index.build(records, "bench", Path(out), ledger=ledger)
        seconds = time.perf_counter() - started
        scores = built.retriever.bm25.scores
        digest = hashlib.sha256()
        for name in ("data", "indices", "indptr"):
            digest.update(memoryview(scores[name]).cast("B"))
        print(
            json.dumps(
                {"seconds": round(seconds, 1), "chunks": built.size, "hash": digest.hexdigest()}
            )
        )
    ledger.close()


def run(store: Path, kind: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.bm25_build", "--store", str(store), "--child", kind],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"the {kind} build failed (status {status})")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    result["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", type=Path, required=True, help="a store folder with a saved index")
    ap.add_argument("--rounds", type=int, default=1, help="builds of each kind, in turn")
    ap.add_argument("--name", default="", help="results file suffix (bm25_build-NAME.json)")
    ap.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.store, args.child)
        return 0
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
    for r in range(args.rounds):
        for kind in KINDS:
            got = run(args.store, kind)
            runs[kind].append(got)
            print(
                f"round {r + 1} {kind:5}: {got['seconds']:7.1f} s, peak RSS "
                f"{got['peak_rss_mb']:8.1f} MB, {got['chunks']:,} chunks",
                flush=True,
            )
    same = len({g["hash"] for k in KINDS for g in runs[k]}) == 1
    summary = {
        k: {
            "seconds_median": median(g["seconds"] for g in runs[k]),
            "peak_rss_mb_median": median(g["peak_rss_mb"] for g in runs[k]),
        }
        for k in KINDS
    }
    stock, lean = summary["stock"], summary["lean"]
    ratios = {
        "memory_stock_over_lean": round(
            stock["peak_rss_mb_median"] / lean["peak_rss_mb_median"], 2
        ),
        "time_stock_over_lean": round(stock["seconds_median"] / lean["seconds_median"], 2),
    }
    print(
        f"same index: {same}; peak RSS stock / lean {ratios['memory_stock_over_lean']}x, "
        f"time stock / lean {ratios['time_stock_over_lean']}x"
    )
    name = "bm25_build" + (f"-{args.name}" if args.name else "")
    path = write_result(
        name,
        {"store": str(args.store), "same_index": same, "runs": runs, "median": summary, **ratios},
    )
    print(f"written to {path}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
