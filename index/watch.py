"""Following sources: a watched folder (`rag ingest --watch DIR`, `rag serve --watch DIR`) and
feeds polled on a schedule (`--feeds FILE --every 15m`).

`FolderSync` keeps the index in step with a folder: `sync()` ingests every article file under it
(unchanged ones cost nothing) and `apply(changes)` handles what watchfiles reports: a new or
changed file is ingested (a changed one replaces its articles; those it no longer has are
removed), a deleted file's articles are removed. It knows which articles each file gave from the
ingest it ran, so it removes only what came from the folder. `watch_folder()` runs it until a
stop event: the OS's file events (watchfiles), debounced, then `apply`. `poll_feeds()` ingests a
list of feed/page URLs every N seconds (only new items are fetched). Each round calls
`on_change` (the server refreshes its retriever there).

This module follows sources; reading, fetching and writing are `index.intake`, `index.web` and
`index.ingest`'s.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index.after_write import after_write
from index.ingest import IngestReport, ingest, remove
from index.intake import file_limits, intake
from index.loaders import SUFFIXES
from rag.errors import RagError
from rag.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Round:
    """What one round of following did: articles added or changed, removed, problems."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)

    def summary(self) -> str:
        parts = [f"{len(self.added)} added or changed", f"{len(self.removed)} removed"]
        if self.problems:
            parts.append(f"{len(self.problems)} problems")
        return ", ".join(parts)


def parse_every(text: str) -> float:
    """Seconds in "90", "90s", "15m", "2h" (at least 10 s)."""
    units = {"s": 1, "m": 60, "h": 3600}
    value = text.strip().lower()
    scale = units.get(value[-1:], 0)
    number = value[:-1] if scale else value
    try:
        seconds = float(number) * (scale or 1)
    except ValueError:
        raise ValueError(f"{text!r} is not a period like 90s, 15m or 2h") from None
    if seconds < 10:
        raise ValueError(f"{text!r} is too often: poll at most every 10 s")
    return seconds


def _article_file(path: Path) -> bool:
    return path.name.lower().endswith(SUFFIXES) and not path.name.startswith(".")


class FolderSync:
    """See the module's docstring."""

    def __init__(self, folder: Path, settings: Settings, embed_model: Any) -> None:
        if not folder.is_dir():
            raise RagError(f"{folder} is not a folder: make it, or watch another")
        self.folder = folder.resolve()
        self.settings = settings
        self.embed_model = embed_model
        self.by_file: dict[Path, set[str]] = {}

    def sync(self) -> Round:
        """Ingest every article file under the folder (the first round)."""
        files = sorted(p for p in self.folder.rglob("*") if p.is_file() and _article_file(p))
        return self._written(self._ingest(files))

    def apply(self, changes: Iterable[tuple[Any, str]]) -> Round:
        """Handle watchfiles' (change, path) pairs: ingest what is there, remove what went."""
        present: set[Path] = set()
        gone: set[Path] = set()
        for _change, raw in changes:
            path = Path(raw).resolve()
            if path.is_file() and _article_file(path):
                present.add(path)
            elif not path.exists():
                gone.update(p for p in self.by_file if p == path or path in p.parents)
        done = self._ingest(sorted(present)) if present else Round()
        ids = sorted({i for p in gone for i in self.by_file.pop(p, set())} - self._owned())
        if ids:
            report = remove(ids, self.settings, self.embed_model)
            done.removed += [i for i, s in report.status.items() if s == "removed"]
        return self._written(done)

    def _written(self, done: Round) -> Round:
        if done:
            after_write(self.settings)
        return done

    def _owned(self) -> set[str]:
        return {i for ids in self.by_file.values() for i in ids}

    def _ingest(self, files: Sequence[Path]) -> Round:
        done = Round()
        found = intake(files, file_limits(self.settings))
        done.problems += [f"{p.location}: {p.message}" for p in found.problems]
        if found.articles:
            report: IngestReport = ingest(
                [], self.settings, self.embed_model, articles=found.articles, progress=False
            )
            done.added += [i for i, s in report.status.items() if s in ("added", "changed")]
            done.problems += [f"{p.location}: {p.message}" for p in report.problems]
        before = {f: self.by_file.get(f, set()) for f in files}
        for f in files:
            self.by_file[f] = {a.id for a in found.articles if Path(a.location) == f}
        # a changed file that no longer has an article: that article goes
        dropped = sorted({i for f in files for i in before[f] - self.by_file[f]} - self._owned())
        if dropped:
            report = remove(dropped, self.settings, self.embed_model)
            done.removed += [i for i, s in report.status.items() if s == "removed"]
        return done


def watch_folder(
    sync: FolderSync,
    stop: threading.Event,
    on_change: Callable[[Round], None] | None = None,
    *,
    on_ready: Callable[[], None] | None = None,
    debounce_ms: int = 500,
) -> None:
    """Follow the folder until `stop` is set (errors of a round are logged, the watch goes on).
    Once the OS watch is in place, the folder is synced again (a file that arrived while it was
    being set up would otherwise wait for its next change), then `on_ready` is called."""
    from watchfiles import watch

    ready = False
    for changes in watch(
        sync.folder,
        stop_event=stop,
        debounce=debounce_ms,
        raise_interrupt=False,
        yield_on_timeout=True,
        rust_timeout=1000,
    ):
        if ready and not changes:
            continue
        try:
            if not ready:
                ready = True
                done = sync.sync()
                gone = sync.apply(changes) if changes else Round()
                done.removed += gone.removed
                done.problems += gone.problems
                if on_ready is not None:
                    on_ready()
            else:
                done = sync.apply(changes)
        except RagError as exc:
            log.error("watching %s: %s", sync.folder, exc)
            continue
        for problem in done.problems:
            log.warning("watching %s: %s", sync.folder, problem)
        if on_change is not None and (done or done.problems):
            on_change(done)


def poll_feeds(
    urls: Sequence[str],
    settings: Settings,
    embed_model: Any,
    every: float,
    stop: threading.Event,
    on_change: Callable[[Round], None] | None = None,
) -> None:
    """Ingest the feeds' (and pages') new items now and every `every` seconds until `stop`."""
    from index.web import ingest_urls

    while not stop.is_set():
        done = Round()
        try:
            report, _ = ingest_urls(urls, settings, embed_model, progress=False)
            done.added += [i for i, s in report.status.items() if s in ("added", "changed")]
            done.problems += [f"{p.location}: {p.message}" for p in report.problems]
        except RagError as exc:
            done.problems.append(str(exc))
        for problem in done.problems:
            log.warning("feeds: %s", problem)
        if done:
            after_write(settings)
        if on_change is not None:
            on_change(done)
        stop.wait(every)
