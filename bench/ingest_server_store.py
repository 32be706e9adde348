"""`rag ingest` of the RealTimeQA 2023 corpus into the embedded store and into the server store
(chunks on a `chroma run` server, books on PostgreSQL, both started here on 127.0.0.1), one after
the other in one run, each into a fresh store, entity tagging off for both (it runs aside and
would overlap the next ingest). Prints each wall time and their ratio; writes
bench/results/ingest-server-store.json.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import DATA, serve_env, write_result
from tests.helpers.processes import start_chroma, start_postgres, stop_process


def ingest(work: Path, env: dict[str, str], corpus: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "ui.cli", "ingest", "--quiet", str(corpus)],
        cwd=work,
        env=env,
        check=True,
        timeout=7200,
    )
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, help="the first N articles (default: all 7,534)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="rag-ingest-stores-") as tmp:
        work = Path(tmp)
        corpus = work / "corpus.jsonl"
        with gzip.open(DATA / "corpus.jsonl.gz", "rt", encoding="utf-8") as f:
            corpus.write_text("".join(itertools.islice(f, args.limit)), encoding="utf-8")
        articles = sum(1 for _ in corpus.open(encoding="utf-8"))
        env = serve_env(work / "embedded") | {"RAG_INGEST__TAG_ENTITIES": "false"}
        embedded = ingest(work, env, corpus)
        print(f"embedded store: {articles} articles in {embedded:.1f} s", flush=True)
        chroma, port = start_chroma(work / "chroma", work / "chroma.log")
        postgres, url = start_postgres(work / "postgres", work / "postgres.log")
        try:
            server_env = env | {
                "RAG_STORE__PATH": str(work / "machine"),
                "RAG_STORE__HOST": "127.0.0.1",
                "RAG_STORE__PORT": str(port),
                "RAG_STORE__URL": url,
            }
            server = ingest(work, server_env, corpus)
        finally:
            stop_process(chroma)
            stop_process(postgres)
    ratio = server / embedded
    print(f"server store: {articles} articles in {server:.1f} s ({ratio:.2f}x the embedded)")
    print(
        "wrote",
        write_result(
            "ingest-server-store",
            {
                "articles": articles,
                "embedded_s": round(embedded, 1),
                "server_store_s": round(server, 1),
                "ratio": round(ratio, 2),
            },
        ),
    )


if __name__ == "__main__":
    main()
