"""The BM25 index built in place (`rag.retrieval.bm25_lean.LeanBM25`) is bm25s's own: the same
arrays, byte for byte, whatever the batches, and it saves and loads back as bm25s's."""

from __future__ import annotations

from pathlib import Path

import bm25s
import numpy as np
import pytest
from bm25s.tokenization import Tokenized

import rag.retrieval.bm25_lean as lean
from rag.retrieval.bm25_lean import LeanBM25
from rag.text.terms import K1, B


def _corpus(docs: int = 700, words: int = 300, seed: int = 7) -> Tokenized:
    """Chunks of 0 to 60 words drawn unevenly from a vocabulary (some words in most chunks,
    most in few; words repeated within a chunk; empty chunks)."""
    rng = np.random.default_rng(seed)
    ids = [
        [int(w) for w in np.minimum(rng.zipf(1.3, size=rng.integers(0, 60)) - 1, words - 1)]
        for _ in range(docs)
    ]
    ids[3] = []
    return Tokenized(ids=ids, vocab={f"w{i}": i for i in range(words)})


def _arrays(model: bm25s.BM25) -> dict[str, np.ndarray]:
    return {k: model.scores[k] for k in ("data", "indices", "indptr")}


@pytest.mark.parametrize("batch", [1, 64, 100_000])
def test_the_same_arrays_as_bm25s(monkeypatch: pytest.MonkeyPatch, batch: int) -> None:
    monkeypatch.setattr(lean, "BATCH", batch)
    stock, ours = bm25s.BM25(k1=K1, b=B), LeanBM25(k1=K1, b=B)
    stock.index(_corpus(), show_progress=False)  # (each adds the empty word to its vocabulary)
    ours.index(_corpus(), show_progress=False)
    assert ours.scores["num_docs"] == stock.scores["num_docs"] == 700
    assert ours.vocab_dict == stock.vocab_dict
    for name, theirs in _arrays(stock).items():
        mine = _arrays(ours)[name]
        assert mine.dtype == theirs.dtype, name
        assert np.array_equal(mine, theirs), name


def test_other_scorings_are_built_by_bm25s() -> None:
    """BM25L keeps a score for words a chunk lacks: built by bm25s's own assembly, the same."""
    stock, ours = bm25s.BM25(method="bm25l"), LeanBM25(method="bm25l")
    stock.index(_corpus(docs=120), show_progress=False)
    ours.index(_corpus(docs=120), show_progress=False)
    for name, theirs in _arrays(stock).items():
        assert np.array_equal(_arrays(ours)[name], theirs), name


def test_saved_and_loaded_as_bm25s(tmp_path: Path) -> None:
    corpus = _corpus()
    ours, stock = LeanBM25(k1=K1, b=B), bm25s.BM25(k1=K1, b=B)
    ours.index(corpus, show_progress=False)
    stock.index(_corpus(), show_progress=False)
    ours.save(str(tmp_path / "index"))
    loaded = bm25s.BM25.load(str(tmp_path / "index"), mmap=True)
    for query in (["w0"], ["w5", "w17"], ["w250", "w1", "w1"]):
        ids = [corpus.vocab[w] for w in query]
        assert np.array_equal(loaded.get_scores(ids), stock.get_scores(ids))
    docs, scores = loaded.retrieve([["w5", "w17"]], k=5, show_progress=False)
    assert scores[0][0] > 0 and len(docs[0]) == 5
