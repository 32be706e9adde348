"""`rag store copy`: a collection moved from one store to another (the embedded store in a folder,
or the server store: chunks on a `chroma run` server, books on PostgreSQL) from its ledger, which
keeps every article as it was read: nothing is read from the original files. The target indexes
the articles as `rag ingest` would (its own chunking and embedding), takes the memory of which URL
gave which article, and is checked like any store (`rag check`). The source is left as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from index.collections import where
from rag.errors import ConfigError, IndexMissingError
from rag.settings import Settings, StoreSettings

PAGE = 500  # articles read from the source's ledger and ingested at a time


@dataclass
class CopyReport:
    articles: int = 0  # recorded in the source
    copied: int = 0  # added or changed in the target
    unchanged: int = 0  # there already, the same
    without_text: list[str] = field(default_factory=list)  # recorded without their text
    urls: int = 0

    def summary(self, source: str, target: str) -> str:
        lost = (
            f"; {len(self.without_text)} recorded without their text were not copied "
            "(ingest their files into the target)"
            if self.without_text
            else ""
        )
        return (
            f"{self.articles} articles of {source}: {self.copied} copied to {target}, "
            f"{self.unchanged} there already; {self.urls} fetched URLs remembered{lost}"
        )


def target_of(
    settings: Settings,
    *,
    path: Any = None,
    host: str | None = None,
    port: int | None = None,
    url: str | None = None,
    collection: str | None = None,
) -> Settings:
    """The settings of the target store: the `--to-*` given, nothing else of the source's store
    (no --to-host: embedded Chroma; no --to-url: books in files) but its folder, for what each
    machine keeps."""
    fields: dict[str, Any] = {
        "path": path if path is not None else settings.store.path,
        "collection": collection or settings.store.collection,
        "host": host,
        "url": url,
        "min_free_mb": settings.store.min_free_mb,
    }
    if port is not None:
        fields["port"] = port
    try:
        store = StoreSettings.model_validate(fields)
    except ValueError as exc:
        raise ConfigError(f"the target store: {exc}") from None
    target = settings.model_copy(update={"store": store})
    if where(target.store) == where(settings.store):
        raise ConfigError(
            "the target is the source: give where to copy to (--to-path DIR for an embedded "
            "store, --to-host and --to-url for the server store, --to-collection NAME)"
        )
    return target


def copy_collection(
    source: Settings,
    target: Settings,
    embed_model: Any,
    *,
    progress: Callable[[int], None] | None = None,
    total: Callable[[int], None] | None = None,
) -> CopyReport:
    """Index every article the source's ledger keeps into the target (a page at a time), and
    the URLs they were fetched from. `total(n)`: n articles to copy; `progress(n)`: n more
    done."""
    from index.ingest import article_from_body, ingest
    from rag.store.ledger import open_ledger, read_ledger

    books = read_ledger(source)
    if books is None or not len(books):
        raise IndexMissingError(
            f"nothing to copy: {where(source.store)} records no article (`rag collections list` "
            "shows what there is)"
        )
    report = CopyReport()
    try:
        ids = sorted(books.hashes())
        report.articles = len(ids)
        if total is not None:
            total(len(ids))
        for start in range(0, len(ids), PAGE):
            page = ids[start : start + PAGE]
            bodies = books.bodies(page)
            report.without_text += [i for i in page if i not in bodies]
            if bodies:
                articles = [article_from_body(b) for b in bodies.values()]
                done = ingest([], target, embed_model, articles=articles, progress=False)
                report.copied += done.new + done.updated + done.restored
                report.unchanged += done.unchanged
            if progress is not None:
                progress(len(page))
        urls = books.url_rows()
    finally:
        books.close()
    if urls:
        kept = open_ledger(target)
        try:
            with kept.writing():
                kept.note_urls(urls)
        finally:
            kept.close()
    report.urls = len(urls)
    return report
