"""Two writers and readers at once, then `rag check`: is anything lost, duplicated or empty?

Starts a real `rag serve` on a fresh store (it ingests seeds/ first), then at the same time:
- `rag ingest` (a second process) indexes the first N articles of RealTimeQA 2023;
- an uploader posts the first M articles of RealTimeQA 2022-2024 to `POST /v1/articles`, in
  small batches, retrying a 503 (the other writer holds the index) after a pause;
- Q clients ask `POST /v1/query` back to back until both writers are done;
- a deleter removes every tenth uploaded article (`DELETE /v1/articles/{id}`) as they arrive,
  and asks to delete an id that does not exist;
- a sampler reads the server's resources from /proc every half second: memory (with its answer
  processes), threads, open files, the index rebuild processes running at once, zombie children.
Then stops the server, runs `rag check --json`, and searches the vector index alone for a sample
of articles by title. Counts: articles expected (seeds + N + M) and
recorded, lost (expected but not in the ledger or without their chunks), duplicated (chunks of an
older version beside the current one, or of no recorded article), empty chunks, query errors.
Writes bench/results/stress.json. Everything runs on 127.0.0.1; every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import DATA, ROOT, serve_env, start_serve, write_result
from bench.serve import memory_mb, pct, wait_ready
from tests.helpers.processes import stop_process as stop
from tests.helpers.processes import zombies

OTHER_YEAR = DATA.parent / "realtimeqa-2022-2024"
QUESTIONS = [
    "What did Hegseth say about 5%?",
    "Which team does Damar Hamlin play for?",
    "When will Starmer host Rutte?",
    "How much has Starmer committed to spend on defence?",
    "Who won the election?",
]


def first_records(path: Path, n: int) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in itertools.islice(f, n)]


def as_upload(rec: dict[str, Any]) -> dict[str, Any]:
    out = {"id": rec["id"], "title": rec["title"], "text": rec["text"], "url": rec.get("url")}
    if rec.get("published"):
        out["published"] = str(rec["published"]).replace("/", "-")
    if rec.get("authors"):
        out["authors"] = rec["authors"]
    return {k: v for k, v in out.items() if v}


async def uploader(
    api: str, records: list[dict[str, Any]], batch: int, stats: dict[str, Any]
) -> None:
    import httpx

    async with httpx.AsyncClient(timeout=300) as client:
        for start in range(0, len(records), batch):
            body = {"articles": [as_upload(r) for r in records[start : start + batch]]}
            for _attempt in range(20):
                r = await client.post(api + "/articles", json=body)
                if r.status_code == 503:  # the CLI holds the index: wait and send it again
                    stats["upload_busy"] += 1
                    await asyncio.sleep(2)
                    continue
                break
            if r.status_code != 200:
                stats["upload_errors"].append(f"{r.status_code}: {r.text[:200]}")
                continue
            for res in r.json()["results"]:
                key = "refused_ids" if res["status"] == "refused" else "uploaded_ids"
                stats[key].append(res["id"])


async def deleter(api: str, done: asyncio.Event, stats: dict[str, Any]) -> None:
    """Removes every tenth uploaded article as they arrive, and an id that is not there."""
    import httpx

    async with httpx.AsyncClient(timeout=300) as client:
        gone = 0
        while not done.is_set():
            targets = stats["uploaded_ids"][gone * 10 + 5 :: 10][:1]
            if not targets:
                await asyncio.sleep(0.5)
                continue
            for art in (*targets, "no-such-article"):
                for _attempt in range(20):
                    r = await client.delete(f"{api}/articles/{art}")
                    if r.status_code != 503:
                        break
                    await asyncio.sleep(2)
                if art != "no-such-article" and r.status_code == 200:
                    stats["deleted_ids"].append(art)
                elif art == "no-such-article" and r.status_code != 404:
                    stats["upload_errors"].append(f"delete of an unknown id: {r.status_code}")
            gone += 1


def _rebuilds() -> int:
    n = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"rag.jobs.bm25" in (entry / "cmdline").read_bytes():
                    n += 1
            except OSError:
                continue
    return n


async def sampler(pid: int, done: asyncio.Event, peaks: dict[str, float]) -> None:
    """The server's resources every half second, their peaks kept."""
    while not done.is_set():
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            threads = int(
                next(ln for ln in status.splitlines() if ln.startswith("Threads:")).split()[1]
            )
            now = {
                "total_rss_mb": memory_mb(pid)["total_rss_mb"],
                "threads": threads,
                "open_files": len(list(Path(f"/proc/{pid}/fd").iterdir())),
                "rebuild_processes": _rebuilds(),
                "zombies": len(zombies(pid)),
            }
        except OSError:
            break
        for key, value in now.items():
            peaks[key] = max(peaks.get(key, 0), value)
        await asyncio.sleep(0.5)


async def asker(api: str, done: asyncio.Event, stats: dict[str, Any], offset: int) -> None:
    import httpx

    async with httpx.AsyncClient(timeout=120) as client:
        for i in itertools.count(offset):
            if done.is_set() or i - offset > 100_000:
                return
            t = time.perf_counter()
            try:
                r = await client.post(api + "/query", json={"question": QUESTIONS[i % 5]})
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            stats["latencies"].append(time.perf_counter() - t)
            if not ok:
                stats["query_errors"] += 1


async def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    cli_records = first_records(DATA / "corpus.jsonl.gz", args.cli_articles)
    up_records = first_records(OTHER_YEAR / "corpus.jsonl.gz", args.upload_articles)
    cli_file = work / "cli.jsonl"
    cli_file.write_text("".join(json.dumps(r) + "\n" for r in cli_records), encoding="utf-8")
    shutil.copytree(ROOT / "seeds", work / "seeds")
    env = serve_env(work / "store")
    if args.answer_processes is not None:
        env["RAG_SERVER__ANSWER_PROCESSES"] = str(args.answer_processes)
    engines: list[subprocess.Popen[bytes]] = []
    if args.server_store:  # a chroma run server for the chunks, PostgreSQL for the books
        from tests.helpers.processes import start_chroma, start_postgres

        chroma, port = start_chroma(work / "chroma", work / "chroma.log")
        postgres, pg_url = start_postgres(work / "postgres", work / "postgres.log")
        engines += [chroma, postgres]
        env.update(
            RAG_STORE__HOST="127.0.0.1",
            RAG_STORE__PORT=str(port),
            RAG_STORE__URL=pg_url,
            RAG_STORE__COLLECTION="stress",
        )
    server, url, log = start_serve(work, env)
    second: subprocess.Popen[bytes] | None = None
    ask_url = url
    stats: dict[str, Any] = {
        "uploaded_ids": [],
        "refused_ids": [],
        "upload_errors": [],
        "upload_busy": 0,
        "latencies": [],
        "query_errors": 0,
        "deleted_ids": [],
    }
    peaks: dict[str, float] = {}
    stats["peaks"] = peaks
    try:
        await wait_ready(url, server, log, 180)
        if args.server_store:  # another machine: its own folder, asked while the first writes
            (work / "b").mkdir()
            b_env = {**env, "RAG_STORE__PATH": str(work / "b" / "store")}
            second, ask_url, b_log = start_serve(work / "b", b_env)
            await wait_ready(ask_url, second, b_log, 180)
        t0 = time.perf_counter()
        cli = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ui.cli", "ingest", "--quiet", "--json", str(cli_file),
            cwd=work, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        done = asyncio.Event()
        askers = [
            asyncio.create_task(asker(ask_url + "/v1", done, stats, i)) for i in range(args.clients)
        ]
        watch = asyncio.create_task(sampler(server.pid, done, peaks))
        deleting = asyncio.create_task(deleter(url + "/v1", done, stats))
        up = asyncio.create_task(uploader(url + "/v1", up_records, args.batch, stats))
        cli_out, cli_err = await asyncio.wait_for(cli.communicate(), timeout=args.timeout)
        await asyncio.wait_for(up, timeout=args.timeout)
        stats["wall"] = time.perf_counter() - t0
        done.set()
        await asyncio.gather(*askers, watch, deleting)
        stats["server_memory"] = memory_mb(server.pid)
    finally:
        stop(server)
        if second is not None:
            stop(second)
    try:
        return finish(args, work, env, cli, cli_out, cli_err, cli_records, up_records, stats)
    finally:
        for engine in engines:
            stop(engine)


def finish(
    args: argparse.Namespace,
    work: Path,
    env: dict[str, str],
    cli: Any,
    cli_out: bytes,
    cli_err: bytes,
    cli_records: list[dict[str, Any]],
    up_records: list[dict[str, Any]],
    stats: dict[str, Any],
) -> dict[str, Any]:
    """What the writers left: `rag check`, the ledger against what was sent, search by title."""
    if cli.returncode != 0:
        raise SystemExit(f"rag ingest failed: {cli_err.decode()[-2000:]}")
    checked = subprocess.run(
        [sys.executable, "-m", "ui.cli", "check", "--json"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    check = json.loads(checked.stdout)
    recorded = recorded_ids(work, env)
    cli_report = json.loads(cli_out)
    expected = (
        {p.stem for p in (ROOT / "seeds").glob("*.txt")}
        | {r["id"] for r in cli_records}
        | set(stats["uploaded_ids"])
    ) - set(stats["deleted_ids"])
    lost = sorted((expected - recorded) | set(check["missing"]))
    deleted = set(stats["deleted_ids"])
    sample = cli_records[::30] + [r for r in up_records[::15] if r["id"] not in deleted]
    findable = findable_by_title(work, env, sample)
    # the same articles written by one writer alone: what the sample scores without concurrency
    alone = work / "alone"
    alone.mkdir()
    uploaded = set(stats["uploaded_ids"]) - set(stats["deleted_ids"])
    (alone / "all.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in cli_records)
        + "".join(json.dumps(as_upload(r)) + "\n" for r in up_records if r["id"] in uploaded),
        encoding="utf-8",
    )
    alone_env = {**env, "RAG_STORE__PATH": str(alone / "store")}
    subprocess.run(
        [sys.executable, "-m", "ui.cli", "ingest", "--quiet", str(alone / "all.jsonl")],
        cwd=alone,
        env=alone_env,
        check=True,
        capture_output=True,
        timeout=1800,
    )
    findable_alone = findable_by_title(alone, alone_env, sample)
    lat = stats["latencies"]
    return {
        "cli_articles": len(cli_records),
        "uploaded_articles": len(stats["uploaded_ids"]),
        "upload_refused_same_id_other_text": len(stats["refused_ids"]),
        "cli_report": {k: cli_report[k] for k in ("new", "updated", "unchanged", "chunks_added")},
        "upload_batches_told_busy": stats["upload_busy"],
        "upload_errors": stats["upload_errors"],
        "expected_articles": len(expected),
        "recorded_articles": len(recorded),
        "chunks": check["chunks"],
        "lost": len(lost),
        "lost_ids": lost[:20],
        "duplicated_chunks": len(check["outdated_chunks"]) + len(check["orphaned"]),
        "empty_chunks": len(check["empty_chunks"]),
        "stranded": len(check["stranded"]),
        "check_problems": check["problems"],
        "found_by_title_dense_top10": findable,
        "same_articles_one_writer_found": findable_alone,
        "queries": len(lat),
        "query_errors": stats["query_errors"],
        "query_p50_ms": round(pct(lat, 0.5) * 1000, 1),
        "query_p95_ms": round(pct(lat, 0.95) * 1000, 1),
        "writers_wall_s": round(stats["wall"], 1),
        "server_memory": stats["server_memory"],
        "server_store": bool(args.server_store),
        "deleted_articles": len(stats["deleted_ids"]),
        "server_peaks": stats["peaks"],
    }


def recorded_ids(work: Path, env: dict[str, str]) -> set[str]:
    """The articles the collection's ledger records (a file, or on the server store)."""
    script = (
        "import json\nfrom rag.settings import load\nfrom rag.store.ledger import read_ledger\n"
        "ledger = read_ledger(load(None))\n"
        "print(json.dumps(sorted(ledger.hashes()) if ledger else []))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(out.stdout))


def findable_by_title(work: Path, env: dict[str, str], records: list[dict[str, Any]]) -> str:
    """Dense search alone (the vector index, not BM25) by each sampled article's title: is the
    article in the top 10? Vectors lost by a writer would show here, not in `rag check`."""
    titles = json.dumps([[r["id"], r["title"]] for r in records])
    script = (
        "import json, sys\n"
        "from rag.pipeline import build\nfrom rag.settings import load\n"
        "pipe = build(load(None))\nfound = 0\npairs = json.loads(sys.argv[1])\n"
        "for art, title in pairs:\n"
        "    hits = pipe.retriever.retrieve(title, top_k=10, mode='dense')\n"
        "    found += any(h.article_id == art or art in h.also_in for h in hits)\n"
        "print(f'{found}/{len(pairs)}')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, titles],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return out.stdout.strip() or out.stderr[-300:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cli-articles", type=int, default=600, help="RealTimeQA 2023 articles")
    ap.add_argument("--upload-articles", type=int, default=300, help="2022-2024 articles")
    ap.add_argument("--batch", type=int, default=20, help="articles per upload request")
    ap.add_argument("--clients", type=int, default=4, help="concurrent question askers")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds before giving up")
    ap.add_argument(
        "--answer-processes",
        type=int,
        help="the server's answer processes (default: rag serve's own default)",
    )
    ap.add_argument(
        "--server-store",
        action="store_true",
        help="the chunks on a chroma run server and the books on PostgreSQL (both started "
        "here), with a second rag serve of its own folder answering the questions",
    )
    ap.add_argument(
        "--work", type=Path, help="an empty folder to work in, kept (server log and stores)"
    )
    args = ap.parse_args()
    if args.work:
        args.work.mkdir(parents=True, exist_ok=True)
        result = asyncio.run(run(args, args.work))
    else:
        with tempfile.TemporaryDirectory(prefix="rag-stress-") as tmp:
            result = asyncio.run(run(args, Path(tmp)))
    for key, value in result.items():
        print(f"{key:>28}: {value}")
    print(
        "wrote",
        write_result(
            "stress-server-store" if args.server_store else "stress",
            {
                "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                **result,
            },
        ),
    )


if __name__ == "__main__":
    main()
