"""The words BM25 counts, and their weights, for the keyword half of search kept on a server
(`rag.store.keywords`): a text cut as llama-index's BM25 retriever cuts it (bm25s's word pattern
and English stop words, the Snowball stemmer of PyStemmer), each stem named by a number that is
the same on every machine (a hash, where bm25s numbers words in the order one index met them), and
BM25's two halves as sparse vectors: a chunk's term-frequency part, and a question's inverse
document frequencies. Their inner product is the chunk's BM25 score.

The embedded store keeps its BM25 index with bm25s (`rag.retrieval.bm25`), with the same words
and the same K1 and B.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Mapping
from functools import cached_property

# llama-index's BM25Retriever's default: words of two characters or more. (Single digits as
# words too, so that "about 5%" is searched by its 5, changed nothing on either RealTimeQA year,
# 2026-12-06: docs/results.md.) An index saved with another pattern is rebuilt once.
TOKEN_PATTERN = r"(?u)\b\w\w+\b"
# BM25's term saturation and length normalisation: Anserini's defaults for passages, not bm25s's
# 1.5 / 0.75: they suit short news passages and answered better on both development years. An
# index saved with other values is rebuilt once.
K1, B = 0.9, 0.4

# the space the stems are hashed into: pgvector's largest sparse vector (1e9 dimensions); at a
# few hundred thousand stems, two of them share a number about once in 20,000 questions' words
DIMENSIONS = 1_000_000_000
# what pgvector's HNSW index takes of a sparse vector: a chunk's heaviest terms, up to this many
MAX_TERMS = 1000


class Terms:
    """A text's stems, counted by their numbers."""

    @cached_property
    def _parts(self) -> tuple[re.Pattern[str], frozenset[str], object]:
        import Stemmer
        from bm25s.stopwords import STOPWORDS_EN

        return re.compile(TOKEN_PATTERN), frozenset(STOPWORDS_EN), Stemmer.Stemmer("english")

    def stems(self, text: str) -> list[str]:
        """The stems of `text`, in order, as bm25s's `Tokenizer` makes them (lower case, the
        word pattern, English stop words out, stemmed)."""
        pattern, stop, stemmer = self._parts
        words = [w for w in pattern.findall(text.lower()) if w not in stop]
        return list(stemmer.stemWords(words))  # type: ignore[attr-defined]

    def counts(self, text: str) -> Counter[int]:
        """How often each stem of `text` occurs, by its number."""
        return Counter(self.numbers(self.stems(text)))

    @staticmethod
    def numbers(stems: list[str]) -> list[int]:
        return [term_number(s) for s in stems]


def term_number(stem: str) -> int:
    """The stem's number (0 to DIMENSIONS - 1), the same in every process and on every machine."""
    digest = hashlib.blake2b(stem.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % DIMENSIONS


def frequency_part(counts: Mapping[int, int], length: int, average: float) -> dict[int, float]:
    """A chunk's BM25 weights without the inverse document frequency (Lucene's form:
    tf / (tf + K1 * (1 - B + B * length / average))), its heaviest MAX_TERMS terms."""
    norm = K1 * (1 - B + B * length / max(average, 1.0))
    weights = {t: c / (c + norm) for t, c in counts.items()}
    if len(weights) > MAX_TERMS:
        weights = dict(sorted(weights.items(), key=lambda tw: (-tw[1], tw[0]))[:MAX_TERMS])
    return weights


def idf(documents: int, frequency: int) -> float:
    """Lucene's inverse document frequency (as bm25s's default method)."""
    return math.log(1 + (documents - frequency + 0.5) / (frequency + 0.5))


def sparse_text(weights: Mapping[int, float]) -> str:
    """pgvector's text form of a sparse vector (its indices count from 1)."""
    inner = ",".join(f"{t + 1}:{w:.6g}" for t, w in sorted(weights.items()))
    return "{" + inner + "}/" + str(DIMENSIONS)


def parse_sparse(text: str) -> dict[int, float]:
    """The weights of a sparse vector in pgvector's text form."""
    inner = text[text.index("{") + 1 : text.index("}")]
    if not inner:
        return {}
    pairs = (p.split(":") for p in inner.split(","))
    return {int(i) - 1: float(w) for i, w in pairs}
