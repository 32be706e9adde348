"""BM25 over every chunk in the store, as a llama-index retriever, saved on disk beside the store.

llama-index's `BM25Retriever` (bm25s with an English stemmer) does the scoring. `BM25Index.build`
indexes chunk records as they stream past (from the store by id, or from the index saved before
an ingest plus the chunks added since), writing each record to the index's corpus file as it goes
and keeping only packed token ids in memory, then saves the index under the fingerprint of the
chunk ids it holds, with the catalogue's summary beside it. The ids come from the ledger's rows
(`rag.store.records.chunk_ids`), so a start reads nothing from the store: it opens the saved index memory-mapped
and gets the chunk records from it. `FilteredBM25` is the per-query `BaseRetriever` that
`QueryFusionRetriever` fuses: it applies the date/source filters and drops the zero-score
padding bm25s adds when fewer chunks match than were asked for. Nothing here embeds, fuses or
folds duplicates.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import shutil
import tempfile
import threading
from array import array
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle

from rag.errors import RagError
from rag.store.catalogue import Catalogue, Joined, JsonLines, Kept, Summary, SummaryBuilder
from rag.store.chroma import Store
from rag.store.ledger import Ledger
from rag.store.record import NODE_ID, TEXT, corpus_entry, indexed_text, record_node
from rag.store.records import chunk_records
from rag.text.terms import K1, TOKEN_PATTERN, B

if TYPE_CHECKING:
    from rag.schema import Filters

log = logging.getLogger(__name__)


SUMMARY = "catalogue.json"  # the catalogue's summary, saved beside the index it was built with
BUILD_BATCH = 10_000  # records tokenised at a time while an index is built


class BM25Index:
    """The bm25s index of one store's chunks (None inside when there are none), with the summary
    of the catalogue it was built from and its chunk records (in memory after a build; on disk,
    memory-mapped, when loaded from the cache)."""

    def __init__(
        self, retriever: Any, summary: Summary, excluded: np.ndarray | None = None
    ) -> None:
        """`excluded`: chunks (by position) no longer in the store, never returned."""
        self.retriever = retriever
        self.summary = summary
        self.size = len(summary.ids)
        self.excluded = excluded
        self._columns: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def records(self) -> Sequence[dict[str, Any]]:
        return self.retriever.corpus if self.retriever is not None else []

    def columns(self) -> tuple[np.ndarray, np.ndarray]:
        """Each chunk's article date (date_num, 0 if undated) and source, in corpus order, as
        arrays: what a filter is computed over (made on the first filtered query)."""
        if self._columns is None:
            self._columns = (
                np.array(self.summary.dates, dtype=np.int64),
                np.array(self.summary.sources, dtype=object),
            )
        return self._columns

    @classmethod
    def cached(
        cls, cache_dir: Path | None, fingerprint: str, ledger: Ledger | None = None
    ) -> BM25Index | None:
        """The index saved for exactly these chunks, if there is one: its arrays and its corpus
        memory-mapped (a chunk's record is parsed when a hit or a citation needs it), so it opens
        in a second or two whatever the store's size, and processes share the pages. A corpus
        saved as chunk ids alone (`build` beside a ledger that keeps the records) reads its
        records from `ledger`: without one that keeps them, it is not usable."""
        import bm25s
        from llama_index.retrievers.bm25 import BM25Retriever

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets itself to DEBUG on import
        cached = cache_dir / fingerprint if cache_dir else None
        if cached is None or not (cached / "retriever.json").exists():
            return None
        why = _outdated(cached)
        if why is not None:
            log.info("BM25 index %s %s: rebuilding", cached, why)
            return None
        summary = Summary.load(cached / SUMMARY)
        try:
            bm25 = bm25s.BM25.load(str(cached), load_corpus=False, mmap=True, show_progress=False)
            bm25.corpus = JsonLines(cached / "corpus.jsonl")
            args = json.loads((cached / "retriever.json").read_text(encoding="utf-8"))
            args.pop("token_pattern", None)
            retriever = BM25Retriever(existing_bm25=bm25, token_pattern=TOKEN_PATTERN, **args)
        except Exception:
            log.warning("BM25 cache %s unreadable; rebuilding", cached)
            return None
        if summary is None or len(bm25.corpus) != len(summary.ids):
            return None
        if len(bm25.corpus) and _lean(bm25.corpus[0]):
            if ledger is None or not ledger.records_complete():
                return None
            bm25.corpus = retriever.corpus = Kept(summary.ids, ledger)
        return cls(retriever, summary)

    @staticmethod
    def is_saved(cache_dir: Path, fingerprint: str) -> bool:
        saved = cache_dir / fingerprint
        return (saved / SUMMARY).exists() and _outdated(saved) is None

    @staticmethod
    def any_saved(cache_dir: Path) -> bool:
        """An index is saved there (for these chunks or others), readable or not."""
        return any((d / SUMMARY).exists() and _outdated(d) is None for d in _saved_dirs(cache_dir))

    @classmethod
    def saved(cls, cache_dir: Path, ledger: Ledger | None = None) -> BM25Index | None:
        """The index saved for another set of chunks (before the latest ingest), if any."""
        found = [d for d in _saved_dirs(cache_dir) if (d / SUMMARY).exists()]
        for d in sorted(found, key=lambda d: d.stat().st_mtime, reverse=True):
            index = cls.cached(cache_dir, d.name, ledger)
            if index is not None:
                return index
        return None

    def patch(
        self, store: Store, ids: Sequence[str], fingerprint: str, ledger: Ledger | None
    ) -> tuple[Catalogue, BM25Index]:
        """This saved index brought up to a store that now holds `ids`: the catalogue lists and
        quotes every chunk (the new ones read from the store), BM25 never returns a removed one
        and does not know the new ones yet (the dense search finds them)."""
        now = set(ids)
        keep = [i for i, cid in enumerate(self.summary.ids) if cid in now]
        known = set(self.summary.ids)
        added = list(chunk_records(store, [cid for cid in ids if cid not in known], ledger))
        summary = self.summary.patched(keep, Summary.of(added))
        records = Joined(self.records, keep, [meta for _, meta in added])
        excluded = np.ones(self.size, dtype=bool)
        excluded[keep] = False
        catalogue = Catalogue(fingerprint, summary, records, ledger)
        return catalogue, BM25Index(self.retriever, self.summary, excluded)

    @classmethod
    def build(
        cls,
        records: Iterable[tuple[str, dict[str, Any]]],
        fingerprint: str,
        cache_dir: Path | None,
        *,
        done_reading: Callable[[], None] | None = None,
        ledger: Ledger | None = None,
    ) -> BM25Index:
        """Index chunk records (as read from the store, or from a saved index) as they stream
        past, save the index for the next start and open it from there, memory-mapped. Tokenised
        as llama-index's `BM25Retriever` does (English stop words and Snowball stemmer, the title
        with the text) by bm25s's `Tokenizer`, a batch at a time: each record goes to the corpus
        file as it is read, so memory holds 4 bytes per token, never the texts (a million and a
        half chunks read back at once took 10 GB and crashed chromadb)."""
        import Stemmer
        from bm25s.tokenization import Tokenized, Tokenizer
        from bm25s.utils.corpus import find_newline_positions, save_mmindex
        from llama_index.retrievers.bm25 import BM25Retriever

        from rag.retrieval.bm25_lean import LeanBM25

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        lean = ledger is not None and ledger.records_complete()
        root, part = _workspace(cache_dir)
        try:
            stemmer = Stemmer.Stemmer("english")
            tokenizer = Tokenizer(stopwords="en", stemmer=stemmer, splitter=TOKEN_PATTERN)
            collect = SummaryBuilder()
            tokens: list[array[int]] = []
            corpus = part / "corpus.jsonl"
            with corpus.open("w", encoding="utf-8") as out:
                stream = iter(records)
                while batch := list(itertools.islice(stream, BUILD_BATCH)):
                    texts = []
                    for chunk_id, meta in batch:
                        collect.add(chunk_id, meta)
                        # where the records file keeps the record, the corpus names it
                        entry = {NODE_ID: chunk_id} if lean else corpus_entry(chunk_id, meta)
                        out.write(json.dumps(entry, ensure_ascii=False) + "\n")
                        texts.append(indexed_text(meta))
                    ids = tokenizer.tokenize(texts, update_vocab=True, show_progress=False)
                    tokens.extend(array("i", doc) for doc in ids)
            if done_reading is not None:  # what was read from may let go of its memory
                done_reading()
            summary = collect.summary()
            save_mmindex(find_newline_positions(corpus, show_progress=False), path=corpus)
            if tokens:
                bm25 = LeanBM25(k1=K1, b=B)  # bm25s's index, built in a third of the memory
                bm25.index(
                    Tokenized(ids=tokens, vocab=tokenizer.get_vocab_dict()), show_progress=False
                )
                del tokens
                retriever = BM25Retriever(
                    existing_bm25=bm25,
                    stemmer=stemmer,
                    similarity_top_k=min(10, len(summary.ids)),
                    token_pattern=TOKEN_PATTERN,
                )
                retriever.persist(str(part), show_progress=False)  # the corpus is written above
                saved = part / "retriever.json"  # with the words it was cut into
                args = json.loads(saved.read_text(encoding="utf-8"))
                saved.write_text(json.dumps({**args, "token_pattern": TOKEN_PATTERN}), "utf-8")
            summary.save(part / SUMMARY)
            _keep(part, root / fingerprint, root)
        finally:
            shutil.rmtree(part, ignore_errors=True)
        built = cls.cached(root, fingerprint, ledger) if summary.ids else cls(None, summary)
        if root != cache_dir:
            shutil.rmtree(root, ignore_errors=True)  # what is mapped stays readable
        if built is None:
            raise RagError(f"the BM25 index saved in {root} cannot be read back")
        return built

    def retriever_for(self, k: int, filters: Filters) -> FilteredBM25:
        return FilteredBM25(self, k, filters)


class FilteredBM25(BaseRetriever):
    """The top `k` BM25 hits that pass `filters`."""

    def __init__(self, index: BM25Index, k: int, filters: Filters) -> None:
        super().__init__()
        self._index = index
        self._k = k
        self._filters = filters

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        """What llama-index's `BM25Retriever` does (the same tokens, scores and nodes), with the
        filters computed over the chunks that scored (`top_hits`), not as a mask over every
        chunk (which the retriever also made into a list and back into an array on every query,
        5 ms at 120k chunks), and the best `k` taken from the positive scores alone."""
        import bm25s

        lib = self._index.retriever
        if lib is None:
            return []
        k = min(self._k, self._index.size)
        tokens = bm25s.tokenize(
            query_bundle.query_str,
            stemmer=None if lib.skip_stemming else lib.stemmer,
            token_pattern=lib.token_pattern,
            show_progress=False,
        )
        words = bm25s.tokenization.convert_tokenized_to_string_list(tokens)[0]
        ids = lib.bm25.get_tokens_ids(words)  # (words the index has never seen left out)
        if not ids:
            return []
        scores = lib.bm25.get_scores_from_ids(ids)
        passes: Callable[[np.ndarray], np.ndarray] | None = None
        excluded = self._index.excluded
        if not self._filters.empty() or excluded is not None:
            dates, sources = self._index.columns()

            def passing(at: np.ndarray) -> np.ndarray:
                # (the sources, Python strings, picked out only for a filter that reads them)
                picked = sources[at] if self._filters.sources else None
                ok = self._filters.mask(dates[at], picked)
                return ok if excluded is None else ok & ~excluded[at]

            passes = passing
        best = [int(i) for i in top_hits(scores, k, passes)]
        corpus = lib.bm25.corpus if lib.bm25.corpus is not None else lib.corpus
        # records the ledger keeps are read together (one query), the saved ones one at a time
        found = corpus.picked(best) if isinstance(corpus, Kept) else (corpus[i] for i in best)
        hits = []
        for i, record in zip(best, found, strict=True):
            if self._filters.accepts(record):
                hits.append(NodeWithScore(node=record_node(record), score=float(scores[i])))
        return hits


def _lean(entry: dict[str, Any]) -> bool:
    """A corpus entry that only names its chunk (its record is the ledger's)."""
    return TEXT not in entry and "_node_content" not in entry


def top_hits(
    scores: np.ndarray,
    k: int,
    passes: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """The indices of the `k` highest positive scores, best first (equal ones by index), of
    the chunks that `passes` (given the positions of the chunks that scored, a boolean array).
    bm25s selects from every chunk's score with `np.argpartition`, which is slow on an array that
    is mostly zeros, after a filter's mask is computed over every chunk; the positive scores
    alone are few."""
    positive = np.flatnonzero(scores > 0)
    if passes is not None and len(positive):
        positive = positive[passes(positive)]
    if len(positive) > k:  # those at least as good as the k-th, ties included
        positive = positive[scores[positive] >= np.partition(scores[positive], -k)[-k]]
    return positive[np.lexsort((positive, -scores[positive]))][:k]


def _saved_dirs(cache_dir: Path) -> list[Path]:
    if not cache_dir.is_dir():
        return []
    return [d for d in cache_dir.iterdir() if d.is_dir() and not d.name.startswith(".")]


def _workspace(cache_dir: Path | None) -> tuple[Path, Path]:
    """Where an index is written (a folder aside in `cache_dir`) and the folder it is kept in:
    a temporary one when there is no cache or it cannot be written (a read-only store)."""
    if cache_dir is not None:
        part = cache_dir / f".part-{os.getpid()}-{threading.get_ident()}"
        try:
            shutil.rmtree(part, ignore_errors=True)
            part.mkdir(parents=True)
            return cache_dir, part
        except OSError as exc:
            log.warning(
                "cannot save the BM25 index in %s (%s): kept for this run only", cache_dir, exc
            )
    root = Path(tempfile.mkdtemp(prefix="rag-bm25-"))
    part = root / ".part"
    part.mkdir()
    return root, part


def _outdated(saved: Path) -> str | None:
    """Why the index saved in `saved` is not one this version builds (None when it is): a
    summary of another version, other words (TOKEN_PATTERN) or other K1 / B. An index of no
    chunks has its summary alone."""
    if not Summary.current(saved / SUMMARY):
        return "has a summary of another version"
    try:
        args = json.loads((saved / "retriever.json").read_text(encoding="utf-8"))
        params = json.loads((saved / "params.index.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return "cannot be read"
    if args.get("token_pattern", TOKEN_PATTERN) != TOKEN_PATTERN:  # unsaved: the default
        return "was cut into other words"
    if (params.get("k1"), params.get("b")) != (K1, B):
        return f"has k1={params.get('k1')} b={params.get('b')}, not {K1} {B}"
    return None


def _keep(part: Path, final: Path, cache_dir: Path) -> None:
    """Put an index written aside in place, whole or not at all (renamed: a reader never sees
    half of it), and remove those saved for other chunks (a process still reading one keeps its
    pages until it lets go)."""
    try:
        if final.exists() and _outdated(final) is not None:
            shutil.rmtree(final, ignore_errors=True)  # saved by an older version
        with contextlib.suppress(OSError):  # another process saved the same index first
            part.rename(final)
        for old in _saved_dirs(cache_dir):
            if old != final:
                shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        log.warning("could not keep the BM25 index: %s", exc)
