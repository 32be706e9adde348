"""Open the Chroma collection (embedded folder or `chroma run` server) and guard its embedding model.

The collection's metadata records which embedding model built it and the vectors' dimension;
opening it with another model raises `EmbeddingMismatchError` that says how to rebuild, instead of
silently returning nonsense. Chroma never embeds anything itself: every vector comes from our
embedding model (Chroma's default embedding function would download a model). This module also
reads chunk records back in pages (for BM25 and the article list); it does not chunk or rank.
"""

from __future__ import annotations

import atexit
import ctypes
import errno
import fcntl
import gc
import hashlib
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tenacity import retry, retry_if_result, stop_after_attempt, wait_fixed

from rag.errors import (
    ConfigError,
    EmbeddingMismatchError,
    IndexMissingError,
    StoreDamagedError,
    StoreFullError,
    StoreReadOnlyError,
)
from rag.schema import ARTICLE_ID
from rag.settings import StoreSettings
from rag.store.layout import Layout

log = logging.getLogger(__name__)
PAGE = 2000


@dataclass
class ChunkRecord:
    id: str
    text: str
    metadata: dict[str, Any]


# held while an embedded client is made: two threads opening one folder afresh at once (a
# writer's and a question's refresh) tore down each other's half-made chromadb system
_OPENING = threading.Lock()


_HELD = threading.local()  # the lock files this thread holds, and how


class FilesLock:
    """Embedded Chroma's files, shared by every process and thread on the folder.

    A client loads the vector index from these files when it is opened (and first searched),
    and a writer rewrites them: a load that meets a write half done crashed the whole process
    inside chromadb's native code (a segmentation fault under `bench/stress.py`, with a server
    refreshing while `rag ingest` wrote). So a client is opened and loaded holding this lock
    shared, and each write holds it exclusive (an `flock` on `Layout.chroma_lock`, which
    separate opens make work between threads too). A thread that holds it exclusive may open
    and release clients under it. In a folder nobody may write to, there is nothing to lock."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._taken(fcntl.LOCK_SH):
            yield

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._taken(fcntl.LOCK_EX):
            yield

    @contextmanager
    def _taken(self, mode: int) -> Iterator[None]:
        held: dict[str, int] = _HELD.__dict__.setdefault("modes", {})
        key = str(self.path)
        mine = held.get(key)
        if mine == fcntl.LOCK_EX or (mine == fcntl.LOCK_SH and mode == fcntl.LOCK_SH):
            yield  # this thread holds it already
            return
        if mine is not None:
            raise RuntimeError(f"{self.path} is held shared by this thread: it cannot write")
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            fd = -1  # a read-only folder: no writer there
        try:
            if fd >= 0:
                fcntl.flock(fd, mode)
            held[key] = mode
            yield
        finally:
            held.pop(key, None)
            if fd >= 0:
                os.close(fd)  # and with it the lock


def files_lock(cfg: StoreSettings) -> FilesLock:
    """The lock on the embedded Chroma files `cfg` names (see `FilesLock`)."""
    return FilesLock(Layout.of(cfg).chroma_lock)


def _give_back_memory() -> None:
    """Hand the memory a released vector index held back to the system (glibc keeps it)."""
    gc.collect()
    with suppress(OSError, AttributeError):  # another C library keeps what it keeps
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _forget_client(identifier: str) -> None:
    """The next `PersistentClient` for this folder in this process starts anew (chromadb keeps
    one shared system per folder and process)."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient._identifier_to_system.pop(identifier, None)
    SharedSystemClient._identifier_to_refcount.pop(identifier, None)


@retry(
    retry=retry_if_result(bool),
    stop=stop_after_attempt(5),
    wait=wait_fixed(0.25),
    retry_error_callback=lambda state: state.outcome.result() if state.outcome else [],
)
def _damage(chroma_dir: Path, layout: Layout, collection: str) -> list[str]:
    """What is damaged, looked at again for a second before it is believed: a vector index file
    that Chroma is flushing in the background (a write just ended) can be empty for a moment,
    and uploads one after another were refused as "damaged" (found by schemathesis)."""
    from rag.store.hnsw_check import damaged

    return damaged(chroma_dir, collection, remember=layout.hnsw_verified)


def _refuse_damaged(chroma_dir: Path, layout: Layout, collection: str) -> None:
    problems = _damage(chroma_dir, layout, collection)
    if problems:
        raise StoreDamagedError(
            f"the vector index in {chroma_dir} is damaged ({'; '.join(problems)}); nothing was "
            "read from it. `rag check --repair` rebuilds it from the ingestion ledger (or "
            "`rag ingest --rebuild DIR` from the article files)"
        )


def _writable(path: Path) -> bool:
    files = [path, *path.glob("*.sqlite3")]
    return all(os.access(p, os.W_OK) for p in files)


def _read_only_copy(path: Path) -> Path:
    """A private copy of a read-only embedded store, removed when the process ends."""
    tmp = Path(tempfile.mkdtemp(prefix="rag-read-only-store-"))
    atexit.register(shutil.rmtree, tmp, True)
    log.warning("the index at %s is read-only: searching a copy of it in %s", path, tmp)
    shutil.copytree(path, tmp / "chroma")
    return tmp / "chroma"


def fingerprint_of(ids: Iterable[str]) -> str:
    """A name for a set of chunks that changes whenever one is added or removed (chunk ids are
    derived from their article's content: `rag.passages.chunk_id`)."""
    ordered = sorted(ids)
    digest = hashlib.sha1("".join(f"{cid}\n" for cid in ordered).encode()).hexdigest()
    return f"{len(ordered)}-{digest[:16]}"


class Store:
    """One Chroma collection plus the llama-index vector store wrapping it."""

    read_only: bool = False
    _files: FilesLock | None = None  # embedded stores only
    collection: Any  # chromadb's Collection (None when opened with collection=False)

    def __init__(
        self,
        cfg: StoreSettings,
        *,
        create: bool = False,
        verify: bool | None = None,
        fresh: bool = False,
        collection: bool = True,
        load: bool = True,
    ) -> None:
        """`verify`: check the vector index files before Chroma loads them (True: do, as a
        writer holding the lock; None: do unless a writer is busy with them; False: don't, and
        leave the vector index unloaded until searched).
        `fresh`: a new embedded client that reads the index from disk, not the one this process
        already holds in memory (which misses what another process wrote since; writing through
        it would overwrite that process's vectors).
        `collection=False`: the client alone, for the folder's (or server's) collections.
        `load=False`: checked as `verify` says, but its vector index left for the first search
        to load (or for another `Store` of the same folder that loads it meanwhile, as a
        starting server's does)."""
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        self.cfg = cfg
        load = load and verify is not False  # (a store `rag check` looks at may be damaged)
        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        if cfg.host:
            try:
                self.client = chromadb.HttpClient(
                    host=cfg.host, port=cfg.port, settings=chroma_settings
                )
                self.client.heartbeat()
            except Exception as exc:  # chromadb raises several kinds here
                raise ConfigError(
                    f"cannot reach the Chroma server at {cfg.host}:{cfg.port} ({exc}); start it with "
                    f"`chroma run --path DIR --host {cfg.host} --port {cfg.port}` or unset RAG_STORE__HOST"
                ) from None
            self.where = f"chroma server {cfg.host}:{cfg.port}, collection {cfg.collection}"
        else:
            path = Layout.of(cfg).chroma
            if not create and not path.exists():
                raise IndexMissingError(
                    f"no index at {path}: run `rag ingest seeds/` (or your articles) first"
                )
            self.where = f"{path}, collection {cfg.collection}"
            if verify is None and path.exists():
                from rag.store.ledger import writer_active

                verify = not writer_active(cfg)
            if verify and path.exists():
                _refuse_damaged(path, Layout.of(cfg), cfg.collection)
            self.read_only = path.exists() and not _writable(path)
            if self.read_only:
                if create:
                    raise StoreReadOnlyError(
                        f"the index at {path} is read-only: nothing can be added to it; "
                        "make the folder writable, or point RAG_STORE__PATH at a writable copy"
                    )
                # embedded Chroma writes to its SQLite file even to read: read a copy
                path = _read_only_copy(path)
                self.where += f" (read-only; searched from a copy in {path})"
            path.mkdir(parents=True, exist_ok=True)
            self._files = FilesLock(Layout.of(cfg).chroma_lock)
            # opened and its vector index loaded while no writer changes the files
            with self._files.shared():
                with _OPENING:  # chromadb's shared system per folder is not safe to make at once
                    if fresh:
                        _forget_client(str(path))
                    self.client = chromadb.PersistentClient(
                        path=str(path), settings=chroma_settings
                    )
                self.collection = self._open(create) if collection else None
                if load and collection:
                    self._load_index()
            return
        self._files = None
        self.collection = self._open(create) if collection else None

    def _load_index(self) -> None:
        """Have Chroma load the vector index now (it does on the first search otherwise)."""
        dim = (self.collection.metadata or {}).get("embed_dim")
        if isinstance(dim, int) and dim > 0:
            try:
                self.collection.query(query_embeddings=[[1.0] + [0.0] * (dim - 1)], n_results=1)
            except Exception as exc:  # chromadb raises many kinds; the first search will say
                log.debug("the vector index was not loaded ahead: %s", exc)

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Held around every change to an embedded store's files (see `FilesLock`)."""
        if self._files is None:
            yield
            return
        with self._files.exclusive():
            yield

    def _open(self, create: bool) -> Any:
        if create:
            return self.client.get_or_create_collection(
                self.cfg.collection, metadata={"hnsw:space": "cosine"}, embedding_function=None
            )
        try:
            return self.client.get_collection(self.cfg.collection, embedding_function=None)
        except Exception:
            raise IndexMissingError(
                f"no collection {self.cfg.collection!r} in {self.where}: run `rag ingest seeds/` first"
            ) from None

    # --- the embedding model guard -------------------------------------------------------------
    def model_name(self) -> str | None:
        """The embedding model recorded when the collection was first written to."""
        return (self.collection.metadata or {}).get("embed_model")

    def check_model(self, model_name: str, dim: int | None = None, *, claim: bool = False) -> None:
        """Fail if the collection was built with another model; record ours if it has none yet."""
        meta = dict(self.collection.metadata or {})
        built_with = meta.get("embed_model")
        if built_with and built_with != model_name:
            raise EmbeddingMismatchError(
                f"the index {self.where} was built with the embedding model {built_with!r}, but "
                f"{model_name!r} is configured. Either set RAG_EMBED__BACKEND/RAG_EMBED__MODEL back, "
                f"or rebuild: `rag ingest --rebuild PATH…` (or use another RAG_STORE__COLLECTION)."
            )
        if built_with and dim and meta.get("embed_dim") not in (None, dim):
            raise EmbeddingMismatchError(
                f"the index {self.where} holds {meta.get('embed_dim')}-dimensional vectors, the "
                f"model gives {dim}: rebuild with `rag ingest --rebuild PATH…`"
            )
        if claim and not built_with:
            meta = {k: v for k, v in meta.items() if not k.startswith("hnsw:")}  # not modifiable
            meta["embed_model"] = model_name
            if dim:
                meta["embed_dim"] = dim
            with self.writing():
                self.collection.modify(metadata=meta)

    def reset(self) -> None:
        """Drop the collection and make it anew (for --rebuild)."""
        with self.writing():
            try:
                self.client.delete_collection(self.cfg.collection)
            except Exception:
                log.debug("no collection to delete")
            self.collection = self._open(create=True)

    # --- reading back ---------------------------------------------------------------------------
    def count(self) -> int:
        return int(self.collection.count())

    def records(self, *, documents: bool = True) -> Iterator[ChunkRecord]:
        """Every chunk (text and metadata), in pages so memory stays flat on the server side."""
        include = ["metadatas", "documents"] if documents else ["metadatas"]
        offset = 0
        while True:
            page = self.collection.get(include=include, limit=PAGE, offset=offset)
            ids = page["ids"]
            if not ids:
                return
            docs = page.get("documents") or [""] * len(ids)
            for cid, text, meta in zip(ids, docs, page["metadatas"], strict=True):
                yield ChunkRecord(cid, text or "", dict(meta or {}))
            offset += len(ids)

    def ids(self) -> list[str]:
        """Every chunk id (cheap: no metadata or text)."""
        ids: list[str] = []
        offset = 0
        while True:
            page = self.collection.get(include=[], limit=PAGE * 5, offset=offset)
            if not page["ids"]:
                return ids
            ids.extend(page["ids"])
            offset += len(page["ids"])

    def records_of(self, ids: Sequence[str]) -> Iterator[ChunkRecord]:
        """These chunks (text and metadata), in pages."""
        for at in range(0, len(ids), PAGE):
            page = self.collection.get(
                ids=list(ids[at : at + PAGE]), include=["metadatas", "documents"]
            )
            docs = page.get("documents") or [""] * len(page["ids"])
            for cid, text, meta in zip(page["ids"], docs, page["metadatas"], strict=True):
                yield ChunkRecord(cid, text or "", dict(meta or {}))

    def is_empty(self) -> bool:
        """No chunk at all (one row asked for: `count()` scans the whole collection)."""
        return not self.collection.get(limit=1, include=[])["ids"]

    # --- faults ----------------------------------------------------------------------------------
    def check_space(self, needed_bytes: int = 0) -> None:
        """Refuse to write (`StoreFullError`) when the disk under an embedded store has less
        than RAG_STORE__MIN_FREE_MB (plus what the write needs) free."""
        if self.cfg.host:
            return
        free = shutil.disk_usage(Path(self.cfg.path)).free
        floor = self.cfg.min_free_mb * 1024 * 1024 + needed_bytes
        if free < floor:
            raise StoreFullError(
                f"the disk under the index {self.cfg.path} has {free // 2**20} MB free, "
                f"{-(-floor // 2**20)} MB are needed (RAG_STORE__MIN_FREE_MB="
                f"{self.cfg.min_free_mb} plus this write): nothing was written; free space "
                "and send it again"
            )

    def disk_full(self, exc: BaseException) -> StoreFullError | None:
        """What to say of a store operation that failed on a full disk (`disk_full_error`)."""
        return disk_full_error(self.cfg, exc)

    def discard_client(self) -> None:
        """After a failed write, embedded Chroma's native client can block the next write (and
        with it the whole process, holding the GIL): later `Store`s in this process get a new
        client; this one keeps serving reads."""
        if not self.cfg.host:
            _forget_client(str(getattr(self.client, "_identifier", "")))

    def release(self, *, forget: bool = True) -> None:
        """Let go of the client and its collection, and with them embedded Chroma's loaded vector
        index (2.3 GB at 1.5M chunks), its threads and open files: for a process that reads
        nothing more through this `Store`. `forget=False`: the client chromadb shares in this
        process for the folder is left to a newer `Store` that opened it."""
        if not hasattr(self, "client"):
            return  # already released
        if forget:
            self.discard_client()
        held_index = self.collection is not None
        del self.client, self.collection  # a later use is an AttributeError, not a silent reload
        if held_index:  # (a client alone held no vector index: nothing to give back)
            _give_back_memory()

    # --- writing (the caller holds `writing()`) ---------------------------------------------------
    def add_chunks(
        self, chunks: Sequence[tuple[str, Sequence[float], dict[str, Any], str | None]]
    ) -> None:
        """Write chunks: (id, vector, metadata, text or None) each, in the batches the client
        takes. The metadata is what searches filter on and deletes find by, and no text, where
        the ledger keeps the chunks' records (`rag.store.record.filter_fields`); the whole
        record where it does not yet (an older store, until its next ingest fills it)."""
        step = max(1, int(self.client.get_max_batch_size()))
        for at in range(0, len(chunks), step):
            part = chunks[at : at + step]
            texts = [c[3] for c in part]
            self.collection.add(
                ids=[c[0] for c in part],
                embeddings=[list(c[1]) for c in part],
                metadatas=[c[2] for c in part],
                documents=None if all(t is None for t in texts) else [t or "" for t in texts],
            )

    def delete_articles(self, article_ids: Sequence[str]) -> None:
        """Remove every chunk of these articles (of stores of any age: each chunk carries its
        article's id under `article_id`)."""
        for at in range(0, len(article_ids), PAGE):
            self.collection.delete(where={ARTICLE_ID: {"$in": list(article_ids[at : at + PAGE])}})


NEARLY_FULL = 8 * 2**20  # bytes free under which a store failure is put down to the full disk


def refuse_nearly_full(cfg: StoreSettings) -> None:
    """`StoreFullError` when the disk under an embedded store has less than `NEARLY_FULL` free:
    Chroma writes as it reads (it first applies what a failed write left in its log), and on a
    full disk such a read waited for ever (`rag check` after an ingest ran out of space)."""
    if cfg.host:
        return
    try:
        free = shutil.disk_usage(Path(cfg.path)).free
    except OSError:
        return  # no store there yet: opening it says so
    if free < NEARLY_FULL:
        raise StoreFullError(
            f"the disk under the index {cfg.path} is full ({free // 1024} KB free): the store "
            "cannot be read safely; free space, then run the command again (`rag check "
            "--repair` mends what a write left)"
        )


def disk_full_error(cfg: StoreSettings, exc: BaseException) -> StoreFullError | None:
    """A `StoreFullError` saying what to do, when `exc` (from Chroma or SQLite) says the disk is
    full or the disk under an embedded store is nearly so: Chroma's messages often do not say
    ("Failed to apply logs to the metadata segment"). None for any other failure."""
    text = str(exc).lower()
    said = getattr(exc, "errno", None) == errno.ENOSPC or any(
        words in text for words in ("disk is full", "no space left")
    )
    if cfg.host and not said:
        return None
    try:
        free = shutil.disk_usage(Path(cfg.path)).free
    except OSError:
        free = None
    if not said and (free is None or free >= NEARLY_FULL):
        return None
    left = f" ({free // 1024} KB free)" if free is not None else ""
    return StoreFullError(
        f"the disk under the index {cfg.path} is full{left}: the store could not be read or "
        f"written ({type(exc).__name__}: {str(exc)[:200]}); free space, then run the command "
        "again (`rag check` shows what is there, `rag check --repair` mends what a write left)"
    )
