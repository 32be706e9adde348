"""What an upload costs the server: CPU seconds of a real `rag serve` per `POST /v1/articles`, for
small files built to cost a lot (a gzip of ~1 MB that expands to hundreds of MB of blank lines,
of spaces, of one-character lines), beside an upload of 400 real articles (0.03 MB gzipped).

Starts `rag serve` on 127.0.0.1 (a fresh store of the seed articles), sends each file `--rounds`
times and reads the server's CPU time from /proc before and after each; prints the median CPU
seconds and status per file, and each flood's cost as a share of the real upload's; writes
bench/results/upload_cost.json.

    python -m bench.upload_cost [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import write_result
from bench.serve import start_server, wait_ready
from tests.helpers.processes import stop_process as stop


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def files() -> dict[str, bytes]:
    articles = "\n".join(
        json.dumps(
            {
                "id": f"bench-{i}",
                "title": f"Council report {i}",
                "published": "2025-06-01",
                "text": "\n\n".join(
                    f"The council's report {i} on road {j} says repairs start in {2025 + j % 3}."
                    for j in range(25)
                ),
            }
        )
        for i in range(400)
    )
    return {
        "blank lines (newlines)": gzip.compress(b"\n" * 1_000_000_000, 9),
        "blank lines (spaces)": gzip.compress(b"   \n" * 150_000_000, 9),
        "one-character lines": gzip.compress(b"x\n" * 300_000_000, 9),
        "400 real articles": gzip.compress(articles.encode(), 9),
    }


async def run(rounds: int) -> dict[str, Any]:
    import httpx

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-upload-") as tmp:
        proc, url, log = start_server(Path(tmp), "extractive", 0)
        try:
            await wait_ready(url, proc, log, timeout=300)
            async with httpx.AsyncClient(timeout=600) as client:
                for name, data in files().items():
                    costs, statuses = [], set()
                    for n in range(rounds):
                        before = cpu_seconds(proc.pid)
                        r = await client.post(
                            url + "/v1/articles?replace=true",
                            files={"files": (f"upload-{n}.jsonl.gz", data)},
                        )
                        costs.append(cpu_seconds(proc.pid) - before)
                        statuses.add(r.status_code)
                    out[name] = {
                        "gzip_bytes": len(data),
                        "cpu_s_median": round(statistics.median(costs), 2),
                        "statuses": sorted(statuses),
                    }
        finally:
            stop(proc)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="uploads of each file")
    args = ap.parse_args()
    result = asyncio.run(run(args.rounds))
    real = result["400 real articles"]["cpu_s_median"] or 1e-9
    for name, r in result.items():
        print(
            f"{name:24s} {r['gzip_bytes'] / 1e6:5.2f} MB gzip  server CPU {r['cpu_s_median']:6.2f} s "
            f"({r['cpu_s_median'] / real:5.2f}x the real upload)  status {r['statuses']}"
        )
    print(f"written to {write_result('upload_cost', {'rounds': args.rounds, 'files': result})}")


if __name__ == "__main__":
    main()
