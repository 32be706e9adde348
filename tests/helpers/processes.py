"""Processes the tests (and the benchmarks) start and stop: a free port, a real `chroma run`
server, a process's children. Plain functions of the standard library and chromadb: importing
this module sets nothing up (the benchmarks import it without the tests' fixtures)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM, then SIGKILL if the process has not ended after `timeout` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start_chroma(
    path: Path, log: Path, timeout: float = 120
) -> tuple[subprocess.Popen[bytes], int]:
    """A real `chroma run` server on 127.0.0.1 over `path`, once it answers: (process, port)."""
    import chromadb

    port = free_port()
    exe = str(Path(sys.executable).parent / "chroma")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [exe, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.time() + timeout
    while True:
        try:
            chromadb.HttpClient(host="127.0.0.1", port=port).heartbeat()
            return proc, port
        except Exception:
            if proc.poll() is not None or time.time() > deadline:
                stop_process(proc)
                raise RuntimeError(
                    f"chroma run did not start:\n{log.read_text()[-2000:]}"
                ) from None
            time.sleep(0.3)


def state(pid: int) -> str:
    """A process's state letter from /proc (`Z`: a zombie); "" when it is gone."""
    try:
        return (Path(f"/proc/{pid}") / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def zombies(pid: int) -> list[int]:
    """The children of `pid` that ended and were never waited for."""
    return [child for child in children(pid) if state(child) == "Z"]


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if (
                entry.name.isdigit()
                and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid
            ):
                found.append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    return found
