"""One transaction on a small SQLite file of the store folder (keys, feedback, conversations):
the folder made if need be, the schema applied, committed when the block ends, closed after."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

TIMEOUT = 10.0  # seconds a writer waits for another's transaction


@contextmanager
def transaction(path: Path, schema: str | None = None) -> Iterator[sqlite3.Connection]:
    """A connection to `path` in one transaction (its `schema` made first, when given)."""
    if schema is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path, timeout=TIMEOUT)) as db, db:
        if schema is not None:
            db.executescript(schema)
        yield db
