"""Ingest articles into the store: load, clean, drop repeated paragraphs, chunk, embed, write.

Built on llama-index's `IngestionPipeline` (split, tag, embed, write to Chroma). What is indexed
is kept in the ledger (`index.ledger`: article id -> content hash, in SQLite, under a lock that
serialises writers across processes): an unchanged article is skipped, a changed one is re-indexed
alone, `prune` removes what is no longer in the input. Work goes in batches, each recorded in the
ledger once written, so an interrupted run (even kill -9) loses at most one batch, and the next run
completes it without duplicates: chunk ids are derived from the article and its content, and the
chunks of every article in a batch are deleted before it is written.

Syndicated copies: a paragraph already indexed for another article (normalised: quotes, case,
spacing, punctuation) is not indexed again; the chunk that carries it lists the other article
(`also_in`, resolved at search time from the `para_hashes` / `dup_hashes` metadata that
`rag.passages.ChunkMeta` defines).
This module does not search or answer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llama_index.core import Document
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import BaseNode, TransformComponent
from pydantic import PrivateAttr

from index.intake import intake
from index.loaders import Article, LoadProblem
from rag.errors import ArticleConflictError
from rag.ledger import Ledger, docstore_path, open_ledger
from rag.passages import EMBED_KEYS, LLM_KEYS, PARA_HASHES, ChunkMeta
from rag.settings import Settings
from rag.store import Store
from rag.text import normalize

log = logging.getLogger(__name__)


def text_hash(article: Article) -> str:
    """What an article says (title and paragraphs), whatever file or upload it came from."""
    return hashlib.sha1("\n\n".join([article.title, *article.paragraphs]).encode()).hexdigest()


def input_hash(article: Article) -> str:
    """Everything read for an article (text and metadata, where it came from included)."""
    fields = json.dumps(article.__dict__, default=str, sort_keys=True, ensure_ascii=False)
    return hashlib.sha1(fields.encode()).hexdigest()


def paragraph_hash(paragraph: str) -> str:
    return hashlib.sha1(normalize(paragraph).encode()).hexdigest()[:16]


@dataclass
class IngestReport:
    files: int = 0
    articles: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks_added: int = 0
    duplicate_paragraphs: int = 0
    duplicate_articles: list[str] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)

    def summary(self) -> str:
        parts = [
            f"{self.articles} articles in {self.files} files: {self.new} new, {self.updated} "
            f"changed, {self.unchanged} unchanged, {self.removed} removed",
            f"{self.chunks_added} new chunks",
        ]
        if self.duplicate_paragraphs:
            parts.append(f"{self.duplicate_paragraphs} repeated paragraphs indexed once")
        if self.chunks_added == 0 and not self.removed:
            parts.append("nothing to do: the index is up to date")
        return "; ".join(parts)


class ParagraphTagger(TransformComponent):
    """Records which of its article's paragraphs each chunk carries (for duplicate tracking)."""

    _article_hashes: dict[str, set[str]] = PrivateAttr(default_factory=dict)

    def set_articles(self, hashes: dict[str, set[str]]) -> None:
        self._article_hashes = hashes

    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        for node in nodes:
            meta = ChunkMeta.from_metadata(node.metadata)
            known = self._article_hashes.get(meta.article_id, set())
            text = node.get_content()
            found = [h for h in (paragraph_hash(p) for p in text.split("\n\n")) if h in known]
            node.metadata[PARA_HASHES] = " ".join(dict.fromkeys(found))
            node.excluded_embed_metadata_keys = [k for k in node.metadata if k not in EMBED_KEYS]
            node.excluded_llm_metadata_keys = [k for k in node.metadata if k not in LLM_KEYS]
        return nodes


def _chunk_id(i: int, doc: BaseNode) -> str:
    return f"{doc.id_}:{doc.hash[:8]}:{i}"


def make_splitter(cfg: Settings) -> SentenceSplitter:
    """Token-sized (tiktoken), sentence-aware chunks that never straddle two articles."""
    return SentenceSplitter(
        chunk_size=cfg.chunk.size,
        chunk_overlap=cfg.chunk.overlap,
        paragraph_separator="\n\n",
        id_func=_chunk_id,
        include_prev_next_rel=False,
    )


def load_articles(paths: Iterable[Path], report: IngestReport) -> list[Article]:
    """The articles under `paths` (see `index.intake.intake`); files and problems go in `report`."""
    found = intake(paths)
    report.files = found.files
    report.problems.extend(found.problems)
    return found.articles


def to_document(article: Article, dropped: list[str], owners: list[str]) -> Document:
    meta = ChunkMeta(
        article_id=article.id,
        title=article.title,
        date=article.date.isoformat() if article.date else "",
        source=article.source or "",
        author=article.author or "",
        location=article.location,
        dup_hashes=tuple(dropped),
        dup_of=tuple(dict.fromkeys(owners)),
    ).to_metadata()
    return Document(
        id_=article.id,
        text=article.text,
        metadata=meta,
        excluded_embed_metadata_keys=[k for k in meta if k not in EMBED_KEYS],
        excluded_llm_metadata_keys=[k for k in meta if k not in LLM_KEYS],
    )


def ingest(
    paths: Sequence[Path],
    settings: Settings,
    embed_model: Any,
    *,
    prune: bool = False,
    rebuild: bool = False,
    progress: bool = True,
    batch_size: int = 32,
    on_batch: Callable[[int], None] | None = None,
    articles: list[Article] | None = None,
    lock_timeout: float = -1,
    replace: bool = True,
) -> IngestReport:
    """Bring the index up to date with the articles under `paths` (or the given `articles`).
    Waits for another process's ingest into the same index to end (at most `lock_timeout`
    seconds if >= 0, then `LedgerBusyError`). With `replace=False` an article whose id is
    indexed with other text is refused (`ArticleConflictError`) and nothing is written."""
    report = IngestReport()
    if articles is None:
        articles = load_articles(paths, report)
    else:
        report.files = len(paths)
    report.articles = len(articles)
    twice = sorted(i for i, n in Counter(a.id for a in articles).items() if n > 1)
    if twice:
        raise ArticleConflictError(
            f"{len(twice)} article id(s) given more than once ({', '.join(twice[:5])}): "
            "each article needs its own id"
        )

    dim = len(embed_model.get_query_embedding("dimension probe"))
    ledger = open_ledger(settings)
    try:
        with ledger.writing(timeout=lock_timeout):
            # opened under the lock: two processes creating one embedded Chroma at once collide
            store = Store(settings.store, create=True)
            _ingest(
                articles,
                replace,
                store,
                ledger,
                settings,
                embed_model,
                dim,
                report,
                prune=prune,
                rebuild=rebuild,
                progress=progress,
                batch_size=batch_size,
                on_batch=on_batch,
            )
    finally:
        ledger.close()
    return report


def _ingest(
    articles: list[Article],
    replace: bool,
    store: Store,
    ledger: Ledger,
    settings: Settings,
    embed_model: Any,
    dim: int,
    report: IngestReport,
    *,
    prune: bool,
    rebuild: bool,
    progress: bool,
    batch_size: int,
    on_batch: Callable[[int], None] | None,
) -> None:
    if rebuild:
        store.reset()
        ledger.clear()
    store.check_model(embed_model.model_name, dim, claim=True)
    old_state = docstore_path(settings)
    if old_state.exists():
        if not len(ledger) and not rebuild:
            log.info("imported %d articles from %s", ledger.import_docstore(old_state), old_state)
        else:
            old_state.rename(old_state.with_name(old_state.name + ".imported"))
    if store.count() == 0 and len(ledger):
        log.warning("the collection is empty but the ledger is not: starting the ledger anew")
        ledger.clear()
    vector_store = store.vector_store()
    entries = ledger.entries()
    known = {doc_id: e.hash for doc_id, e in entries.items()}

    wanted = {a.id for a in articles}
    if prune:
        gone = sorted(set(known) - wanted)
        for doc_id in gone:
            vector_store.delete(doc_id)
        ledger.remove(gone)
        report.removed = len(gone)
        known = {k: v for k, v in known.items() if k in wanted}

    # every article read exactly as when it was recorded, nothing removed: no work, and no scan
    # of the store below (when anything changes, every article is checked again: a paragraph it
    # shared may now be its to index)
    inputs = {a.id: input_hash(a) for a in articles}
    if not report.removed and all(
        a.id in known and entries[a.id].input_hash == inputs[a.id] for a in articles
    ):
        report.unchanged = len(articles)
        return

    # who already owns each paragraph (first article to index it)
    owner: dict[str, str] = {}
    for rec in store.records(documents=False):
        chunk = ChunkMeta.from_metadata(rec.metadata)
        for h in chunk.para_hashes:
            owner.setdefault(h, chunk.article_id)

    tagger = ParagraphTagger()
    pipeline = IngestionPipeline(
        transformations=[make_splitter(settings), tagger, embed_model],
        vector_store=vector_store,
    )
    # only articles that are new or changed are deduplicated and written
    documents: list[Document] = []
    article_hashes: dict[str, set[str]] = {}
    for art in articles:
        kept, dropped, owners = [], [], []
        hashes = set()
        for para in art.paragraphs:
            h = paragraph_hash(para)
            first = owner.setdefault(h, art.id)
            if first != art.id:
                dropped.append(h)
                owners.append(first)
            elif h not in hashes:
                kept.append(para)
                hashes.add(h)
        report.duplicate_paragraphs += len(dropped)
        if not kept:
            report.duplicate_articles.append(art.id)
        article_hashes[art.id] = hashes
        art_view = Article(**{**art.__dict__, "paragraphs": kept})
        documents.append(to_document(art_view, dropped, owners))
    tagger.set_articles(article_hashes)

    todo = [d for d in documents if known.get(d.id_) != d.hash]
    texts = {a.id: text_hash(a) for a in articles}
    clash = sorted(
        d.id_ for d in todo if d.id_ in known and entries[d.id_].text_hash != texts[d.id_]
    )
    if clash and not replace:
        raise ArticleConflictError(
            f"already indexed with other text: {', '.join(clash[:5])}"
            + (f" and {len(clash) - 5} more" if len(clash) > 5 else "")
            + ". Give the new article(s) another id, or ask to replace them (?replace=true)"
        )
    report.unchanged = len(articles) - len(todo)
    changing = {d.id_ for d in todo}
    ledger.note_inputs((d.id_, inputs[d.id_]) for d in documents if d.id_ not in changing)
    report.updated = sum(1 for d in todo if d.id_ in known)
    report.new = len(todo) - report.updated

    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(
            total=len(todo), unit="article", desc="ingesting", file=sys.stderr, dynamic_ncols=True
        )
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        # older versions, and leftovers of an interrupted run
        store.collection.delete(where={"document_id": {"$in": [d.id_ for d in batch]}})
        nodes = pipeline.run(documents=batch, show_progress=False)
        chunks = Counter(ChunkMeta.from_metadata(n.metadata).article_id for n in nodes)
        ledger.record((d.id_, d.hash, chunks[d.id_], texts[d.id_], inputs[d.id_]) for d in batch)
        report.chunks_added += len(nodes)
        if bar is not None:
            bar.update(len(batch))
            bar.set_postfix(chunks=report.chunks_added)
        if on_batch is not None:
            on_batch(start + len(batch))
    if bar is not None:
        bar.close()
