"""The chunk metadata contract, and the `Passage` that retrieval hands to the answerers.

`index.ingest` writes every chunk's metadata with `ChunkMeta.to_metadata()`; retrieval reads it
back with `ChunkMeta.from_metadata()` and builds a `Passage` with `ChunkMeta.passage()`: the keys
(`article_id`, `date_num`, `para_hashes`, …) are spelled here and nowhere else. Chroma keeps flat
metadata, so lists are stored as space-separated strings. The key order is part of the stored
format (llama-index hashes a document's metadata to tell a changed article), so new keys go last.
This module reads and writes dictionaries; it knows nothing of stores or models.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import numpy as np

ARTICLE_ID = "article_id"
DATE_NUM = "date_num"  # YYYYMMDD as an int, 0 when undated: what date filters compare
SOURCE = "source"
PARA_HASHES = "para_hashes"
DUP_HASHES = "dup_hashes"
# only the title is embedded with the text; an LLM also sees the date and source
EMBED_KEYS = ("title",)
LLM_KEYS = ("title", "date", "source")


def chunk_id(article_id: str, content_hash: str, position: int) -> str:
    """A chunk's id: its article, the article's content hash as indexed and the chunk's place in
    it. So the ledger's (article, hash, chunk count) rows name every chunk in the store."""
    return f"{article_id}:{content_hash[:8]}:{position}"


def chunk_version(chunk: str, article_id: str) -> str:
    """The content hash (its first 8 characters) a chunk id names: the version of its article
    it was written from (`chunk_id`'s middle part; the article id may hold colons itself)."""
    return chunk[len(article_id) + 1 :].split(":")[0]


def chunk_article(chunk: str) -> str:
    """The article a chunk id names (`chunk_id`'s first part, which may hold colons itself)."""
    return chunk.rsplit(":", 2)[0]


def date_num(day: date | None) -> int:
    return int(day.strftime("%Y%m%d")) if day else 0


def _words(value: Any) -> tuple[str, ...]:
    return tuple(str(value or "").split())


@dataclass
class Passage:
    chunk_id: str
    article_id: str
    title: str
    date: str
    source: str
    author: str
    location: str
    text: str
    score: float
    also_in: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def position(self) -> int | None:
        """The chunk's place in its article (0: the article's opening), from its id
        (`chunk_id`); None for an id of another shape."""
        tail = self.chunk_id.rpartition(":")[2]
        return int(tail) if tail.isdigit() else None


@dataclass(frozen=True)
class ChunkMeta:
    """What every chunk of an article carries besides its text."""

    article_id: str
    title: str = ""
    date: str = ""  # ISO date, "" when undated
    source: str = ""
    author: str = ""
    location: str = ""  # file path or URL
    dup_hashes: tuple[str, ...] = ()  # the article's paragraphs indexed under another article
    dup_of: tuple[str, ...] = ()  # those other articles
    para_hashes: tuple[str, ...] = ()  # the article's paragraphs this chunk carries

    @property
    def date_num(self) -> int:
        return date_num(date.fromisoformat(self.date)) if self.date else 0

    def to_metadata(self) -> dict[str, str | int]:
        meta: dict[str, str | int] = {
            ARTICLE_ID: self.article_id,
            "title": self.title,
            "date": self.date,
            DATE_NUM: self.date_num,
            SOURCE: self.source,
            "author": self.author,
            "location": self.location,
            DUP_HASHES: " ".join(self.dup_hashes),
            "dup_of": " ".join(self.dup_of),
        }
        if self.para_hashes:
            meta[PARA_HASHES] = " ".join(self.para_hashes)
        return meta

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any]) -> ChunkMeta:
        return cls(
            article_id=str(meta.get(ARTICLE_ID, "")),
            title=str(meta.get("title", "")),
            date=str(meta.get("date", "")),
            source=str(meta.get(SOURCE, "")),
            author=str(meta.get("author", "")),
            location=str(meta.get("location", "")),
            dup_hashes=_words(meta.get(DUP_HASHES)),
            dup_of=_words(meta.get("dup_of")),
            para_hashes=_words(meta.get(PARA_HASHES)),
        )

    def passage(
        self, chunk_id: str, text: str, score: float, also_in: Sequence[str] = ()
    ) -> Passage:
        return Passage(
            chunk_id=chunk_id,
            article_id=self.article_id,
            title=self.title,
            date=self.date,
            source=self.source,
            author=self.author,
            location=self.location,
            text=text,
            score=score,
            also_in=list(also_in),
        )

    def catalogue_entry(self) -> dict[str, Any]:
        """The article's row in the list of what is indexed (without its chunk count)."""
        return {
            ARTICLE_ID: self.article_id,
            "title": self.title,
            "date": self.date,
            SOURCE: self.source,
            "author": self.author,
            "location": self.location,
        }


@dataclass
class Filters:
    """Which articles may answer: published in [date_from, date_to], from these sources, and not
    after `as_of` (the date the question is asked as of; undated articles are kept)."""

    date_from: date | None = None
    date_to: date | None = None
    sources: list[str] | None = None
    as_of: date | None = None

    def empty(self) -> bool:
        return not (self.date_from or self.date_to or self.sources or self.as_of)

    def to_where(self) -> dict[str, Any] | None:
        """The same filter as a Chroma `where` clause."""
        clauses: list[dict[str, Any]] = []
        if self.date_from:
            clauses.append({DATE_NUM: {"$gte": date_num(self.date_from)}})
        if self.date_to:  # a range ends: undated articles (date_num 0) are outside it
            clauses += [{DATE_NUM: {"$lte": date_num(self.date_to)}}, {DATE_NUM: {"$gte": 1}}]
        if self.sources:
            clauses.append({SOURCE: {"$in": list(self.sources)}})
        if self.as_of:  # undated articles have date_num 0, so they pass
            clauses.append({DATE_NUM: {"$lte": date_num(self.as_of)}})
        if len(clauses) > 1:
            return {"$and": clauses}
        return clauses[0] if clauses else None

    def to_sql(self) -> tuple[str, list[Any]]:
        """`accepts` as an SQL condition over the columns `date_num` and `source` (`%s`
        parameters), with its parameters."""
        clauses: list[str] = []
        params: list[Any] = []
        if self.date_from:
            clauses.append("date_num >= %s")
            params.append(date_num(self.date_from))
        if self.date_to:
            clauses.append("date_num BETWEEN 1 AND %s")
            params.append(date_num(self.date_to))
        if self.as_of:
            clauses.append("date_num <= %s")
            params.append(date_num(self.as_of))
        if self.sources:
            clauses.append("source = ANY(%s)")
            params.append(list(self.sources))
        return " AND ".join(clauses) or "TRUE", params

    def mask(self, dates: np.ndarray, sources: np.ndarray | None) -> np.ndarray:
        """`accepts` over whole columns at once: chunk i passes when its article's date_num
        `dates[i]` and source `sources[i]` do (a boolean array). `sources` is read only by a
        filter that names sources (None will do for the others)."""
        ok = np.ones(len(dates), dtype=bool)
        if self.date_from:
            ok &= dates >= date_num(self.date_from)
        if self.date_to:
            ok &= (dates != 0) & (dates <= date_num(self.date_to))
        if self.as_of:
            ok &= dates <= date_num(self.as_of)
        if self.sources:
            if sources is None:
                raise ValueError("a filter on sources needs the chunks' sources")
            ok &= np.isin(sources, list(self.sources))
        return ok

    def accepts(self, meta: dict[str, Any]) -> bool:
        num = int(meta.get(DATE_NUM) or 0)
        if self.date_from and num < date_num(self.date_from):
            return False
        if self.date_to and (num == 0 or num > date_num(self.date_to)):
            return False
        if self.as_of and num > date_num(self.as_of):
            return False
        return not (self.sources and meta.get(SOURCE) not in self.sources)
