"""Work on a store done by a separate process beside whoever asked for it: the BM25 rebuild after
an ingest, the tagging of named entities in new sentences.

`run_aside(settings, job)` starts `python -m <the module of job>` (the `main` of a module in
`rag.jobs`, which runs it when the module is run) on the store the settings name (passed to it in
the environment), its output appended to a log file beside the store. A server keeps answering
meanwhile and picks the result up when it is saved. Nothing here knows what the job does; each
job locks its store itself so that one runs at a time.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from rag.settings import Settings
from rag.store.layout import Layout

log = logging.getLogger(__name__)


def run_aside(
    settings: Settings, job: Callable[[], int], what: str, *, wait: bool = False
) -> Path | None:
    """Start `job` (a module's `main`, run as `python -m` that module) on the store of
    `settings`; its log's path, or None when the
    store's folder cannot be written (a read-only store). `wait`: until it ends (its memory is
    its own, not added to the caller's); else it outlives a short-lived caller such as `rag
    ingest`."""
    s = settings.store
    env = os.environ | {"RAG_STORE__PATH": str(s.path), "RAG_STORE__COLLECTION": s.collection}
    env.pop("RAG_STORE__HOST", None)
    if s.host:  # the vectors are on a Chroma server
        env |= {"RAG_STORE__HOST": s.host, "RAG_STORE__PORT": str(s.port)}
    path = Layout.of(settings).job_log(what)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        out = path.open("ab")
    except OSError as exc:
        log.warning("cannot run %s for %s (%s)", job.__module__, s.path, exc)
        return None
    with out:
        proc = subprocess.Popen(
            [sys.executable, "-m", job.__module__],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=not wait,
        )
    if wait:
        proc.wait()
    return path
