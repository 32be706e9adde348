"""Shared bits of the benchmark scripts: where the data is, memory, disk size, result files."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# the processes the benchmarks start are started as the tests start them
from tests.helpers.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "realtimeqa-2023"
RESULTS = ROOT / "bench" / "results"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dir_size_mb(path: Path) -> float:
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += (Path(dirpath) / f).stat().st_size
    return total / 1e6


def write_result(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {
        "bench": name,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        **result,
    }
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    return out


def serve_env(store: Path, backend: str = "extractive") -> dict[str, str]:
    """This environment without the developer's RAG_/OPENAI_ settings, on `store`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
    env.update(RAG_STORE__PATH=str(store), RAG_LLM__BACKEND=backend, PYTHONPATH=str(ROOT))
    return env


def start_serve(
    workdir: Path, env: dict[str, str], log_name: str = "server.log", args: Sequence[str] = ()
) -> tuple[subprocess.Popen[bytes], str, Path]:
    """A real `rag serve` on a free loopback port: (process, base URL, its log file)."""
    port = free_port()
    log = workdir / log_name
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ui.cli", "serve", "--port", str(port), *args],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc, f"http://127.0.0.1:{port}", log
