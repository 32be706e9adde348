"""What the index holds: every chunk's metadata and text, the list of articles, and which
articles carry each paragraph that was indexed only once (from the chunks' metadata and, where it
can be read, the ingestion ledger, which also names the articles that had nothing of their own to
index).

A `Catalogue` is a snapshot. Its `Summary` (chunk ids in order, each chunk's date and source, one
entry per article, the duplicate map) is small; the chunks' full records may stay on disk: when
the BM25 cache matches the store's fingerprint, the catalogue reads the summary saved beside it
and a chunk's text from the cache's corpus file when a citation asks for it (memory-mapped), so a
restart on a quarter million chunks parses no chunk. Otherwise the records are read back from the
store (`from_store`: Chroma returns ~6k chunks/s, so a 100k-chunk store takes seconds). The
retriever builds BM25 from those records and folds syndicated copies with `dup_map`; the API and
the UI list articles and show a cited chunk's full text from it. A new snapshot is taken after an
ingest (`HybridRetriever.refresh`). This module does not rank, and never writes to the store.
"""

from __future__ import annotations

import json
import mmap
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rag.ledger import Ledger
from rag.passages import ChunkMeta
from rag.store import Store

TEXT = "_text"  # where a record read from the store keeps its chunk's text
SUMMARY_VERSION = 2


@dataclass
class Summary:
    """What a catalogue knows without the chunks' texts, in the order of the chunk records."""

    ids: list[str]  # chunk ids
    article_ids: list[str]  # each chunk's article
    dates: list[int]  # each chunk's article date as YYYYMMDD (0: undated)
    sources: list[str]  # each chunk's source
    articles: dict[str, dict[str, Any]]  # article id -> catalogue entry with its chunk count
    dup_map: dict[str, list[str]]  # paragraph hash -> articles whose copy was indexed elsewhere
    latest: int  # the newest date of all

    @classmethod
    def of(cls, records: Iterable[tuple[str, dict[str, Any]]]) -> Summary:
        ids: list[str] = []
        article_ids: list[str] = []
        dates: list[int] = []
        sources: list[str] = []
        articles: dict[str, dict[str, Any]] = {}
        dups: dict[str, set[str]] = defaultdict(set)
        for chunk_id, meta in records:
            chunk = ChunkMeta.from_metadata(meta)
            ids.append(chunk_id)
            article_ids.append(chunk.article_id)
            dates.append(chunk.date_num)
            sources.append(chunk.source)
            entry = articles.setdefault(chunk.article_id, chunk.catalogue_entry() | {"chunks": 0})
            entry["chunks"] += 1
            for h in chunk.dup_hashes:
                dups[h].add(chunk.article_id)
        return cls(
            ids,
            article_ids,
            dates,
            sources,
            articles,
            {h: sorted(a) for h, a in dups.items()},
            max(dates, default=0),
        )

    def patched(self, keep: Sequence[int], added: Summary) -> Summary:
        """This summary with only the chunks at positions `keep`, then those of `added`."""
        articles: dict[str, dict[str, Any]] = {}
        for i in keep:
            a = self.article_ids[i]
            entry = articles.setdefault(a, self.articles[a] | {"chunks": 0})
            entry["chunks"] += 1
        for a, entry in added.articles.items():
            articles.setdefault(a, entry | {"chunks": 0})["chunks"] += entry["chunks"]
        alive = set(articles)
        dups = {h: alive.intersection(owners) for h, owners in self.dup_map.items()}
        for h, owners in added.dup_map.items():
            dups.setdefault(h, set()).update(owners)
        dates = [self.dates[i] for i in keep] + added.dates
        return Summary(
            [self.ids[i] for i in keep] + added.ids,
            [self.article_ids[i] for i in keep] + added.article_ids,
            dates,
            [self.sources[i] for i in keep] + added.sources,
            articles,
            {h: sorted(a) for h, a in dups.items() if a},
            max(dates, default=0),
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"version": SUMMARY_VERSION} | asdict(self)), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Summary | None:
        """The summary saved at `path`, or None if there is none (or it is of another version)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.pop("version", None) != SUMMARY_VERSION:
            return None
        try:
            return cls(**data)
        except TypeError:
            return None


class JsonLines(Sequence[dict[str, Any]]):
    """The records of a JSON-lines file by position, memory-mapped and parsed one at a time; the
    line offsets come from bm25s's saved `.mmindex.json`. Safe to read from many threads (bm25s's
    own `JsonlCorpus` seeks a shared file position)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offsets: list[int] = json.loads(
            path.with_suffix(".mmindex.json").read_text(encoding="utf-8")
        )
        with path.open("rb") as fh:
            self._map = (
                mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if self._offsets else None
            )

    def __len__(self) -> int:
        return len(self._offsets)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        start = self._offsets[int(index)]
        assert self._map is not None
        end = self._map.find(b"\n", start)
        line = self._map[start : end if end >= 0 else len(self._map)]
        return json.loads(line)


class Joined(Sequence[dict[str, Any]]):
    """The records at positions `keep` of `base`, then `extra`: a catalogue's records after
    chunks were added and removed, without copying the base's."""

    def __init__(
        self, base: Sequence[dict[str, Any]], keep: Sequence[int], extra: list[dict[str, Any]]
    ) -> None:
        self._base, self._keep, self._extra = base, keep, extra

    def __len__(self) -> int:
        return len(self._keep) + len(self._extra)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        i = int(index)
        if i < 0:
            i += len(self)
        if i < len(self._keep):
            return self._base[self._keep[i]]
        return self._extra[i - len(self._keep)]


class Catalogue:
    """Every chunk of one store, with the articles they belong to."""

    def __init__(
        self,
        fingerprint: str,
        summary: Summary,
        records: Sequence[dict[str, Any]],
        ledger: Ledger | None = None,
    ) -> None:
        """`records`: each chunk's flat metadata as llama-index stores it (the chunk's text under
        `_text` or inside `_node_content`), in the order of `summary.ids`."""
        self.fingerprint = fingerprint
        self.summary = summary
        self._records = records
        self._position = {chunk_id: i for i, chunk_id in enumerate(summary.ids)}
        self.latest = summary.latest  # the newest article's date as YYYYMMDD (0: none is dated)
        self.dup_map: dict[str, set[str]] = defaultdict(set)
        for h, articles in summary.dup_map.items():
            self.dup_map[h] = set(articles)
        # articles with nothing of their own to index have no chunk: the ledger names them
        self.chunkless: list[dict[str, Any]] = []
        if ledger is not None:
            for h, copies in ledger.copies_map().items():
                self.dup_map[h] |= copies
            empty = [i for i, n in ledger.chunk_counts().items() if n == 0]
            for body in ledger.bodies(empty).values():
                entry = ChunkMeta(
                    article_id=str(body["id"]),
                    title=str(body.get("title") or ""),
                    date=str(body.get("date") or ""),
                    source=str(body.get("source") or ""),
                    author=str(body.get("author") or ""),
                    location=str(body.get("location") or ""),
                ).catalogue_entry()
                self.chunkless.append(entry | {"chunks": 0})
        listed = {e["article_id"]: e for e in self.chunkless} | summary.articles
        self._articles = sorted(listed.values(), key=lambda e: (e["date"], e["article_id"]))

    @classmethod
    def of_records(
        cls,
        fingerprint: str,
        records: Iterable[tuple[str, dict[str, Any]]],
        ledger: Ledger | None = None,
    ) -> Catalogue:
        """A catalogue of (chunk id, flat metadata) records held in memory."""
        pairs = list(records)
        return cls(fingerprint, Summary.of(pairs), [meta for _, meta in pairs], ledger)

    @classmethod
    def from_store(
        cls, store: Store, ledger: Ledger | None = None, fingerprint: str | None = None
    ) -> Catalogue:
        """Read every chunk back from the store (slow on a big one: Chroma returns ~6k/s);
        `fingerprint`: the store's, when the caller has just read it."""
        fingerprint = fingerprint or store.fingerprint()
        records = ((r.id, r.metadata | {TEXT: r.text}) for r in store.records())
        return cls.of_records(fingerprint, records, ledger)

    def bm25_corpus(self) -> tuple[list[dict[str, Any]], list[str]]:
        """What llama-index's BM25 retriever keeps per chunk (its stored metadata, the text inside
        `_node_content`, `node_id`), and the text it indexes (title and text, as the embedding
        sees them): made from the records directly, without a node object per chunk. Then the
        catalogue keeps those records (one copy of each text, not two)."""
        corpus, texts = [], []
        for chunk_id, meta in zip(self.summary.ids, self._records, strict=True):
            text = _text(meta)
            content = json.loads(meta.get("_node_content") or "{}")
            content["text"] = text
            entry = {k: v for k, v in meta.items() if k != TEXT}
            entry["_node_content"] = json.dumps(content)
            entry["node_id"] = chunk_id
            corpus.append(entry)
            title = str(meta.get("title") or "")
            texts.append(f"title: {title}\n\n{text}" if title else text)
        self._records = corpus
        return corpus, texts

    @property
    def size(self) -> int:
        """Chunks indexed."""
        return len(self.summary.ids)

    def chunk_text(self, chunk_id: str) -> str | None:
        """The full text of one indexed chunk (what a citation's chunk id names), if still there."""
        at = self._position.get(chunk_id)
        return None if at is None else _text(self._records[at])

    def also_in(self, meta: ChunkMeta) -> list[str]:
        """Other articles that carry paragraphs of this chunk (indexed once, under its article)."""
        found: set[str] = set()
        for h in meta.para_hashes:
            found |= self.dup_map.get(h, set())
        found.discard(meta.article_id)
        return sorted(found)

    def articles(self) -> list[dict[str, Any]]:
        """One entry per article with its metadata and chunk count, oldest first."""
        return [dict(e) for e in self._articles]


def _text(meta: dict[str, Any]) -> str:
    if TEXT in meta:
        return str(meta[TEXT])
    return str(json.loads(meta.get("_node_content") or "{}").get("text", ""))
