"""Work on a store done by a separate process beside whoever asked for it: the BM25 rebuild after
an ingest, the tagging of named entities in new sentences.

`run_aside(settings, job)` starts `python -m <the module of job>` (the `main` of a module in
`rag.jobs`, which runs it when the module is run) on the store the settings name (passed to it in
the environment), its output appended to a log file beside the store. A server keeps answering
meanwhile and picks the result up when it is saved. Nothing here knows what the job does.

One process per job and store, however many writes ask for it: a write leaves a request (a
`.pending` file beside the job's lock) and starts the job only when no process holds the lock;
the job (`run_locked`) does its work again for as long as requests came in meanwhile, so the
last write is always covered. (Each write started its own process, which loaded the whole
pipeline before finding the lock taken: five at once under a stream of uploads.) A started
process is waited for by a thread of the caller's, so none is left a zombie.
"""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from rag.settings import Settings
from rag.store.layout import Layout

log = logging.getLogger(__name__)


def pending(lock: Path) -> Path:
    """The request for another run of the job that holds `lock`."""
    return lock.with_name(lock.name + ".pending")


LOCK_FD = "RAG_JOB_LOCK_FD"  # the job's lock, taken by the process that started it


def run_locked(lock: Path, work: Callable[[], None]) -> bool:
    """Run `work` holding `lock`, again as long as a request came in meanwhile; False (and
    nothing done) when another process holds the lock: that one will see the request. A job
    started by `run_aside` is handed the lock already taken (no second job can slip in while
    this one starts)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    asked = pending(lock)
    handed = os.environ.pop(LOCK_FD, None)
    while True:
        f = os.fdopen(int(handed), "a") if handed else lock.open("a")
        with f:
            if not handed:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    log.info("another process is doing this work for this store")
                    return False
            handed = None
            while True:
                asked.unlink(missing_ok=True)
                work()
                if not asked.exists():
                    break
        if not asked.exists():  # looked at again once let go: a request made meanwhile is done
            return True


def run_aside(
    settings: Settings,
    job: Callable[[], int],
    what: str,
    lock: Path,
    *,
    wait: bool = False,
) -> Path | None:
    """Ask for `job` (a module's `main`, run as `python -m` that module, taking `lock` with
    `run_locked`) on the store of `settings`: started unless a process is at it already (which
    then runs it again); its log's path, or None when the store's folder cannot be written (a
    read-only store). `wait`: started and waited for (its memory is its own, not added to the
    caller's); else it outlives a short-lived caller such as `rag ingest`."""
    s = settings.store
    env = os.environ | {"RAG_STORE__PATH": str(s.path), "RAG_STORE__COLLECTION": s.collection}
    env.pop("RAG_STORE__HOST", None)
    if s.host:  # the vectors are on a Chroma server
        env |= {"RAG_STORE__HOST": s.host, "RAG_STORE__PORT": str(s.port)}
    path = Layout.of(settings).job_log(what)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        pending(lock).touch()
        taken = lock.open("a")
        try:
            # blocking when waited for: the build under way ends first, then this one runs
            fcntl.flock(taken, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            taken.close()
            return path  # the process at it runs it again
        out = path.open("ab")
    except OSError as exc:
        log.warning("cannot run %s for %s (%s)", job.__module__, s.path, exc)
        return None
    with out, taken:  # the job holds the lock from here (the same open file, inherited)
        proc = subprocess.Popen(
            [sys.executable, "-m", job.__module__],
            env=env | {LOCK_FD: str(taken.fileno())},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=not wait,
            pass_fds=(taken.fileno(),),
        )
    if wait:
        proc.wait()
    else:  # reaped when it ends, so that it leaves no zombie behind a long-lived server
        threading.Thread(target=proc.wait, name=f"reap-{what}", daemon=True).start()
    return path
