"""Start from the demo corpus: ingest `seeds/` into an empty index on first run.

`rag serve` and `rag eval` (the seeds gold set) call `seed_if_empty()` before building the
pipeline, so a fresh checkout answers questions without a separate `rag ingest seeds/`. An index
that holds anything is left alone; an empty one whose ledger records articles was lost, not new,
and is an `IndexMissingError` naming `rag check --repair`; an empty one with no seeds/ folder to start from is an
`IndexMissingError` that says to run `rag ingest DIR`. This module decides when to seed and where
the seeds are; the ingesting itself is `index.ingest`'s.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import IndexMissingError
from rag.settings import Settings

if TYPE_CHECKING:
    from index.ingest import IngestReport

# the seed articles of a checkout, and where an installed package keeps them (pyproject's
# data-files put them under the environment's share/news-rag/seeds)
CHECKOUT_SEEDS = Path(__file__).resolve().parent.parent / "seeds"
INSTALLED_SEEDS = Path(sys.prefix) / "share" / "news-rag" / "seeds"


def packaged_seeds() -> Path:
    """The seed articles that came with this package: the checkout's, else the installed ones."""
    return CHECKOUT_SEEDS if CHECKOUT_SEEDS.is_dir() else INSTALLED_SEEDS


def seeds_dir() -> Path | None:
    """`seeds/` in the current directory, else the package's own; None if neither."""
    for candidate in (Path.cwd() / "seeds", packaged_seeds()):
        if candidate.is_dir():
            return candidate
    return None


def _where(settings: Settings) -> str:
    cfg = settings.store
    return f"the Chroma server {cfg.host}:{cfg.port}" if cfg.host else str(cfg.path)


def index_is_empty(settings: Settings) -> bool:
    """True when the configured collection is missing or has no chunks."""
    from rag.store.chroma import Store

    try:
        return Store(settings.store).is_empty()
    except IndexMissingError:
        return True


def _recorded(settings: Settings) -> int:
    """Articles the index's ledger records (0 when it has none)."""
    from rag.store.ledger import read_ledger

    ledger = read_ledger(settings)
    if ledger is None:
        return 0
    try:
        return len(ledger)
    finally:
        ledger.close()


def refuse_if_lost(settings: Settings) -> None:
    """An empty index whose ledger records articles was not new: it was lost. Say so, and how to
    get it back, instead of quietly serving the demo articles in its place (or saying to ingest
    the demo)."""
    from rag.store.ledger import ledger_path

    recorded = _recorded(settings)
    if recorded:
        raise IndexMissingError(
            f"the index at {_where(settings)} is empty or gone, but its ledger "
            f"{ledger_path(settings)} records {recorded} articles: run `rag check --repair` to "
            "index them again from the ledger (or `rag ingest --rebuild DIR` from their files)"
        )


def seed_if_empty(
    settings: Settings,
    embed_model: Any,
    *,
    say: Callable[[str], None] = print,
    seeds: Path | None = None,
) -> IngestReport | None:
    """Ingest `seeds` (default: `seeds_dir()`) when the index is empty, saying so and then the
    report's summary; None when the index already holds articles, or its ledger records some
    (the store is not opened then: `rag.pipeline.build` does, and an empty one is an error that
    `refuse_if_lost` words)."""
    if _recorded(settings) or not index_is_empty(settings):
        return None
    seeds = seeds if seeds is not None and seeds.is_dir() else seeds_dir()
    if seeds is None:
        raise IndexMissingError(
            f"the index at {_where(settings)} is empty and there is no seeds/ folder here to "
            "start from: run `rag ingest DIR` first"
        )
    from index.ingest import ingest

    say(f"the index is empty: ingesting {seeds} into {_where(settings)} first")
    report = ingest([seeds], settings, embed_model, progress=False)
    say(report.summary())
    return report
