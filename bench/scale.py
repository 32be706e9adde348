"""How ingestion and serving grow with the archive: both RealTimeQA corpora in one store.

For each fraction of the combined archive (RealTimeQA 2023 + 2022-2024, read the way `rag ingest`
reads them, sorted by id so each fraction samples both years) it builds a fresh store with
`rag ingest --limit N` in its own process and records: wall time, the process's peak RSS (from
`wait4`), chunks, disk. Then it starts `rag serve` on that store (time until /v1/health answers,
server memory), asks questions from both question sets over HTTP after a warm-up (p50 / p95,
extractive answers), and on the largest store also times adding 10 new articles with `rag ingest`,
a `rag serve` start after that (on the saved BM25 index, patched, while a separate process rebuilds
it: how long that takes) and re-ingesting the unchanged archive. Prints a table, writes bench/results/scale.json. Stores go
in --work (kept, for reuse with --reuse) or a temporary folder.

With `--chroma` the vectors go to a real `chroma run` server per fraction (the scale-out path:
RAG_STORE__HOST), the ledger stays in the store folder, and the BM25 index is built from the
chunks read back from the server at each start (nothing is saved beside a server's store); its
server's memory is reported too. Results: bench/results/scale-chroma.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import DATA, dir_size_mb, serve_env, start_serve, write_result
from bench.serve import memory_mb, pct
from tests.helpers.processes import start_chroma
from tests.helpers.processes import stop_process as stop

OTHER_YEAR = DATA.parent / "realtimeqa-2022-2024"
CORPORA = [DATA / "corpus.jsonl.gz", OTHER_YEAR / "corpus.jsonl.gz"]


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB of that process, stdout) for one command run to completion."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read().decode()
    err = proc.stderr.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err[-2000:]}")
    return time.perf_counter() - t, usage.ru_maxrss / 1024, out


def questions(n: int) -> list[str]:
    out: list[str] = []
    for path in (DATA / "questions.jsonl", OTHER_YEAR / "questions.jsonl"):
        with path.open(encoding="utf-8") as f:
            rows = [json.loads(line) for line in f]
        step = max(1, len(rows) // n)
        out += [r["question"] for r in rows[::step][: n // 2]]
    return out


TAGGING = "ingest"  # RAG_INGEST__TAG_ENTITIES of the stores built (--tag-entities)


def env_for(store: Path, port: int | None) -> dict[str, str]:
    env = serve_env(store) | {"RAG_INGEST__TAG_ENTITIES": TAGGING}
    if port is not None:
        env |= {"RAG_STORE__HOST": "127.0.0.1", "RAG_STORE__PORT": str(port)}
    return env


def serve_and_ask(
    store: Path, work: Path, qs: list[str], port: int | None = None
) -> dict[str, Any]:
    import httpx

    t = time.perf_counter()
    proc, base, _ = start_serve(work, env_for(store, port), f"serve-{store.name}.log")
    log = work / f"serve-{store.name}.log"
    url = base + "/v1"
    try:
        deadline = time.perf_counter() + 600
        while time.perf_counter() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"rag serve exited:\n{log.read_text()[-2000:]}")
            try:
                if httpx.get(url + "/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        start_s = time.perf_counter() - t
        with httpx.Client(timeout=120) as client:
            for q in qs[:5]:  # warm-up
                client.post(url + "/query", json={"question": q})
            lat, stage = [], []
            for q in qs:
                t0 = time.perf_counter()
                r = client.post(url + "/query", json={"question": q})
                lat.append(time.perf_counter() - t0)
                if r.status_code == 200:
                    stage.append(r.json().get("timings", {}))
        retrieval = [1000 * s.get("retrieve", 0.0) for s in stage]
        return {
            "serve_start_s": round(start_s, 1),
            "query_p50_ms": round(pct(lat, 0.5) * 1000, 1),
            "query_p95_ms": round(pct(lat, 0.95) * 1000, 1),
            "retrieval_p50_ms": round(pct(retrieval, 0.5), 1) if retrieval else None,
            "server_memory": memory_mb(proc.pid),
        }
    finally:
        stop(proc)


def wait_for_bm25(store: Path, since: float, timeout: float = 1800) -> float | None:
    """Seconds from `since` until a BM25 index saved after it appears in the store (the one a
    server's background rebuild writes), or None if none within `timeout`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        saved = [p.stat().st_mtime for p in store.glob("bm25/*/*/catalogue.json")]
        if saved and max(saved) > since:
            return round(max(saved) - since, 1)
        time.sleep(1)
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fractions", default="0.1,0.3,1.0", help="of the combined archive")
    ap.add_argument("--questions", type=int, default=40, help="questions asked per store")
    ap.add_argument("--work", type=Path, help="keep the stores here (default: a temp folder)")
    ap.add_argument("--reuse", action="store_true", help="skip building stores already in --work")
    ap.add_argument("--chroma", action="store_true", help="vectors in a `chroma run` server")
    ap.add_argument("--skip-largest", action="store_true", help="no add-10 / re-ingest steps")
    ap.add_argument(
        "--corpus",
        type=Path,
        action="append",
        help="article files instead of the two RealTimeQA corpora (e.g. bench/derive.py's)",
    )
    ap.add_argument("--name", help="results file name (default scale / scale-chroma)")
    ap.add_argument(
        "--tag-entities",
        choices=["ingest", "asked"],
        default="ingest",
        help="when the stores' named entities are tagged (RAG_INGEST__TAG_ENTITIES): as part of "
        "the ingest (default, counted in its time) or when questions first need them",
    )
    ap.add_argument(
        "--first-ingest-s",
        type=float,
        help="with --reuse: the largest store's first ingest time, as measured when it was built "
        "(for the re-ingest share)",
    )
    args = ap.parse_args()
    global TAGGING
    TAGGING = args.tag_entities
    from index.intake import intake

    corpora = args.corpus or CORPORA
    total = len(intake(corpora).articles)
    qs = questions(args.questions)
    tmp = tempfile.TemporaryDirectory(prefix="rag-scale-")
    work = args.work or Path(tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    cli = [sys.executable, "-m", "ui.cli", "ingest", "--quiet", "--json"]
    for frac in (float(f) for f in args.fractions.split(",")):
        n = round(total * frac)
        store = work / f"store-{n}{'-chroma' if args.chroma else ''}"
        row: dict[str, Any] = {"fraction": frac, "articles": n}
        chroma, port = (None, None)
        if args.chroma:
            chroma, port = start_chroma(store / "chroma-server", work / f"chroma-{n}.log")
        try:
            if not (args.reuse and store.exists() and (store / "ledger-news.sqlite3").exists()):
                secs, rss, out = timed(
                    [*cli, "--limit", str(n), *map(str, corpora)], env_for(store, port), work
                )
                report = json.loads(out)
                row |= {"ingest_s": round(secs, 1), "ingest_peak_rss_mb": round(rss)}
                row["chunks"] = report["chunks_added"]
            row["disk_mb"] = round(dir_size_mb(store))
            row |= serve_and_ask(store, work, qs, port)
            if chroma is not None:
                row["chroma_server_memory"] = memory_mb(chroma.pid)
        finally:
            if chroma is not None:
                stop(chroma)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.skip_largest or args.chroma:
        name = args.name or ("scale-chroma" if args.chroma else "scale")
        print("wrote", write_result(name, {"args": {k: str(v) for k, v in vars(args).items()},
                                           "total_articles": total, "rows": rows}))  # fmt: skip
        tmp.cleanup()
        return
    largest = rows[-1]
    first = largest.get("ingest_s") or args.first_ingest_s
    store = work / f"store-{largest['articles']}"
    again, _, _ = timed([*cli, "--limit", str(largest["articles"]), *map(str, corpora)],
                        serve_env(store), work)  # fmt: skip
    extra = work / "ten-new.jsonl"
    run = time.strftime("%Y%m%dT%H%M%S")  # new articles on every run, also on a reused store
    with extra.open("w", encoding="utf-8") as f:
        for i in range(10):
            f.write(json.dumps({"id": f"scale-new-{run}-{i}", "title": f"Harbour update {i}",
                                "text": f"The harbour of Elwin reopened pier {i} on Monday "
                                        f"({run}) "
                                        "after storm repairs, the port authority said.",
                                "published": "2024-12-01"}) + "\n")  # fmt: skip
    add10, add_rss, _ = timed([*cli, str(extra)], serve_env(store), work)
    # a start after that ingest: the saved BM25 index is patched, a separate process rebuilds it
    started = time.time()
    after = serve_and_ask(store, work, qs)
    rebuilt = wait_for_bm25(store, started)
    result = {
        "total_articles": total,
        "rows": rows,
        "largest": {
            "reingest_unchanged_s": round(again, 1),
            "first_ingest_s": first,
            "reingest_share_of_first": round(again / first, 3) if first else None,
            "add_10_articles_s": round(add10, 1),
            "add_10_peak_rss_mb": round(add_rss),
            "serve_start_after_add_s": after["serve_start_s"],
            "query_p50_ms_after_add": after["query_p50_ms"],
            "bm25_rebuilt_aside_after_s": rebuilt,
        },
    }
    print(json.dumps(result["largest"]))
    args_out = {k: str(v) for k, v in vars(args).items()}
    print("wrote", write_result(args.name or "scale", {"args": args_out, **result}))
    tmp.cleanup()


if __name__ == "__main__":
    main()
