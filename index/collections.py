"""The collections of one store folder (or Chroma server): each its own archive, with its own
chunks, ledger, lexical index and entity table (`rag.store.layout.Layout` names their files).

`rag collections list|create|delete` and `--collection NAME` on every command use these. A
collection is made by `create` or by the first `rag ingest --collection NAME`; `delete` takes
the writers' turn of that collection and the files lock of the store, so no writer or reader is
half-way through it, and removes its chunks and every file that belongs to it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from filelock import Timeout

from rag.errors import BusyError, IndexMissingError, RagError
from rag.settings import Settings, on_collection
from rag.store.chroma import Store
from rag.store.keys import KeyRing
from rag.store.layout import Layout
from rag.store.ledger import Ledger, ledger_path, writers_lock

WAIT_SECONDS = 10.0  # for a writer of the collection to finish before `delete` gives up


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    chunks: int
    articles: int | None  # None: no ledger here (written from another machine)


def _client(settings: Settings) -> Store | None:
    """The store's client, on no collection (None: no store in the folder yet)."""
    if not settings.store.host and not Layout.of(settings).chroma.exists():
        return None
    return Store(settings.store, verify=False, collection=False)


def list_collections(settings: Settings) -> list[CollectionInfo]:
    """Every collection of the store, by name, with its chunk and article counts."""
    store = _client(settings)
    if store is None:
        return []
    try:
        found = []
        for col in store.client.list_collections():
            name = col if isinstance(col, str) else col.name
            chunks = int(store.client.get_collection(name, embedding_function=None).count())
            found.append(CollectionInfo(name, chunks, _articles(on_collection(settings, name))))
        return sorted(found, key=lambda c: c.name)
    finally:
        store.release()


def _articles(settings: Settings) -> int | None:
    path = ledger_path(settings)
    if not path.exists():
        return None
    ledger = Ledger(path, read_only=True)
    try:
        return len(ledger)
    finally:
        ledger.close()


def require_collection(settings: Settings) -> None:
    """An error naming the collections there are unless the settings' one exists."""
    name = settings.store.collection
    known = [c.name for c in list_collections(settings)]
    if name not in known:
        raise IndexMissingError(
            f"no collection {name!r} in {_where(settings)} (there: {', '.join(known) or 'none'}); "
            "`rag collections create NAME` makes one"
        )


def create_collection(settings: Settings, name: str) -> CollectionInfo:
    """An empty collection `name`, ready to ingest into; an error if it exists already."""
    target = on_collection(settings, name)
    if any(c.name == name for c in list_collections(settings)):
        raise RagError(f"the collection {name!r} exists already in {_where(settings)}")
    store = Store(target.store, create=True, verify=False)
    store.release()
    return CollectionInfo(name, 0, None)


def delete_collection(settings: Settings, name: str) -> CollectionInfo:
    """Remove collection `name`: its chunks, ledger, lexical index and entity table. Waits up
    to WAIT_SECONDS for a writer of it to finish; what it held is returned."""
    target = on_collection(settings, name)
    known = {c.name: c for c in list_collections(settings)}
    if name not in known:
        names = ", ".join(sorted(known)) or "none"
        raise IndexMissingError(
            f"no collection {name!r} in {_where(settings)} (there: {names}); "
            "`rag collections list` shows them"
        )
    lock = writers_lock(target)
    try:
        lock.acquire(timeout=WAIT_SECONDS)
    except Timeout:
        raise BusyError(
            f"a writer is at work on the collection {name!r}; try again when it is done"
        ) from None
    try:
        store = Store(target.store, verify=False)
        try:
            with store.writing():
                store.client.delete_collection(name)
        finally:
            store.release()
        layout = Layout.of(target)
        for path in (layout.ledger, layout.entities, layout.entities_lock):
            for part in path.parent.glob(path.name + "*"):
                if part != layout.writers_lock:
                    part.unlink(missing_ok=True)
        shutil.rmtree(layout.bm25, ignore_errors=True)
        for extra in layout.bm25.parent.glob(f"{layout.name}.*"):
            extra.unlink(missing_ok=True)
        KeyRing(layout.keys).revoke_collection(name)  # a new one of that name opens to none
    finally:
        lock.release()
    Path(layout.writers_lock).unlink(missing_ok=True)
    return known[name]


def _where(settings: Settings) -> str:
    store = settings.store
    return f"the Chroma server {store.host}:{store.port}" if store.host else str(store.path)
