"""Benchmark `rag serve` under concurrent load from a second process on loopback.

Starts a real `rag serve` child process on 127.0.0.1 (a fresh store in a temporary folder, so it
ingests the seed articles first; extractive answers unless --backend says otherwise), then this
process plays N concurrent clients, each sending `POST /v1/query` (or `/v1/chat/completions`) with
questions from evals/gold/seeds.jsonl back to back, for a fixed time per concurrency level. Every
loop is bounded in time and in requests and targets only 127.0.0.1.

Prints per level: requests/s, latency p50/p95/p99, errors (any non-200 or transport error), and
the server's resident memory (now and peak, from /proc; with its answer processes). Each
`--answer-processes` value (default 0 and 2) gets its own server and the same load, and the
requests/s ratio is printed. Writes bench/results/serve.json.

With `--store DIR` the server runs on an archive already indexed there (the RealTimeQA collection
that `rag eval --dataset realtimeqa --store DIR` builds) and the clients ask the answerable
questions of `--data` (each with its own date as `as_of`, unless --no-as-of), so that what is
measured is a real archive of thousands of articles; results go to bench/results/serve-archive.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, serve_env, start_serve, write_result
from tests.helpers.processes import children
from tests.helpers.processes import stop_process as stop

MAX_REQUESTS_PER_LEVEL = 100_000  # a hard bound besides the time limit


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


def _status_mb(pid: int) -> dict[str, float]:
    out: dict[str, float] = {}
    status = Path(f"/proc/{pid}/status").read_text()
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out["rss_mb" if key == "VmRSS" else "peak_rss_mb"] = round(
                int(value.split()[0]) / 1024, 1
            )
    return out


def memory_mb(pid: int) -> dict[str, float]:
    """Resident and peak resident memory of the server process, and the current RSS of its
    children (the answer processes) and of all together."""
    out = _status_mb(pid)
    theirs = 0.0
    for child in children(pid):
        try:
            theirs += _status_mb(child).get("rss_mb", 0.0)
        except OSError:
            continue
    out["children_rss_mb"] = round(theirs, 1)
    out["total_rss_mb"] = round(out.get("rss_mb", 0.0) + theirs, 1)
    return out


def start_server(
    workdir: Path, backend: str, processes: int | None
) -> tuple[subprocess.Popen[bytes], str, Path]:
    """`rag serve` on the seeds with `processes` answer processes (None: the product's default)."""
    shutil.copytree(ROOT / "seeds", workdir / "seeds")
    env = serve_env(workdir / "store", backend)
    args = [] if processes is None else ["--answer-processes", str(processes)]
    return start_serve(workdir, env, args=args)


async def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"the server exited:\n{log.read_text()[-3000:]}")
            try:
                if (await client.get(url + "/v1/health", timeout=2)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.3)
    raise SystemExit(f"the server did not start in {timeout:.0f}s:\n{log.read_text()[-3000:]}")


Question = tuple[str, str | None]  # (question, as_of)


def request_for(endpoint: str, question: Question) -> tuple[str, dict[str, Any]]:
    text, as_of = question
    extra = {"as_of": as_of} if as_of else {}
    if endpoint == "chat":
        body = {"model": "news-rag", "messages": [{"role": "user", "content": text}], **extra}
        return "/v1/chat/completions", body
    return "/v1/query", {"question": text, **extra}


async def level(
    url: str, clients: int, seconds: float, questions: list[Question], endpoint: str
) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    sent = 0
    stop_at = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:

        async def worker(offset: int) -> None:
            nonlocal sent
            i = offset
            while time.monotonic() < stop_at and sent < MAX_REQUESTS_PER_LEVEL:
                sent += 1
                path, body = request_for(endpoint, questions[i % len(questions)])
                i += 1
                t0 = time.perf_counter()
                try:
                    r = await client.post(path, json=body)
                    ok = r.status_code == 200 and ("citations" in r.json() or "choices" in r.json())
                    if not ok:
                        errors.append(f"{r.status_code}: {r.text[:200]}")
                except httpx.HTTPError as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                latencies.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(k * 7) for k in range(clients)))
        wall = time.perf_counter() - t0

    done = len(latencies)
    return {
        "clients": clients,
        "seconds": round(wall, 1),
        "requests": done,
        "requests_per_s": round(done / wall, 2),
        "p50_ms": round(pct(latencies, 0.50) * 1000, 1),
        "p95_ms": round(pct(latencies, 0.95) * 1000, 1),
        "p99_ms": round(pct(latencies, 0.99) * 1000, 1),
        "errors": len(errors),
        "error_samples": errors[:3],
    }


def archive_questions(data: Path, dated: bool) -> list[Question]:
    from evals.dataset import load_realtimeqa, spread
    from rag.text.dates import parse_date

    out: list[Question] = []
    for rec in spread(load_realtimeqa(data).answerable()):
        day = parse_date(rec.date) if dated and rec.date else None
        out.append((rec.user_input, day.isoformat() if day else None))
    return out


async def run(args: argparse.Namespace, processes: int, on_server: bool = False) -> dict[str, Any]:
    """One server and the load; `on_server`: on the server store (`--chroma`, `--books`), from
    a folder of its own that holds nothing yet, as a new machine would."""
    workdir = Path(tempfile.mkdtemp(prefix="rag-bench-serve-"))
    if args.store:
        questions = archive_questions(args.data, args.as_of)
        env = serve_env(args.store, args.backend) | {"RAG_STORE__COLLECTION": args.collection}
        if on_server:
            host, _, port = args.chroma.rpartition(":")
            env |= {
                "RAG_STORE__PATH": str(workdir / "store"),
                "RAG_STORE__HOST": host,
                "RAG_STORE__PORT": port,
                "RAG_STORE__URL": args.books,
            }
        proc, url, log = start_serve(workdir, env, args=["--answer-processes", str(processes)])
    else:
        gold = [
            json.loads(line) for line in (ROOT / "evals/gold/seeds.jsonl").read_text().splitlines()
        ]
        questions = [(g["user_input"], None) for g in gold if not g.get("history")]
        proc, url, log = start_server(workdir, args.backend, processes)
    try:
        t0 = time.perf_counter()
        await wait_ready(url, proc, log, args.start_timeout)
        startup = time.perf_counter() - t0
        where = f"on {args.store}" if args.store else "ingested the seeds"
        if on_server:
            where = f"on the server store (chroma {args.chroma}, books on PostgreSQL)"
        print(
            f"--answer-processes {processes}: server up at {url} in {startup:.1f}s "
            f"({where}); "
            f"memory {memory_mb(proc.pid)}"
        )
        # warm-up: the first answers load caches
        await level(url, 1, 3, questions, args.endpoint)
        rows = []
        for clients in args.clients:
            row = await level(url, clients, args.duration, questions, args.endpoint)
            row.update(memory_mb(proc.pid))
            rows.append(row)
            print(
                f"{clients:>3} clients: {row['requests_per_s']:>6.2f} req/s  "
                f"p50 {row['p50_ms']:>7.1f} ms  p95 {row['p95_ms']:>7.1f} ms  "
                f"p99 {row['p99_ms']:>7.1f} ms  errors {row['errors']}  "
                f"server RSS {row['rss_mb']} MB (peak {row['peak_rss_mb']} MB), "
                f"with its answer processes {row['total_rss_mb']} MB",
                flush=True,
            )
            for sample in row["error_samples"]:
                print(f"      error: {sample}")
        return {
            "answer_processes": processes,
            "store": str(args.store) if args.store else "seeds",
            "server_store": on_server,
            "as_of": bool(args.store and args.as_of),
            "endpoint": args.endpoint,
            "backend": args.backend,
            "duration_s_per_level": args.duration,
            "questions": len(questions),
            "startup_s": round(startup, 1),
            "levels": rows,
        }
    finally:
        stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--clients",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 8, 32],
        help="concurrency levels, comma-separated (default 1,8,32)",
    )
    ap.add_argument("--duration", type=float, default=30, help="seconds per level (default 30)")
    ap.add_argument(
        "--endpoint", choices=["query", "chat"], default="query", help="/v1/query or chat"
    )
    ap.add_argument("--backend", default="extractive", help="answer backend of the server")
    ap.add_argument(
        "--answer-processes",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[0, 2],
        metavar="N[,N…]",
        help="`rag serve --answer-processes` values, one server each, run one after the other "
        "(default 0,2: the server answering alone, and with two answer processes)",
    )
    ap.add_argument("--start-timeout", type=float, default=300)
    ap.add_argument("--out", help="result name: bench/results/NAME.json (default serve, or "
                    "serve-archive with --store)")  # fmt: skip
    ap.add_argument("--store", type=Path, help="serve this indexed archive instead of the seeds")
    ap.add_argument("--collection", default="realtimeqa", help="its collection (with --store)")
    ap.add_argument(
        "--data",
        type=Path,
        default=ROOT.parent / "shared" / "data" / "realtimeqa-2023",
        help="the RealTimeQA folder whose questions are asked (with --store)",
    )
    ap.add_argument(
        "--no-as-of",
        dest="as_of",
        action="store_false",
        help="ask without each question's date (as of today)",
    )
    ap.add_argument(
        "--chroma",
        metavar="HOST:PORT",
        help="with --books: the same archive on the server store too (copied there by `rag "
        "store copy`), each setting measured on both, side by side",
    )
    ap.add_argument("--books", metavar="URL", help="the server store's PostgreSQL (with --chroma)")
    args = ap.parse_args()
    args.out = args.out or ("serve-archive" if args.store else "serve")
    if args.duration <= 0 or args.duration > 600:
        ap.error("--duration must be in (0, 600] seconds")
    if bool(args.chroma) != bool(args.books) or (args.chroma and not args.store):
        ap.error("--chroma and --books go together, with --store")
    if args.chroma:
        runs = [
            asyncio.run(run(args, n, on_server))
            for n in args.answer_processes
            for on_server in (False, True)
        ]
        result: dict[str, Any] = {"runs": runs, "server_store_vs_embedded": {}}
        for embedded, served in zip(runs[::2], runs[1::2], strict=True):
            result["server_store_vs_embedded"][
                f"{embedded['answer_processes']} answer processes"
            ] = {
                str(a["clients"]): {
                    "requests_per_s": round(a["requests_per_s"] / b["requests_per_s"], 2),
                    "p50": round(a["p50_ms"] / b["p50_ms"], 2),
                }
                for a, b in zip(served["levels"], embedded["levels"], strict=True)
                if b["requests_per_s"] and b["p50_ms"]
            }
        print(f"server store / embedded, per clients: {result['server_store_vs_embedded']}")
        path = write_result(args.out, result)
        errors = sum(r["errors"] for run_ in runs for r in run_["levels"])
        print(f"wrote {path}; errors in total: {errors}")
        sys.exit(1 if errors else 0)
    runs = [asyncio.run(run(args, n)) for n in args.answer_processes]
    result = {"runs": runs}
    if len(runs) > 1:  # the same load on each setting, side by side
        base = runs[0]
        result["requests_per_s_ratio"] = {
            f"{r['answer_processes']} vs {base['answer_processes']} answer processes": {
                str(a["clients"]): round(a["requests_per_s"] / b["requests_per_s"], 2)
                for a, b in zip(r["levels"], base["levels"], strict=True)
                if b["requests_per_s"]
            }
            for r in runs[1:]
        }
        print(f"requests/s ratio per clients: {result['requests_per_s_ratio']}")
    path = write_result(args.out, result)
    errors = sum(r["errors"] for run in runs for r in run["levels"])
    print(f"wrote {path}; errors in total: {errors}")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
