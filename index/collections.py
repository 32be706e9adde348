"""The collections of one store folder (or Chroma server): each its own archive, with its own
chunks, ledger, lexical index and entity table (`rag.store.layout.Layout` names their files).

`rag collections list|create|set|delete` and `--collection NAME` on every command use these. A
collection is made by `create` or by the first `rag ingest --collection NAME`; `delete` takes
the writers' turn of that collection and the files lock of the store, so no writer or reader is
half-way through it, and removes its chunks and every file that belongs to it.

A collection can keep settings of its own (`OWN_SETTINGS`: today its default answer backend, so
that a private desk's articles stay with the extractive reader whatever the server's default):
`with_own_settings` lays them over the environment's wherever a collection's settings are made.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import Timeout
from pydantic import ValidationError

from rag.errors import BusyError, ConfigError, IndexMissingError, RagError
from rag.settings import ANSWER_BACKENDS, Settings, StoreSettings, on_collection
from rag.store.chroma import Store
from rag.store.keys import key_ring
from rag.store.layout import Layout
from rag.store.ledger import read_ledger, server_url, writers_lock
from rag.store.postgres import drop_collection, shown

WAIT_SECONDS = 10.0  # for a writer of the collection to finish before `delete` gives up


# what a collection may set for itself: option -> the settings field it sets
OWN_SETTINGS = {"backend": ("llm", "backend")}


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    chunks: int
    articles: int | None  # None: no ledger here (written from another machine)
    own: dict[str, str] | None = None  # its own settings (`rag collections set`)


def own_settings(settings: Settings) -> dict[str, str]:
    """The settings collection `settings.store.collection` keeps for itself ({} when none)."""
    path = Layout.of(settings).own_settings
    try:
        found = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} cannot be read ({exc}): fix it or remove it") from None
    if not isinstance(found, dict):
        raise ConfigError(f"{path} is not a JSON object: fix it or remove it")
    return {k: str(v) for k, v in found.items() if k in OWN_SETTINGS}


def with_own_settings(settings: Settings) -> Settings:
    """`settings` with the collection's own settings laid over them (they win over the
    environment's: a collection set to the extractive reader stays with it)."""
    own = own_settings(settings)
    if not own:
        return settings
    data: dict[str, Any] = settings.model_dump()
    for option, value in own.items():
        section, field = OWN_SETTINGS[option]
        data[section][field] = value
    try:
        return type(settings).model_validate(data)
    except ValidationError as exc:
        path = Layout.of(settings).own_settings
        raise ConfigError(f"{path}: {exc.errors()[0]['msg']}; fix it or remove it") from None


def set_own_settings(settings: Settings, name: str, **values: str | None) -> dict[str, str]:
    """Set (or, with None, clear) settings of collection `name`; what it keeps now."""
    target = on_collection(settings, name)
    require_collection(target)
    own = own_settings(target)
    for option, value in values.items():
        if option not in OWN_SETTINGS:
            raise ConfigError(f"a collection has no setting {option!r}: {', '.join(OWN_SETTINGS)}")
        if value is None:
            own.pop(option, None)
        elif option == "backend" and value not in ANSWER_BACKENDS:
            raise ConfigError(f"{value!r} is no answer backend: {', '.join(ANSWER_BACKENDS)}")
        else:
            own[option] = value
    path = Layout.of(target).own_settings
    if own:
        path.write_text(json.dumps(own, indent=2) + "\n")
    else:
        path.unlink(missing_ok=True)
    return own


def _client(settings: Settings) -> Store | None:
    """The store's client, on no collection (None: no store in the folder yet)."""
    if not settings.store.host and not Layout.of(settings).chroma.exists():
        return None
    return Store(settings.store, verify=False, collection=False)


def collection_names(settings: Settings, *, forget: bool = True) -> list[str]:
    """The names of the store's collections, sorted (nothing else is read). `forget=False`:
    leave the client chromadb shares in this process for the folder (a server's)."""
    store = _client(settings)
    if store is None:
        return []
    try:
        found = store.client.list_collections()
        return sorted(c if isinstance(c, str) else c.name for c in found)
    finally:
        store.release(forget=forget)


def _info(settings: Settings, name: str) -> CollectionInfo:
    """Collection `name` with its chunk and article counts and own settings."""
    target = on_collection(settings, name)
    store = Store(target.store, verify=False)
    try:
        chunks = store.count()
    finally:
        store.release(forget=False)  # the next collection's reuses the client
    return CollectionInfo(name, chunks, _articles(target), own_settings(target))


def list_collections(settings: Settings) -> list[CollectionInfo]:
    """Every collection of the store, by name, with its chunk and article counts."""
    return [_info(settings, name) for name in collection_names(settings)]


def _articles(settings: Settings) -> int | None:
    ledger = read_ledger(settings)
    if ledger is None:
        return None
    try:
        return len(ledger)
    finally:
        ledger.close()


def require_collection(settings: Settings) -> None:
    """An error naming the collections there are unless the settings' one exists."""
    name = settings.store.collection
    known = collection_names(settings)
    if name not in known:
        raise IndexMissingError(
            f"no collection {name!r} in {_where(settings)} (there: {', '.join(known) or 'none'}); "
            "`rag collections create NAME` makes one"
        )


def create_collection(settings: Settings, name: str) -> CollectionInfo:
    """An empty collection `name`, ready to ingest into; an error if it exists already."""
    target = on_collection(settings, name)
    if name in collection_names(settings):
        raise RagError(f"the collection {name!r} exists already in {_where(settings)}")
    store = Store(target.store, create=True, verify=False)
    store.release()
    return CollectionInfo(name, 0, None)


def delete_collection(settings: Settings, name: str) -> CollectionInfo:
    """Remove collection `name`: its chunks, ledger, lexical index and entity table. Waits up
    to WAIT_SECONDS for a writer of it to finish; what it held is returned."""
    target = on_collection(settings, name)
    known = collection_names(settings)
    if name not in known:
        names = ", ".join(known) or "none"
        raise IndexMissingError(
            f"no collection {name!r} in {_where(settings)} (there: {names}); "
            "`rag collections list` shows them"
        )
    held = _info(settings, name)
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
        url = server_url(target)
        if url is not None:  # its books on the server: the schema and all in it
            drop_collection(url, name)
        layout = Layout.of(target)
        layout.own_settings.unlink(missing_ok=True)
        for path in (layout.ledger, layout.chunk_records, layout.entities, layout.entities_lock):
            for part in path.parent.glob(path.name + "*"):
                if part != layout.writers_lock:
                    part.unlink(missing_ok=True)
        shutil.rmtree(layout.bm25, ignore_errors=True)
        for extra in layout.bm25.parent.glob(f"{layout.name}.*"):
            extra.unlink(missing_ok=True)
        key_ring(target).revoke_collection(name)  # a new one of that name opens to none
    finally:
        lock.release()
    Path(layout.writers_lock).unlink(missing_ok=True)
    return held


def _where(settings: Settings) -> str:
    return place(settings.store)


def place(store: StoreSettings) -> str:
    """Where a store's collections are, in words (a server's password never shown)."""

    chunks = f"the Chroma server {store.host}:{store.port}" if store.host else str(store.path)
    if store.url is None:
        return chunks
    return f"{chunks}, books on {shown(store.url.get_secret_value())}"


def where(store: StoreSettings) -> str:
    """A store's collection in words: `'news' in store`, or on its servers."""
    return f"{store.collection!r} in {place(store)}"
