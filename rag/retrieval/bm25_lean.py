"""bm25s's BM25 with its score matrix written in place, column by column: the same index in a
third of the memory.

bm25s builds the matrix as three arrays of every (chunk, word) pair (score, row, column), then
lets scipy turn them into the compressed-column matrix it keeps: about five copies of the
pairs in memory at once (1.5 million chunks hold 130 million pairs: 7 GB at its peak). Its
`build_index_from_ids` is the documented place to build the matrix another way. `LeanBM25`
counts each word's chunks first, so every column's place is known, then scores a batch of chunks
at a time (with bm25s's own idf and term-frequency functions) and writes each score where it
belongs: the matrix itself, and one batch, are all it holds. The arrays are those bm25s would
save (tested: equal to the stock build's, byte for byte). Nothing here tokenises or searches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import bm25s
import numpy as np
from bm25s.scoring import _build_idf_array, _select_idf_scorer, _select_tfc_scorer

BATCH = 20_000  # chunks scored at a time


class LeanBM25(bm25s.BM25):
    """`bm25s.BM25` whose index is built in place (`build_index_from_ids`); searching,
    saving and loading are bm25s's own."""

    def build_index_from_ids(
        self,
        unique_token_ids: list[int],
        corpus_token_ids: Sequence[Sequence[int]],
        show_progress: bool = True,
        leave_progress: bool = False,
    ) -> dict[str, Any]:
        if self.method in self.methods_requiring_nonoccurrence:  # (not used here)
            return super().build_index_from_ids(
                unique_token_ids, corpus_token_ids, show_progress, leave_progress
            )
        self.nonoccurrence_array = None  # (bm25s saves it: only BM25L and BM25+ have one)
        n_docs, n_vocab = len(corpus_token_ids), len(unique_token_ids)
        if n_vocab and max(unique_token_ids) != n_vocab - 1:  # (the tokeniser numbers 0..n-1)
            return super().build_index_from_ids(
                unique_token_ids, corpus_token_ids, show_progress, leave_progress
            )
        lengths = np.fromiter((len(d) for d in corpus_token_ids), dtype=np.int64, count=n_docs)
        avg_doc_len = lengths.mean()
        # each word's chunks, counted: where its column starts and ends
        df = np.zeros(n_vocab, dtype=np.int64)
        for start in range(0, n_docs, BATCH):
            rows, terms, _ = _pairs(corpus_token_ids, start, n_vocab)
            df += np.bincount(terms, minlength=n_vocab)
        idf = _build_idf_array(
            dict(enumerate(df.tolist())),
            n_docs=n_docs,
            compute_idf_fn=_select_idf_scorer(self.idf_method),
            dtype=self.dtype,
        )
        nnz = int(df.sum())
        index_dtype = np.int32 if nnz < np.iinfo(np.int32).max else np.int64
        indptr = np.zeros(n_vocab + 1, dtype=np.int64)  # (as scipy gives it to bm25s)
        np.cumsum(df, out=indptr[1:])
        heads = indptr[:-1].copy()  # where each column's next score goes
        data = np.empty(nnz, dtype=self.dtype)
        indices = np.empty(nnz, dtype=index_dtype)
        tfc = _select_tfc_scorer(self.method)
        for start in range(0, n_docs, BATCH):
            rows, terms, tf = _pairs(corpus_token_ids, start, n_vocab)
            scores = idf[terms] * tfc(
                tf_array=tf.astype(self.dtype),
                l_d=lengths[rows],
                l_avg=avg_doc_len,
                k1=self.k1,
                b=self.b,
                delta=self.delta,
            )
            order = np.argsort(terms, kind="stable")  # by word, each word's chunks in order
            terms, rows, scores = terms[order], rows[order], scores[order]
            rank = np.arange(len(terms)) - np.searchsorted(terms, terms, side="left")
            at = heads[terms] + rank
            data[at] = scores
            indices[at] = rows
            heads += np.bincount(terms, minlength=n_vocab)
        return {"data": data, "indices": indices, "indptr": indptr, "num_docs": n_docs}


def _pairs(
    corpus: Sequence[Sequence[int]], start: int, n_vocab: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (chunk, word, count) of each word of the batch of chunks from `start`, by chunk then
    word."""
    batch = corpus[start : start + BATCH]
    sizes = np.fromiter((len(d) for d in batch), dtype=np.int64, count=len(batch))
    words = np.concatenate(
        [np.asarray(d, dtype=np.int64) for d in batch] or [np.zeros(0, dtype=np.int64)]
    )
    docs = np.repeat(np.arange(start, start + len(batch), dtype=np.int64), sizes)
    keys, counts = np.unique(docs * n_vocab + words, return_counts=True)
    return keys // n_vocab, keys % n_vocab, counts
