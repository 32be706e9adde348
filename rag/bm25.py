"""BM25 over every chunk in the store, as a llama-index retriever, cached on disk beside the store.

llama-index's `BM25Retriever` (bm25s with an English stemmer) does the scoring. `BM25Index` builds
it from a `Catalogue`'s records once per store fingerprint and keeps it in `cache_dir` (rebuilt when
the chunks change), with the catalogue's summary beside it; a saved index is opened memory-mapped
and gives back the chunk records it holds, so a restart reads nothing from the store but its
fingerprint. `FilteredBM25` is the per-query `BaseRetriever` that `QueryFusionRetriever`
fuses: it applies the date/source filters and drops the zero-score padding bm25s adds when fewer
chunks match than were asked for. Nothing here embeds, fuses or folds duplicates.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle

from rag.catalogue import TEXT, Catalogue, Joined, JsonLines, Summary
from rag.errors import RagError
from rag.ledger import Ledger
from rag.settings import Settings
from rag.store import Store

if TYPE_CHECKING:
    from rag.retrieval import Filters

log = logging.getLogger(__name__)
TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # llama-index's BM25Retriever's default


SUMMARY = "catalogue.json"  # the catalogue's summary, saved beside the index it was built with


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
    def cached(cls, cache_dir: Path | None, fingerprint: str) -> BM25Index | None:
        """The index saved for exactly these chunks, if there is one: its arrays and its corpus
        memory-mapped (a chunk's record is parsed when a hit or a citation needs it), so it opens
        in a second or two whatever the store's size, and processes share the pages."""
        import bm25s
        from llama_index.retrievers.bm25 import BM25Retriever

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets itself to DEBUG on import
        cached = cache_dir / fingerprint if cache_dir else None
        if cached is None or not (cached / "retriever.json").exists():
            return None
        summary = Summary.load(cached / SUMMARY)
        if summary is None:
            return None  # saved by an older version: rebuilt once
        try:
            bm25 = bm25s.BM25.load(str(cached), load_corpus=False, mmap=True, show_progress=False)
            bm25.corpus = JsonLines(cached / "corpus.jsonl")
            args = json.loads((cached / "retriever.json").read_text(encoding="utf-8"))
            retriever = BM25Retriever(existing_bm25=bm25, token_pattern=TOKEN_PATTERN, **args)
        except Exception:
            log.warning("BM25 cache %s unreadable; rebuilding", cached)
            return None
        if len(bm25.corpus) != len(summary.ids):
            return None
        return cls(retriever, summary)

    @staticmethod
    def is_saved(cache_dir: Path, fingerprint: str) -> bool:
        return (cache_dir / fingerprint / SUMMARY).exists()

    @classmethod
    def saved(cls, cache_dir: Path) -> BM25Index | None:
        """The index saved for another set of chunks (before the latest ingest), if any."""
        found = [d for d in _saved_dirs(cache_dir) if (d / SUMMARY).exists()]
        for d in sorted(found, key=lambda d: d.stat().st_mtime, reverse=True):
            index = cls.cached(cache_dir, d.name)
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
        added = [
            (r.id, r.metadata | {TEXT: r.text})
            for r in store.records_of([cid for cid in ids if cid not in known])
        ]
        summary = self.summary.patched(keep, Summary.of(added))
        records = Joined(self.records, keep, [meta for _, meta in added])
        excluded = np.ones(self.size, dtype=bool)
        excluded[keep] = False
        catalogue = Catalogue(fingerprint, summary, records, ledger)
        return catalogue, BM25Index(self.retriever, self.summary, excluded)

    @classmethod
    def build(cls, catalogue: Catalogue, cache_dir: Path | None) -> BM25Index:
        """Index the catalogue's chunks and save the index for the next start. Tokenised as
        llama-index's `BM25Retriever` does (English stop words and Snowball stemmer, the title
        with the text), but from the records themselves: a llama-index node per chunk cost
        gigabytes on a store of a quarter million chunks."""
        import bm25s
        import Stemmer
        from llama_index.retrievers.bm25 import BM25Retriever

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        if not catalogue.size:
            return cls(None, catalogue.summary)
        corpus, texts = catalogue.bm25_corpus()
        stemmer = Stemmer.Stemmer("english")
        tokens = bm25s.tokenize(
            texts, stopwords="en", stemmer=stemmer, token_pattern=TOKEN_PATTERN, show_progress=False
        )
        del texts
        bm25 = bm25s.BM25()
        bm25.index(tokens, show_progress=False)
        bm25.corpus = corpus
        retriever = BM25Retriever(
            existing_bm25=bm25,
            stemmer=stemmer,
            similarity_top_k=min(10, len(corpus)),
            token_pattern=TOKEN_PATTERN,
        )
        if cache_dir is not None:
            _save(retriever, catalogue, cache_dir)
        return cls(retriever, catalogue.summary)

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
        from llama_index.retrievers.bm25 import BM25Retriever

        if self._index.retriever is None:
            return []
        k = min(self._k, self._index.size)
        mask = None
        excluded = self._index.excluded
        if not self._filters.empty() or excluded is not None:  # computed over arrays: a filter's
            ok = self._filters.mask(*self._index.columns())  # own pass over every chunk took 0.5 s
            if excluded is not None:  # at 120k chunks
                ok &= ~excluded
            if not ok.any():
                return []
            mask = ok.astype(np.int8).tolist()
        r = BM25Retriever(
            existing_bm25=self._index.retriever.bm25, similarity_top_k=k, corpus_weight_mask=mask
        )
        return [
            hit
            for hit in r.retrieve(query_bundle)
            if (hit.score or 0) > 0 and self._filters.accepts(hit.node.metadata)
        ]


def _saved_dirs(cache_dir: Path) -> list[Path]:
    if not cache_dir.is_dir():
        return []
    return [d for d in cache_dir.iterdir() if d.is_dir() and not d.name.startswith(".")]


def _save(retriever: Any, catalogue: Catalogue, cache_dir: Path) -> None:
    """Save the index for `catalogue.fingerprint`, whole or not at all (written aside, then
    renamed: a reader never sees half of it), and remove those saved for other chunks (a process
    still reading one keeps its pages until it lets go)."""
    final = cache_dir / catalogue.fingerprint
    part = cache_dir / f".part-{os.getpid()}-{threading.get_ident()}"
    try:
        shutil.rmtree(part, ignore_errors=True)
        part.mkdir(parents=True)
        retriever.persist(str(part), show_progress=False)
        catalogue.summary.save(part / SUMMARY)
        if final.exists() and Summary.load(final / SUMMARY) is None:
            shutil.rmtree(final, ignore_errors=True)  # saved by an older version
        try:
            part.rename(final)
        except OSError:  # another process saved the same index first
            shutil.rmtree(part, ignore_errors=True)
        for old in _saved_dirs(cache_dir):
            if old != final:
                shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(part, ignore_errors=True)
        log.warning("could not cache BM25 index: %s", exc)


def rebuild_in_background(settings: Settings) -> None:
    """Start a separate process that builds and saves the BM25 index of the store as it is now
    (`python -m rag.bm25`): a server keeps answering meanwhile and picks it up when saved."""
    s = settings.store
    cache_dir = Path(s.path) / "bm25" / s.collection
    env = os.environ | {"RAG_STORE__PATH": str(s.path), "RAG_STORE__COLLECTION": s.collection}
    env.pop("RAG_STORE__HOST", None)
    if s.host:  # the vectors are on a Chroma server
        env |= {"RAG_STORE__HOST": s.host, "RAG_STORE__PORT": str(s.port)}
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        out = (cache_dir.parent / f"{s.collection}.build.log").open("ab")
    except OSError as exc:  # a read-only store: answered from the saved index as patched
        log.warning("cannot rebuild the BM25 index of %s (%s)", s.path, exc)
        return
    with out:
        subprocess.Popen(
            [sys.executable, "-m", "rag.bm25"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives a short-lived parent such as `rag ask`
        )


def main() -> int:
    """Build and save the BM25 index of the store the environment names, from the saved one
    and the chunks added since (one builder per store at a time: a second one exits)."""
    from rag.ledger import open_ledger
    from rag.settings import load

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    settings = load(None)
    s = settings.store
    cache_dir = Path(s.path) / "bm25" / s.collection
    cache_dir.mkdir(parents=True, exist_ok=True)
    with (cache_dir.parent / f"{s.collection}.build.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another process is building this index")
            return 0
        store = Store(s, fresh=True)
        ids = store.ids()
        fingerprint = store.fingerprint(ids)
        if BM25Index.cached(cache_dir, fingerprint) is not None:
            return 0
        try:
            ledger: Ledger | None = open_ledger(settings)
        except RagError:
            ledger = None
        base = BM25Index.saved(cache_dir)
        if base is not None:
            catalogue, _ = base.patch(store, ids, fingerprint, ledger)
        else:
            catalogue = Catalogue.from_store(store, ledger, fingerprint)
        started = time.perf_counter()
        BM25Index.build(catalogue, cache_dir)
        log.info(
            "BM25 index of %d chunks saved in %.1f s", catalogue.size, time.perf_counter() - started
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
