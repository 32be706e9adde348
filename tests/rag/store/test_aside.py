"""`rag.store.aside`: one process per job and store however many writes ask for it, the last
request always covered, and no process left a zombie (issue 39, finding 9: five index rebuilds
at once and zombies under a stream of uploads)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from rag.store.aside import run_aside
from tests.conftest import make_settings
from tests.helpers import slow_job
from tests.helpers.processes import zombies


@pytest.mark.subprocess
def test_many_requests_make_one_process_that_runs_until_none_is_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, lock = tmp_path / "runs.txt", tmp_path / "store" / "job.lock"
    monkeypatch.setenv("RAG_TEST_JOB_OUT", str(out))
    monkeypatch.setenv("RAG_TEST_JOB_LOCK", str(lock))
    settings = make_settings(tmp_path / "store")
    run_aside(settings, slow_job.main, "test", lock)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (out.exists() and out.read_text()):
        time.sleep(0.05)
    for _ in range(5):  # writes arriving while the first run is under way
        run_aside(settings, slow_job.main, "test", lock)
        time.sleep(0.05)
    while time.monotonic() < deadline:
        lines = out.read_text().splitlines() if out.exists() else []
        if lines and lines[-1].endswith("end") and not lock.with_name("job.lock.pending").exists():
            time.sleep(1.5)  # a run that would still start has started by now
            if out.read_text().splitlines() == lines:
                break
        time.sleep(0.2)
    lines = out.read_text().splitlines()
    pids = {line.split()[0] for line in lines}
    assert len(pids) == 1, lines  # one process did all the work
    runs = sum(line.endswith("start") for line in lines)
    assert runs == 2, lines  # the first request, then all those that came meanwhile, at once
    assert lines[-1].endswith("end")
    time.sleep(0.5)
    assert zombies(os.getpid()) == []
