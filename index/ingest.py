"""Ingest articles into the store: load, clean, drop repeated paragraphs, chunk, embed, write.

Built on llama-index's `IngestionPipeline` (split, tag, embed, write to Chroma). What is indexed
is kept in the ledger (`rag.store.ledger`: article id -> content hash, in SQLite, under a lock that
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

import functools
import hashlib
import json
import logging
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from llama_index.core import Document
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import BaseNode, TransformComponent
from pydantic import PrivateAttr

from index.intake import file_limits, intake
from index.loaders import DEFAULT_LIMITS, Article, Limits, LoadProblem
from rag.errors import ArticleConflictError, Deadline, RagError, StoreFullError
from rag.jobs.entities import Tagging
from rag.schema import EMBED_KEYS, LLM_KEYS, PARA_HASHES, ChunkMeta, chunk_id
from rag.settings import Settings
from rag.store.chroma import Store, files_lock
from rag.store.layout import Layout
from rag.store.ledger import Ledger, Recorded, open_ledger
from rag.store.migrations import paragraph_books
from rag.store.record import TEXT, filter_fields, slim
from rag.store.records import every_chunk_record, stored_chunks
from rag.text.rules import normalize

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
    restored: int = 0  # indexed again: an article carrying paragraphs of theirs changed or went
    status: dict[str, str] = field(default_factory=dict)  # id -> added/changed/unchanged/refused
    refused: list[str] = field(default_factory=list)  # indexed with other text, replace not asked
    not_added: list[str] = field(default_factory=list)  # left unwritten when the deadline passed
    problems: list[LoadProblem] = field(default_factory=list)
    # named entities tagged as part of this ingest (None: not asked, or another process was
    # tagging the store and goes on): sentences tagged, of chunks, in seconds
    tagged: dict[str, float] | None = None

    def summary(self) -> str:
        parts = [
            f"{self.articles} articles{f' in {self.files} files' if self.files else ''}: "
            f"{self.new} new, {self.updated} changed, {self.unchanged} unchanged, "
            f"{self.removed} removed"
            + (f", {len(self.refused)} refused (indexed with other text)" if self.refused else ""),
            f"{self.chunks_added} new chunks",
        ]
        if self.restored:
            parts.append(
                f"{self.restored} articles indexed again for paragraphs they shared with an "
                "article that changed or went"
            )
        if self.duplicate_paragraphs:
            parts.append(f"{self.duplicate_paragraphs} repeated paragraphs indexed once")
        if self.chunks_added == 0 and not self.removed and not self.restored:
            parts.append("nothing to do: the index is up to date")
        elif self.tagged is not None:
            parts.append(
                f"named entities of {int(self.tagged['sentences']):,} new sentences tagged"
            )
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
    return chunk_id(doc.id_, doc.hash, i)


def make_splitter(cfg: Settings) -> SentenceSplitter:
    """Token-sized (tiktoken), sentence-aware chunks that never straddle two articles."""
    return SentenceSplitter(
        chunk_size=cfg.chunk.size,
        chunk_overlap=cfg.chunk.overlap,
        paragraph_separator="\n\n",
        id_func=_chunk_id,
        include_prev_next_rel=False,
    )


def load_articles(
    paths: Iterable[Path], report: IngestReport, limits: Limits = DEFAULT_LIMITS
) -> list[Article]:
    """The articles under `paths` (see `index.intake.intake`); files and problems go in `report`."""
    found = intake(paths, limits)
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


def article_body(article: Article) -> dict[str, Any]:
    """An article as the ledger keeps it (JSON-ready), so it can be indexed again without its file."""
    return {**article.__dict__, "date": article.date.isoformat() if article.date else None}


def article_from_body(body: dict[str, Any]) -> Article:
    fields = dict(body)
    fields["date"] = date.fromisoformat(fields["date"]) if fields.get("date") else None
    return Article(**fields)


@dataclass
class Deduped:
    """An article with the paragraphs another article already indexes taken out."""

    article: Article
    document: Document  # what is chunked and embedded (its hash tells a change)
    kept: tuple[str, ...]  # hashes of the paragraphs it indexes
    copied: tuple[str, ...]  # hashes of those it leaves to their owners

    @property
    def id(self) -> str:
        return self.article.id


def deduplicate(article: Article, owner: dict[str, str]) -> Deduped:
    """Keep the paragraphs no other article indexes; claim them in `owner` (paragraph hash ->
    article), which the next article then sees."""
    kept, dropped, owners = [], [], []
    hashes: dict[str, None] = {}
    for para in article.paragraphs:
        h = paragraph_hash(para)
        first = owner.setdefault(h, article.id)
        if first != article.id:
            dropped.append(h)
            owners.append(first)
        elif h not in hashes:
            kept.append(para)
            hashes[h] = None
    view = Article(**{**article.__dict__, "paragraphs": kept})
    return Deduped(article, to_document(view, dropped, owners), tuple(hashes), tuple(dropped))


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
    deadline: Deadline | None = None,
    tag: bool = False,
) -> IngestReport:
    """Bring the index up to date with the articles under `paths` (or the given `articles`).
    Waits for another process's ingest into the same index to end (at most `lock_timeout`
    seconds if >= 0, then `LedgerBusyError`). With `replace=False` an article whose id is
    indexed with other text is refused (`ArticleConflictError`) and nothing is written. Past the
    `deadline` (checked before each batch) the articles not yet written are left as they were
    and listed in `report.not_added`, each whole batch written before it stays. `tag`: the named
    entities of the new chunks' sentences are tagged as they are written (`Tagging`, in
    RAG_INGEST__TAG_PROCESSES processes) and waited for, unless another process is tagging the
    store."""
    report = IngestReport()
    if articles is None:
        articles = load_articles(paths, report, file_limits(settings))
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
    tagging = Tagging.start(settings, settings.ingest.tag_processes) if tag else None
    try:
        with ledger.writing(timeout=lock_timeout):
            # opened under the lock: two processes creating one embedded Chroma at once collide
            # we hold the lock: the index files are ours to check, and read afresh (another
            # process may have written since this one last opened them)
            with files_lock(settings.store).exclusive():
                store = Store(settings.store, create=True, verify=True, fresh=True)
            target = _Target(store, ledger, settings, embed_model, dim, tagging)
            options = _Options(prune, rebuild, progress, batch_size, on_batch, replace, deadline)
            _ingest(articles, target, options, report)
            # its own client, opened for this write: let go now, not when a collection of cycles
            # comes round (a server that took uploads kept every one: 79 threads). Not after a
            # failed write: a native client whose write failed is not touched again (see
            # `Store.discard_client`)
            with store.writing():
                store.release()
        if tagging is not None and (done := tagging.finish(progress=progress)) is not None:
            report.tagged = {
                "sentences": done.sentences,
                "chunks": done.chunks,
                "seconds": round(done.seconds, 2),
            }
    finally:
        ledger.close()
        if tagging is not None:
            tagging.close()  # stopped by a failure: what was not tagged is tagged aside
    return report


@dataclass(frozen=True)
class _Target:
    """What one ingest writes into, opened under the writers' lock."""

    store: Store
    ledger: Ledger
    settings: Settings
    embed_model: Any
    dim: int  # the embedding's, checked against the collection's
    tagging: Tagging | None  # the named entities of what is written


@dataclass(frozen=True)
class _Options:
    """How one ingest runs (the keywords of `ingest`)."""

    prune: bool
    rebuild: bool
    progress: bool
    batch_size: int
    on_batch: Callable[[int], None] | None
    replace: bool
    deadline: Deadline | None


def _ingest(
    articles: list[Article], target: _Target, options: _Options, report: IngestReport
) -> None:
    store, ledger, settings, embed_model, dim = (
        target.store,
        target.ledger,
        target.settings,
        target.embed_model,
        target.dim,
    )
    prune, rebuild, replace = options.prune, options.rebuild, options.replace
    progress, batch_size, on_batch, deadline = (
        options.progress,
        options.batch_size,
        options.on_batch,
        options.deadline,
    )
    if rebuild:
        store.reset()
        ledger.clear()
    store.check_model(embed_model.model_name, dim, claim=True)
    old_state = Layout.of(settings).old_docstore
    if old_state.exists():
        if not len(ledger) and not rebuild:
            log.info("imported %d articles from %s", ledger.import_docstore(old_state), old_state)
        else:
            old_state.rename(old_state.with_name(old_state.name + ".imported"))
    if len(ledger) and store.is_empty():
        # the store was lost or dropped: what the ledger records is written again when given
        # (the rest stays recorded, with its text, for `rag check --repair` to restore)
        log.warning("the collection is empty but the ledger is not: writing articles again")
        ledger.invalidate()
    if not ledger.paragraphs_complete():
        _fill_paragraph_books(store, ledger)
    if not ledger.records_complete():  # a store from before the ledger kept chunk records
        log.info("keeping the chunks' records in the ledger, read from the store (once)")
        ledger.fill_records(every_chunk_record(store))
    entries = ledger.entries()
    known = {doc_id: e.hash for doc_id, e in entries.items()}

    wanted = {a.id for a in articles}
    if prune:
        gone = sorted(set(known) - wanted)
        store.delete_articles(gone)
        ledger.remove(gone)
        report.removed = len(gone)
        known = {k: v for k, v in known.items() if k in wanted}

    # every article read exactly as when it was recorded, nothing removed, no article waiting for
    # a paragraph it shared: no work at all
    inputs = {a.id: input_hash(a) for a in articles}
    if (
        not report.removed
        and all(a.id in known and entries[a.id].input_hash == inputs[a.id] for a in articles)
        and not ledger.stranded()
    ):
        report.unchanged = len(articles)
        report.status = dict.fromkeys((a.id for a in articles), "unchanged")
        return

    texts = {a.id: text_hash(a) for a in articles}
    clash = sorted(
        a.id for a in articles if a.id in known and entries[a.id].text_hash != texts[a.id]
    )
    # without `replace` every clash is refused; with it, those of a page that names another
    # URL its canonical still are (only a fetch of that URL replaces its article)
    alias_of = {a.id: a.alias_of for a in articles if a.alias_of}
    refused = [i for i in clash if not replace or i in alias_of]
    aliases = {i: alias_of[i] for i in refused if replace}
    if refused:
        # refused, each of them; the others go ahead (all refused: nothing to do, an error)
        message = (
            f"already indexed with other text: {', '.join(refused[:5])}"
            + (f" and {len(refused) - 5} more" if len(refused) > 5 else "")
            + ". Give the new article(s) another id, or ask to replace them (?replace=true)"
        )
        problems = [
            LoadProblem(
                aliases[i],
                f"refused: this page names {i}'s address as its own (canonical), where other "
                "text is indexed; only a fetch of that address itself replaces it",
            )
            if i in aliases
            else LoadProblem(i, "refused: " + message)
            for i in refused
        ]
        if len(refused) == len(articles):
            raise ArticleConflictError(problems[0].message if aliases else message)
        report.problems.extend(problems)
        report.refused = refused
        articles = [a for a in articles if a.id not in set(refused)]
    owner = ledger.owners(paragraph_hash(p) for a in articles for p in a.paragraphs)
    for art in articles:  # a changed article gives up the paragraphs it no longer has
        if art.id in entries and entries[art.id].text_hash != texts[art.id]:
            now = {paragraph_hash(p) for p in art.paragraphs}
            for h in ledger.owned_by(art.id) - now:
                owner.pop(h, None)
    deduped = [deduplicate(art, owner) for art in articles]
    for d in deduped:
        report.duplicate_paragraphs += len(d.copied)
        if not d.kept:
            report.duplicate_articles.append(d.id)

    todo = [d for d in deduped if known.get(d.id) != d.document.hash]
    report.unchanged = len(articles) - len(todo)
    changing = {d.id for d in todo}
    ledger.note_inputs((d.id, inputs[d.id]) for d in deduped if d.id not in changing)
    report.updated = sum(1 for d in todo if d.id in known)
    report.new = len(todo) - report.updated
    report.status = {
        d.id: "unchanged" if d.id not in changing else "changed" if d.id in known else "added"
        for d in deduped
    } | dict.fromkeys(report.refused, "refused")

    writer = _Writer(store, ledger, settings, embed_model, report, target.tagging)
    writer.write(
        todo, progress=progress, batch_size=batch_size, on_batch=on_batch, deadline=deadline
    )
    if report.not_added:
        late = set(report.not_added)
        report.updated -= sum(1 for i in late if i in known)
        report.new -= sum(1 for i in late if i not in known)
        report.status.update(dict.fromkeys(report.not_added, "not added"))
        articles = [a for a in articles if a.id not in late]  # their old versions stay
    _restore_stranded(writer, ledger, {a.id: a for a in articles}, batch_size)


def _restore_stranded(
    writer: _Writer, ledger: Ledger, given: dict[str, Article], batch_size: int
) -> None:
    """An article that left a paragraph to one that changed or went indexes it itself now (from
    `given`, or as the ledger keeps it)."""
    report = writer.report
    for _ in range(3):
        stranded = ledger.stranded()
        if not stranded:
            break
        bodies = ledger.bodies(stranded - set(given))
        back = [
            given[i] if i in given else article_from_body(bodies[i])
            for i in sorted(stranded)
            if i in given or i in bodies
        ]
        for lost in sorted(stranded - {a.id for a in back}):
            report.problems.append(
                LoadProblem(
                    lost,
                    "it shares a paragraph that the article carrying it no longer indexes, and "
                    "the ledger predates keeping article text: ingest its file again",
                )
            )
        if not back:
            break
        owner = ledger.owners(paragraph_hash(p) for a in back for p in a.paragraphs)
        again = [deduplicate(art, owner) for art in back]
        writer.write(again, progress=False, batch_size=batch_size, on_batch=None)
        report.restored += len(again)


def remove(
    ids: Sequence[str],
    settings: Settings,
    embed_model: Any,
    *,
    lock_timeout: float = -1,
    batch_size: int = 32,
) -> IngestReport:
    """Take articles out of the index: their chunks (dense and, through the store, BM25), their
    ledger entries, paragraph books and fetched URLs. An article that left a shared paragraph to
    one of them (a syndicated copy) indexes that paragraph itself now, so it still answers.
    `report.status` says "removed" or "not found" for each id; ingesting an article again
    restores it."""
    report = IngestReport(articles=len(ids))
    ledger = open_ledger(settings)
    try:
        with ledger.writing(timeout=lock_timeout):
            with files_lock(settings.store).exclusive():
                store = Store(settings.store, create=True, verify=True, fresh=True)
            _remove(store, ledger, settings, embed_model, ids, report, batch_size)
    finally:
        ledger.close()
    return report


def _remove(
    store: Store,
    ledger: Ledger,
    settings: Settings,
    embed_model: Any,
    ids: Sequence[str],
    report: IngestReport,
    batch_size: int,
) -> None:
    """`remove`'s work, under the writers' lock, with the store opened for it (let go after)."""
    try:
        known = ledger.entries()
        found = [i for i in dict.fromkeys(ids) if i in known]
        with store.writing():
            store.delete_articles(found)
        ledger.remove(found)
        report.removed = len(found)
        report.status = {i: "removed" if i in known else "not found" for i in ids}
        if ledger.stranded():
            dim = len(embed_model.get_query_embedding("dimension probe"))
            store.check_model(embed_model.model_name, dim)
            writer = _Writer(store, ledger, settings, embed_model, report)
            _restore_stranded(writer, ledger, {}, batch_size)
    finally:
        with store.writing():
            store.release()  # its own client, opened for this removal


class _Writer:
    """Writes deduplicated articles to the store in batches, each recorded in the ledger after."""

    def __init__(
        self,
        store: Store,
        ledger: Ledger,
        settings: Settings,
        embed_model: Any,
        report: IngestReport,
        tagging: Tagging | None = None,
    ) -> None:
        self.store, self.ledger, self.report = store, ledger, report
        self.tagging = tagging
        # an older store's chunks are whole in Chroma until the ledger keeps their records
        whole = not ledger.records_complete()
        self._kept = functools.partial(_kept_in_store, whole=whole)
        self.tagger = ParagraphTagger()
        # the pipeline chunks and embeds; its nodes are written after, holding the files' lock
        self.pipeline = IngestionPipeline(
            transformations=[make_splitter(settings), self.tagger, embed_model],
            # its default in-memory cache keeps every batch's nodes (text and vectors) for the
            # whole run, for a batch that is never run twice: memory grows with the archive
            # (bench/scale.py)
            disable_cache=True,
        )

    def write(
        self,
        todo: list[Deduped],
        *,
        progress: bool,
        batch_size: int,
        on_batch: Callable[[int], None] | None,
        deadline: Deadline | None = None,
    ) -> None:
        bar = None
        if progress and todo:
            from tqdm import tqdm

            bar = tqdm(
                total=len(todo),
                unit="article",
                desc="ingesting",
                file=sys.stderr,
                dynamic_ncols=True,
            )
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            if deadline is not None and deadline.passed():
                self.report.not_added = [d.id for d in todo[start:]]
                break
            self.store.check_space(sum(len(d.document.text) for d in batch) * 8 + 2**20)
            try:
                self.tagger.set_articles({d.id: set(d.kept) for d in batch})
                # an article with nothing of its own to index gets no chunk (named as a copy)
                documents = [d.document for d in batch if d.kept]
                nodes = (
                    self.pipeline.run(documents=documents, show_progress=False) if documents else []
                )
                records = chunk_records_of(nodes)
                with self.store.writing():
                    # older versions, and leftovers of an interrupted run
                    self.store.delete_articles([d.id for d in batch])
                    if nodes:
                        self.store.add_chunks(
                            [
                                (cid, n.get_embedding(), *self._kept(rec))
                                for n, (cid, rec) in zip(nodes, records, strict=True)
                            ]
                        )
                chunks = Counter(ChunkMeta.from_metadata(n.metadata).article_id for n in nodes)
                self.ledger.record(
                    (
                        Recorded(
                            d.id,
                            d.document.hash,
                            chunks[d.id],
                            text_hash(d.article),
                            input_hash(d.article),
                            article_body(d.article),
                            d.kept,
                            d.copied,
                        )
                        for d in batch
                    ),
                    records,
                )
                if self.tagging is not None:
                    self.tagging.feed([(cid, rec[TEXT]) for cid, rec in records])
            except (RagError, KeyboardInterrupt):
                raise
            except Exception as exc:
                # this batch is not recorded: the next ingest writes it again, `rag check` sees
                # any chunks it left; the native client that failed is not written through again
                self.store.discard_client()
                if self.store.disk_full(exc) is not None:
                    raise StoreFullError(
                        f"the disk under the index {self.store.where} filled up while writing "
                        f"({exc}): the articles of this batch were not recorded; free space, "
                        "then ingest again (`rag check` shows what is there)"
                    ) from None
                raise
            self.report.chunks_added += len(nodes)
            if bar is not None:
                bar.update(len(batch))
                bar.set_postfix(chunks=self.report.chunks_added)
            if on_batch is not None:
                on_batch(start + len(batch))
        if bar is not None:
            bar.close()


def _kept_in_store(record: dict[str, Any], whole: bool) -> tuple[dict[str, Any], str | None]:
    """What the vector store keeps of a chunk's record: what filters need where the ledger keeps
    the records, the whole record (and the text) where it does not yet."""
    return (slim(record), record[TEXT]) if whole else (filter_fields(record), None)


def chunk_records_of(nodes: Sequence[BaseNode]) -> list[tuple[str, dict[str, Any]]]:
    """(chunk id, record) of chunked nodes: the record as the store keeps it (the chunk's
    metadata, the text under `_text`; `rag.store.record`)."""
    from llama_index.core.schema import MetadataMode

    return [
        (n.node_id, slim(n.metadata) | {TEXT: n.get_content(metadata_mode=MetadataMode.NONE)})
        for n in nodes
    ]


def _fill_paragraph_books(store: Store, ledger: Ledger) -> None:
    """A ledger from before paragraph owners were kept: take them from the store, once."""
    books = paragraph_books(rec.metadata for rec in stored_chunks(store, ledger))
    ledger.fill_paragraphs(*books)
