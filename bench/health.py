"""How long `GET /v1/health` takes while a burst of streamed questions is open, beside the same
probe on an idle server.

Starts a real `rag serve` child process on 127.0.0.1 (a fresh store of the seed articles), probes
/v1/health every 50 ms for `--seconds` on the idle server, then again while `--streams` clients
each send a streamed `POST /v1/query` (`"stream": true`) and read it to the end, back to back.
Prints the probe's p50 / p99 / max, idle and under the burst, and their ratio; writes
bench/results/health.json. A load balancer takes a server whose probe is slow for a dead one:
the probe must not queue behind the answers.

    python -m bench.health [--streams 300] [--seconds 20] [--answer-processes N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, write_result
from bench.serve import pct, start_server, wait_ready
from tests.helpers.processes import stop_process as stop


def probe_loop(url: str, seconds: float) -> list[float]:
    """Latencies (s) of /v1/health asked every 50 ms for `seconds`, as a load balancer would."""
    import httpx

    out: list[float] = []
    end = time.monotonic() + seconds
    with httpx.Client(timeout=60) as client:
        while time.monotonic() < end:
            start = time.monotonic()
            r = client.get(url + "/v1/health")
            if r.status_code != 200:
                raise SystemExit(f"/v1/health answered {r.status_code}: {r.text[:300]}")
            out.append(time.monotonic() - start)
            time.sleep(0.05)
    return out


async def probe(url: str, seconds: float) -> list[float]:
    """`probe_loop` in a process of its own: in this one it would wait behind the burst's
    300 clients on the same event loop and time them, not the server."""
    with ProcessPoolExecutor(1) as pool:
        return await asyncio.get_running_loop().run_in_executor(pool, probe_loop, url, seconds)


async def burst(url: str, streams: int, stop_at: float) -> dict[str, Any]:
    """`streams` clients asking streamed questions back to back until `stop_at`."""
    import httpx

    gold = [
        json.loads(line)
        for line in (ROOT / "evals" / "gold" / "seeds.jsonl").read_text().splitlines()
        if line.strip()
    ]
    questions = [g["user_input"] for g in gold if not g.get("history")]
    done: dict[str, Any] = {"answers": 0, "errors": 0, "error_kinds": {}}
    # idle connections expire before the server's 5 s keep-alive does (uvicorn's default; httpx's
    # is 5 s too): otherwise a request now and then goes out on a connection the server is
    # closing and is reset, a race of the client's making that no server can answer
    limits = httpx.Limits(
        max_connections=streams, max_keepalive_connections=streams, keepalive_expiry=2.0
    )
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:

        async def one(i: int) -> None:
            n = i
            while time.monotonic() < stop_at:
                body = {"question": questions[n % len(questions)], "stream": True}
                n += streams
                try:
                    async with client.stream("POST", url + "/v1/query", json=body) as r:
                        async for _ in r.aiter_lines():
                            pass
                    if r.status_code == 200:
                        done["answers"] += 1
                        continue
                    kind = f"HTTP {r.status_code}"
                except httpx.HTTPError as exc:
                    kind = type(exc).__name__
                done["errors"] += 1
                done["error_kinds"][kind] = done["error_kinds"].get(kind, 0) + 1

        await asyncio.gather(*(one(i) for i in range(streams)))
    return done


def summary(latencies: list[float]) -> dict[str, float]:
    return {
        "probes": len(latencies),
        "p50_ms": round(pct(latencies, 0.5) * 1000, 1),
        "p99_ms": round(pct(latencies, 0.99) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-health-") as tmp:
        proc, url, log = start_server(Path(tmp), "extractive", args.answer_processes)
        try:
            await wait_ready(url, proc, log, timeout=300)
            idle = await probe(url, args.seconds)
            stop_at = time.monotonic() + args.seconds + 5
            load = asyncio.ensure_future(burst(url, args.streams, stop_at))
            await asyncio.sleep(5)  # the streams open and fill the server first
            busy = await probe(url, args.seconds)
            answered = await load
            if answered["errors"]:  # what the server said about them, for the reader
                lines = log.read_text(errors="replace").splitlines()
                answered["server_log"] = [x for x in lines if "error" in x.lower()][-10:]
        finally:
            stop(proc)
    return {
        "streams": args.streams,
        "answer_processes": "default" if args.answer_processes is None else args.answer_processes,
        "idle": summary(idle),
        "under_burst": summary(busy),
        "p99_ratio_burst_to_idle": round(pct(busy, 0.99) / max(pct(idle, 0.99), 1e-6), 1),
        "burst": answered,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", type=int, default=300, help="streamed questions open at once")
    ap.add_argument("--seconds", type=float, default=20.0, help="probing time, idle and busy")
    ap.add_argument(
        "--answer-processes",
        type=int,
        default=None,
        help="rag serve --answer-processes (default: the product's, one per core beyond the "
        "first; 0 answers in the server itself, the hardest case for the probe)",
    )
    args = ap.parse_args()
    result = asyncio.run(run(args))
    for name in ("idle", "under_burst"):
        s = result[name]
        print(
            f"/v1/health {name:12s} p50 {s['p50_ms']:7.1f} ms  p99 {s['p99_ms']:7.1f} ms  "
            f"max {s['max_ms']:7.1f} ms  ({s['probes']} probes)"
        )
    print(
        f"p99 under {result['streams']} streams / idle: {result['p99_ratio_burst_to_idle']}x; "
        f"the burst got {result['burst']['answers']} answers, {result['burst']['errors']} errors "
        f"{result['burst']['error_kinds'] or ''}"
    )
    print(f"written to {write_result('health', result)}")


if __name__ == "__main__":
    main()
