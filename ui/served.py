"""The collections one server answers from: the default one, built at start-up and always open,
and any other of the store's collections, opened on first use and closed when idle.

`Served.pipeline(name)` gives the pipeline of collection `name` (None: the default), building it
the first time (the embedding model, the answer processes and the settings are the server's;
the store, ledger, lexical index and entity table are the collection's own). A pipeline unused
for RAG_SERVER__COLLECTION_IDLE_SECONDS is closed (its vector index, lexical index and
catalogue let go), and beyond RAG_SERVER__MAX_OPEN_COLLECTIONS open ones the least recently used
idle one is closed first, so memory stays bounded however many collections the store holds. A
collection deleted while open is closed and answered as unknown. This module opens and closes
pipelines; it decides nothing about who may use them (`ui.api.access`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from index.collections import collection_names, with_own_settings
from rag.errors import IndexMissingError, RagError
from rag.pipeline import Pipeline, build
from rag.settings import Settings, on_collection

log = logging.getLogger(__name__)

MIN_IDLE_SECONDS = 30.0  # a pipeline used this recently is never closed (a stream may be reading)
NAMES_FRESH_SECONDS = 5.0  # the store's list of collections is read again after this long
MISS_FRESH_SECONDS = 1.0  # a name not in the list reads it again, at most this often


class NoSuchCollection(RagError):
    """The store has no collection of that name (or it may not be told to this caller)."""


@dataclass
class _Open:
    pipeline: Pipeline
    used: float = field(default_factory=time.monotonic)


class Served:
    """See the module's docstring."""

    def __init__(
        self,
        default: Pipeline,
        opener: Callable[[Settings], Pipeline] | None = None,
        *,
        base: Settings | None = None,
        idle_seconds: float | None = None,
        max_open: int | None = None,
    ) -> None:
        self.default = default
        # the environment's settings, which each other collection's own are laid over (the
        # default's pipeline may have its own in already)
        self.settings = base or default.settings
        self.default_name = default.settings.store.collection
        server = default.settings.server
        self.idle_seconds = (
            idle_seconds if idle_seconds is not None else server.collection_idle_seconds
        )
        self.max_open = max(max_open if max_open is not None else server.max_open_collections, 1)
        self._opener = opener or (lambda s: build(s, embed_model=default.embed_model))
        self._open: dict[str, _Open] = {}
        self._opening: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._names: tuple[float, frozenset[str]] | None = None
        self._closer: threading.Thread | None = None
        self._stop = threading.Event()

    # --- which collections there are ----------------------------------------------------------
    def names(self, *, fresh: bool = False) -> frozenset[str]:
        """The store's collections, read again every NAMES_FRESH_SECONDS (`fresh`: every
        MISS_FRESH_SECONDS, for a name not found: one made a moment ago is seen, and unknown
        names asked in a loop cost one listing a second)."""
        now = time.monotonic()
        with self._lock:
            cached = self._names
        fresh_for = MISS_FRESH_SECONDS if fresh else NAMES_FRESH_SECONDS
        if cached is not None and now - cached[0] < fresh_for:
            return cached[1]
        names = frozenset(collection_names(self.settings, forget=False)) | {self.default_name}
        with self._lock:
            self._names = (now, names)
        return names

    def exists(self, name: str) -> bool:
        return name == self.default_name or name in self.names()

    def open_names(self) -> list[str]:
        with self._lock:
            return sorted(self._open)

    # --- a collection's pipeline -----------------------------------------------------------------
    def pipeline(self, name: str | None = None) -> Pipeline:
        """The pipeline of collection `name` (None: the default), opened if need be.
        NoSuchCollection when the store has none of that name."""
        if name is None or name == self.default_name:
            return self.default
        with self._lock:
            held = self._open.get(name)
            if held is not None:
                held.used = time.monotonic()
        if held is not None:
            if name in self.names():
                return held.pipeline
            self._close(name)  # deleted while open
            raise self._unknown(name)
        if name not in self.names(fresh=True):
            raise self._unknown(name)
        with self._lock:
            opening = self._opening.setdefault(name, threading.Lock())
        with opening:  # two first requests for one collection build it once
            with self._lock:
                held = self._open.get(name)
            if held is None:
                try:
                    pipeline = self._opener(with_own_settings(on_collection(self.settings, name)))
                except IndexMissingError:
                    raise self._unknown(name) from None
                held = _Open(pipeline)
                with self._lock:
                    self._open[name] = held
                log.info("opened the collection %r", name)
                self._make_room()
                self._start_closer()
        held.used = time.monotonic()
        return held.pipeline

    @staticmethod
    def _unknown(name: str) -> NoSuchCollection:
        return NoSuchCollection(
            f"no collection {name!r} here: GET /v1/collections lists those this key may use"
        )

    # --- closing ---------------------------------------------------------------------------------
    def _close(self, name: str) -> None:
        with self._lock:
            held = self._open.pop(name, None)
        if held is None:
            return
        try:
            held.pipeline.close()
            held.pipeline.store.release(forget=False)
        except Exception:  # a pipeline half-closed is still dropped
            log.exception("closing the collection %r", name)
        log.info("closed the collection %r", name)

    def close_idle(self, now: float | None = None) -> list[str]:
        """Close the pipelines unused for idle_seconds; the names closed."""
        now = time.monotonic() if now is None else now
        with self._lock:
            idle = [n for n, h in self._open.items() if now - h.used >= self.idle_seconds]
        for name in idle:
            self._close(name)
        return idle

    def _make_room(self) -> None:
        """Beyond max_open, close the least recently used that is not in use right now."""
        now = time.monotonic()
        with self._lock:
            over = len(self._open) - self.max_open
            quiet = sorted(
                (h.used, n) for n, h in self._open.items() if now - h.used >= MIN_IDLE_SECONDS
            )
        for _, name in quiet[: max(over, 0)]:
            self._close(name)

    def _start_closer(self) -> None:
        with self._lock:
            if self._closer is not None:
                return
            self._closer = threading.Thread(target=self._close_loop, name="idle-collections")
            self._closer.daemon = True
        self._closer.start()

    def _close_loop(self) -> None:
        while not self._stop.wait(min(self.idle_seconds / 4, 30.0)):
            self.close_idle()

    def close(self) -> None:
        """Close every pipeline, the default's included (the server is stopping)."""
        self._stop.set()
        for name in self.open_names():
            self._close(name)
        self.default.close()
