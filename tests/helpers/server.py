"""A real `rag serve` process for the tests that need one: started on a free port on 127.0.0.1 on a
copy of the session's seeded store (or on none), waited for, stopped."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from rag.settings import Settings
from tests.conftest import ROOT, SEEDS
from tests.helpers.processes import free_port

QUESTION = "What did Hegseth say about 5%?"


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def api(self) -> str:
        return self.url + "/v1"

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def launch(
    seeded: Settings | None,
    workdir: Path,
    *,
    empty: bool = False,
    args: Sequence[str] = (),
    **env: str,
) -> Server:
    """Start `python -m ui.cli serve` on a free port, in `workdir`, on a copy of the seeded store
    (or, with `empty`, on no store at all, with seeds/ in the working directory)."""
    store = workdir / "store"
    if empty:
        shutil.copytree(SEEDS, workdir / "seeds")
    else:
        assert seeded is not None, "a store to copy, or empty=True"
        shutil.copytree(seeded.store.path, store)
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    environ.pop("OPENAI_API_KEY", None)
    environ.update(
        RAG_STORE__PATH=str(store),
        RAG_LLM__BACKEND="extractive",
        PYTHONPATH=str(ROOT),
        **env,
    )
    cmd = [sys.executable, "-m", "ui.cli", "serve", "--port", str(port), *args]
    log = workdir / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=workdir, env=environ, stdout=out, stderr=subprocess.STDOUT)
    return Server(f"http://127.0.0.1:{port}", proc, log)


def wait_ready(server: Server, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"the server exited:\n{server.output()}")
        try:
            if httpx.get(server.api + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop(server)
    raise RuntimeError(f"the server did not start in {timeout}s:\n{server.output()}")


def stop(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(15)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


def post(server: Server, path: str, body: Any, **kw: Any) -> httpx.Response:
    return httpx.post(server.api + path, json=body, timeout=60, **kw)
