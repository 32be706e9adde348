"""A job for `rag.store.aside` tests: each run of its work takes a second and writes a line
(`<pid> start` / `<pid> end`) to the file RAG_TEST_JOB_OUT names, under the lock
RAG_TEST_JOB_LOCK names (`python -m tests.helpers.slow_job`)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from rag.store.aside import run_locked


def main() -> int:
    out = Path(os.environ["RAG_TEST_JOB_OUT"])

    def work() -> None:
        with out.open("a") as f:
            f.write(f"{os.getpid()} start\n")
        time.sleep(1.0)
        with out.open("a") as f:
            f.write(f"{os.getpid()} end\n")

    run_locked(Path(os.environ["RAG_TEST_JOB_LOCK"]), work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
