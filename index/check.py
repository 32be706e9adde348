"""`rag check`: do the store, the ledger and the lexical index agree? And `--repair` where not.

The ledger (`rag.ledger`) is the record of what is indexed; the Chroma collection and the BM25
cache are built from it. The check reads all three and reports, by article:
- missing: recorded in the ledger with chunks the store does not hold (a lost or damaged store,
  an interrupted write the ledger had already recorded);
- orphaned: chunks of articles the ledger does not know (a write whose record never landed);
- empty: chunks with no text (older versions stored one for an article with nothing new);
- outdated: chunks of an article's earlier version beside its current one;
- stranded: articles that leave a paragraph to another article that no longer indexes it (their
  text is not all searchable);
- damaged: vector index (HNSW) files that would crash the process that loads them;
- a lexical (BM25) cache built from other chunks than the store holds (harmless, since a cache
  is named by the chunk ids it was built from and rebuilt when they change, but wasted disk);
- a damaged ledger (truncated, overwritten: no SQLite database), which nothing else can open.
Repair sets a damaged ledger aside (kept beside the store, `….damaged-TIME`) and rebuilds it from
the store's chunks: each article with the version and chunks it has there, and the paragraph
books from the chunks' metadata (the text it kept to index an article again is lost with it:
such an article, once missing, needs its file ingested again). Repair drops a damaged vector index, deletes orphaned and empty chunks and stale caches, and indexes the missing and stranded
articles again from the text the ledger keeps; an article recorded before the ledger kept text is
reported as needing its file ingested again. Searching and answering are not here.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index.ingest import article_from_body, ingest
from rag.schema import ChunkMeta, chunk_version
from rag.settings import Settings
from rag.store.chroma import Store, refuse_nearly_full
from rag.store.hnsw_check import damaged
from rag.store.layout import Layout
from rag.store.ledger import (
    Ledger,
    LedgerDamagedError,
    Recorded,
    open_ledger,
    set_aside,
    writers_lock,
)
from rag.store.migrations import paragraph_books
from rag.store.record import record_text
from rag.store.records import every_chunk_record, store_fingerprint, stored_chunks

log = logging.getLogger(__name__)


@dataclass
class CheckReport:
    articles: int = 0  # recorded in the ledger
    chunks: int = 0  # in the store
    missing: list[str] = field(default_factory=list)
    orphaned: list[str] = field(default_factory=list)
    empty_chunks: list[str] = field(default_factory=list)
    outdated_chunks: list[str] = field(default_factory=list)  # of an article's older version
    stranded: list[str] = field(default_factory=list)
    stale_caches: list[str] = field(default_factory=list)
    keywords_off: list[str] = field(default_factory=list)  # the server store's keyword rows
    damaged: list[str] = field(default_factory=list)  # vector index files (HNSW) that would crash
    unrecoverable: list[str] = field(default_factory=list)  # no text kept: ingest the file again
    repaired: dict[str, int] = field(default_factory=dict)
    ledger_damaged: str = ""  # why the ledger could not be read
    ledger_set_aside: str = ""  # where the damaged one was kept, once rebuilt

    @property
    def problems(self) -> int:
        return (
            int(bool(self.ledger_damaged))
            + len(self.damaged)
            + len(self.missing)
            + len(self.orphaned)
            + len(self.empty_chunks)
            + len(self.outdated_chunks)
            + len(self.stranded)
            + len(self.keywords_off)
        )  # a stale lexical cache is wasted disk, not a fault: reported, removed by --repair

    def summary(self) -> str:
        if self.ledger_damaged:
            return self.ledger_damaged
        head = f"{self.articles} articles in the ledger, {self.chunks} chunks in the store"
        parts = [
            f"{len(v)} {k}{': ' + ', '.join(v[:5]) if v else ''}{' …' if len(v) > 5 else ''}"
            for k, v in (
                ("damaged vector index segments", self.damaged),
                ("articles missing from the store", self.missing),
                ("orphaned articles (chunks the ledger does not record)", self.orphaned),
                ("empty chunks", self.empty_chunks),
                ("chunks of older versions of articles", self.outdated_chunks),
                ("articles with a shared paragraph no article indexes", self.stranded),
                ("articles whose keyword rows differ from their chunks", self.keywords_off),
                ("stale lexical caches (harmless: `--repair` removes them)", self.stale_caches),
            )
            if v
        ]
        out = head + (": consistent" if not self.problems else "")
        out += ("; " if parts else "") + "; ".join(parts)
        if self.orphaned and not self.articles:
            out += " (the ledger records nothing: `rag check --repair` rebuilds it from the store)"
        if self.repaired:
            out += "; repaired: " + ", ".join(f"{k} {n}" for k, n in self.repaired.items())
        if self.ledger_set_aside:
            out += f"; the damaged ledger is kept as {self.ledger_set_aside}"
        if self.unrecoverable:
            out += (
                f"; {len(self.unrecoverable)} article(s) need their files ingested again (no "
                f"text of theirs is kept: the ledger predates keeping it, or was lost and "
                f"rebuilt): {', '.join(self.unrecoverable[:5])}"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "problems": self.problems}


def check(settings: Settings, embed_model: Any, *, repair: bool = False) -> CheckReport:
    """Compare ledger, store and lexical cache; with `repair`, bring them back in line."""
    refuse_nearly_full(settings.store)
    report = CheckReport()
    try:
        ledger = open_ledger(settings)
    except LedgerDamagedError as exc:
        if not repair:
            report.ledger_damaged = str(exc)
            return report
        ledger = _rebuilt_ledger(settings, report)
    try:
        with ledger.writing(timeout=60):
            store = Store(settings.store, create=True, verify=False)
            chroma_dir = Layout.of(settings).chroma
            if not settings.store.host:
                report.damaged = damaged(chroma_dir, settings.store.collection)
            if report.damaged and repair:
                # dropped whole (its files never loaded) and rebuilt from the ledger below
                store.reset()
                for segment in report.damaged:
                    shutil.rmtree(chroma_dir / segment.split(":")[0], ignore_errors=True)
                ledger.invalidate()
                report.repaired["damaged vector index dropped"] = 1
            if report.damaged and not repair:
                report.articles = len(ledger)  # the store is not read: it could crash us
            elif repair and not len(ledger) and not report.damaged and store.count():
                # a ledger that records nothing beside a store that holds articles was lost
                # (a file emptied, a folder copied without it): its articles are not orphans
                # to delete, but the record to rebuild
                _adopt(store, ledger, report)
                _inspect(store, ledger, settings, report)
            else:
                _inspect(store, ledger, settings, report)
            if repair:
                _remove_debris(store, report, settings)
            # an article whose keyword rows are off (on the server store, where they hold its
            # chunks' texts) is written again whole from the text the ledger keeps of it
            reindex = sorted({*report.missing, *report.stranded, *report.keywords_off})
            bodies = ledger.bodies(reindex)
            report.unrecoverable = [i for i in reindex if i not in bodies]
            if repair and bodies:
                # marked unwritten (their text stays in the ledger), so that ingest writes them
                ledger.invalidate(bodies)
        if repair and bodies:
            articles = [article_from_body(b) for b in bodies.values()]
            done = ingest([], settings, embed_model, articles=articles, progress=False)
            report.repaired["articles indexed again"] = done.new + done.updated + done.restored
            if report.keywords_off:
                off = set(report.keywords_off) & set(bodies)
                report.repaired["keyword rows made again"] = len(off)
    finally:
        ledger.close()
    return report


def _rebuilt_ledger(settings: Settings, report: CheckReport) -> Ledger:
    """Set the damaged ledger aside and record what the store holds in a new one."""
    with writers_lock(settings):
        report.ledger_set_aside = str(set_aside(settings))
        ledger = open_ledger(settings)
        _adopt(Store(settings.store, create=True, verify=False), ledger, report)
    log.warning("the damaged ledger was kept as %s", report.ledger_set_aside)
    return ledger


def _adopt(store: Store, ledger: Ledger, report: CheckReport) -> None:
    """Record every article the store holds in an empty ledger: the version it has most chunks
    of (others are then found outdated), and the paragraph books from the chunks' metadata."""
    # the chunks' records the store holds whole (one from before the records file) added to
    # the file first, where it lacks them: the paragraph books are then read from the records
    ledger.fill_records(
        ((cid, record) for cid, record in every_chunk_record(store) if record_text(record).strip()),
        replace=False,
    )
    versions: dict[str, Counter[str]] = {}
    metadata = []
    for rec in stored_chunks(store, ledger):
        article = ChunkMeta.from_metadata(rec.metadata).article_id
        version = chunk_version(rec.id, article)
        versions.setdefault(article, Counter())[version] += 1
        metadata.append(rec.metadata)
    ledger.record(
        Recorded(article, *held.most_common(1)[0], "", "")
        for article, held in sorted(versions.items())
    )
    ledger.fill_paragraphs(*paragraph_books(metadata))
    report.repaired["ledger rebuilt from the store (articles)"] = len(versions)


def _inspect(store: Store, ledger: Ledger, settings: Settings, report: CheckReport) -> None:
    recorded = ledger.chunk_counts()
    versions = ledger.hashes()
    report.articles = len(recorded)
    derived = ledger.chunk_ids()
    named = set(derived) if derived is not None else None
    held: Counter[str] = Counter()
    for rec in stored_chunks(store, ledger):
        article = ChunkMeta.from_metadata(rec.metadata).article_id
        report.chunks += 1
        if not rec.text.strip():
            report.empty_chunks.append(rec.id)
            continue
        # chunk ids are ARTICLE:HASH8:N, HASH8 from the version of the article written
        version = chunk_version(rec.id, article)
        if article in versions and versions[article] and version != versions[article][:8]:
            report.outdated_chunks.append(rec.id)
            continue
        if named is not None and article in recorded and rec.id not in named:
            # the ledger's rows name every chunk (what a server starts from): one past the
            # recorded count is left over from an earlier write of the same version
            report.outdated_chunks.append(rec.id)
            continue
        held[article] += 1
    report.orphaned = sorted(set(held) - set(recorded))
    # a count of 0 recorded from an old docstore means "not counted": any chunk will do
    report.missing = sorted(i for i, n in recorded.items() if held[i] < n)
    report.stranded = sorted(ledger.stranded())
    kept = ledger.keyword_counts()
    if kept is not None:  # the server store: each recorded article's chunks have keyword rows
        missing = set(report.missing)  # (written again whole by a repair)
        report.keywords_off = sorted(
            a for a in recorded if a not in missing and held[a] != kept.get(a, 0)
        )
    cache = Layout.of(settings).bm25
    if cache.is_dir():
        # named by the fingerprint of the chunks it indexes: any other is of an older store
        current = store_fingerprint(store, ledger)
        for folder in sorted(cache.iterdir()):
            if folder.name != current or _bm25_docs(folder) != report.chunks:
                report.stale_caches.append(folder.name)


def _bm25_docs(folder: Path) -> int | None:
    try:
        return int(json.loads((folder / "params.index.json").read_text())["num_docs"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _remove_debris(store: Store, report: CheckReport, settings: Settings) -> None:
    with store.writing():
        _delete_debris(store, report)
    cache = Layout.of(settings).bm25
    for name in report.stale_caches:
        shutil.rmtree(cache / name, ignore_errors=True)
    if report.stale_caches:
        report.repaired["stale lexical caches removed"] = len(report.stale_caches)


def _delete_debris(store: Store, report: CheckReport) -> None:
    if report.empty_chunks:
        store.collection.delete(ids=report.empty_chunks)
        report.repaired["empty chunks deleted"] = len(report.empty_chunks)
    if report.outdated_chunks:
        store.collection.delete(ids=report.outdated_chunks)
        report.repaired["outdated chunks deleted"] = len(report.outdated_chunks)
    if report.orphaned:
        store.delete_articles(report.orphaned)
        report.repaired["orphaned articles deleted"] = len(report.orphaned)
