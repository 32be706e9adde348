"""What the index holds: every chunk's metadata and text, the list of articles, and which
articles carry each paragraph that was indexed only once (from the chunks' metadata and, where it
can be read, the ingestion ledger, which also names the articles that had nothing of their own to
index).

A `Catalogue` is a snapshot. Its `Summary` (chunk ids in order, each chunk's date and source, one
entry per article, the duplicate map) is small; the chunks' full records stay on disk, in the
corpus file of the BM25 index they were indexed into (`rag.retrieval.bm25`), memory-mapped: a chunk's text
is parsed when a citation asks for it, so a start on a million chunks parses none. The retriever
folds syndicated copies with `dup_map`; the API and the UI list articles and show a cited chunk's
full text from it. A new snapshot is taken after an ingest (`HybridRetriever.refresh`). This
module does not rank, does not read the store and never writes to it.
"""

from __future__ import annotations

import mmap
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from rag.schema import DATE_NUM, SOURCE, ChunkMeta, chunk_version
from rag.store.ledger import Ledger
from rag.store.record import NODE_ID, TEXT, record_text

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
        collect = SummaryBuilder()
        for chunk_id, meta in records:
            collect.add(chunk_id, meta)
        return collect.summary()

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
        path.write_bytes(orjson.dumps({"version": SUMMARY_VERSION} | asdict(self)))

    @staticmethod
    def current(path: Path) -> bool:
        """Whether the summary saved at `path` is of this version, read from its first bytes
        (`save` writes the version first): parsing it whole takes a second at 1.5M chunks."""
        try:
            with path.open("rb") as f:
                head = f.read(64)
        except OSError:
            return False
        found = re.match(rb'\{"version":(\d+)[,}]', head)
        return found is not None and int(found.group(1)) == SUMMARY_VERSION

    @classmethod
    def load(cls, path: Path) -> Summary | None:
        """The summary saved at `path`, or None if there is none (or it is of another version)."""
        try:
            data = orjson.loads(path.read_bytes())  # 150 MB at 1.5M chunks: 3x json's speed
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.pop("version", None) != SUMMARY_VERSION:
            return None
        try:
            return cls(**data)
        except TypeError:
            return None


class SummaryBuilder:
    """A `Summary` gathered one chunk record at a time (as records stream past to an index)."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.article_ids: list[str] = []
        self.dates: list[int] = []
        self.sources: list[str] = []
        self.articles: dict[str, dict[str, Any]] = {}
        self.dups: dict[str, set[str]] = defaultdict(set)

    def add(self, chunk_id: str, meta: dict[str, Any]) -> None:
        chunk = ChunkMeta.from_metadata(meta)
        self.ids.append(chunk_id)
        self.article_ids.append(chunk.article_id)
        self.dates.append(chunk.date_num)
        self.sources.append(chunk.source)
        entry = self.articles.setdefault(chunk.article_id, chunk.catalogue_entry() | {"chunks": 0})
        entry["chunks"] += 1
        for h in chunk.dup_hashes:
            self.dups[h].add(chunk.article_id)

    def summary(self) -> Summary:
        return Summary(
            self.ids,
            self.article_ids,
            self.dates,
            self.sources,
            self.articles,
            {h: sorted(a) for h, a in self.dups.items()},
            max(self.dates, default=0),
        )


class JsonLines(Sequence[dict[str, Any]]):
    """The records of a JSON-lines file by position, memory-mapped and parsed one at a time; the
    line offsets come from bm25s's saved `.mmindex.json`. Safe to read from many threads (bm25s's
    own `JsonlCorpus` seeks a shared file position)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offsets: list[int] = orjson.loads(path.with_suffix(".mmindex.json").read_bytes())
        with path.open("rb") as fh:
            self._map = (
                mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if self._offsets else None
            )

    def __len__(self) -> int:
        return len(self._offsets)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self.picked(range(len(self)))

    def picked(self, positions: Sequence[int]) -> Iterator[dict[str, Any]]:
        """The records at these (ascending) positions, read through the file in one pass: a
        whole index read through the memory map would count its gigabytes in this process."""
        wanted = iter(positions)
        at = next(wanted, None)
        with self.path.open("rb") as fh:
            for i, line in enumerate(fh):
                if at is None:
                    return
                if i == at:
                    yield orjson.loads(line)
                    at = next(wanted, None)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        start = self._offsets[int(index)]
        assert self._map is not None
        end = self._map.find(b"\n", start)
        line = self._map[start : end if end >= 0 else len(self._map)]
        return orjson.loads(line)


class Kept(Sequence[dict[str, Any]]):
    """The records of the chunks `ids`, in that order, read from the records file beside the
    ledger (`Ledger.chunk_records`) when asked for: what a saved BM25 index made since the ledger
    keeps them holds instead of their texts (a chunk's text is kept once). Each record carries
    its chunk id (`node_id`); a chunk the file lacks reads as one with no text."""

    def __init__(self, ids: Sequence[str], ledger: Ledger) -> None:
        self._ids, self._ledger = ids, ledger

    def __len__(self) -> int:
        return len(self._ids)

    def _of(self, ids: Sequence[str]) -> Iterator[dict[str, Any]]:
        found = dict(self._ledger.chunk_records(ids))
        for cid in ids:
            yield found.get(cid, {TEXT: ""}) | {NODE_ID: cid}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for at in range(0, len(self._ids), 5000):
            yield from self._of(self._ids[at : at + 5000])

    def picked(self, positions: Sequence[int]) -> Iterator[dict[str, Any]]:
        for at in range(0, len(positions), 5000):
            yield from self._of([self._ids[i] for i in positions[at : at + 5000]])

    def by_id(self, ids: Sequence[str]) -> Iterator[tuple[str, dict[str, Any]]]:
        return ((r[NODE_ID], r) for r in self._of(ids))

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return list(self._of(self._ids[index]))
        return next(self._of([self._ids[int(index)]]))


class Joined(Sequence[dict[str, Any]]):
    """The records at positions `keep` of `base`, then `extra`: a catalogue's records after
    chunks were added and removed, without copying the base's."""

    def __init__(
        self, base: Sequence[dict[str, Any]], keep: Sequence[int], extra: list[dict[str, Any]]
    ) -> None:
        self._base, self._keep, self._extra = base, keep, extra

    def __len__(self) -> int:
        return len(self._keep) + len(self._extra)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if isinstance(self._base, JsonLines | Kept):
            yield from self._base.picked(self._keep)
        else:
            yield from (self._base[i] for i in self._keep)
        yield from self._extra

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
        self._ledger = ledger
        self.latest = summary.latest  # the newest article's date as YYYYMMDD (0: none is dated)
        # who else carries each paragraph, and the articles with no chunk of their own, take a
        # few seconds at a million chunks: found aside while the rest of a start goes on, waited
        # for when first needed
        self._position: dict[str, int] | None = None
        pool = ThreadPoolExecutor(1, thread_name_prefix="catalogue")
        # the articles with no chunk first (0.2 s at 100,000 articles): what a count of the
        # articles (a start's banner, /v1/health) waits for; the copy map after (1.8 s)
        self._chunkless = pool.submit(_chunkless, ledger)
        self._lookups = pool.submit(_lookups, summary, ledger)
        pool.shutdown(wait=False)
        self._listed_once: dict[str, dict[str, Any]] | None = None
        self._sorted: list[dict[str, Any]] | None = None  # sorted when first listed

    @property
    def chunkless(self) -> list[dict[str, Any]]:
        """The catalogue entries of the articles with nothing of their own to index (the
        ledger names them)."""
        return self._chunkless.result()

    @property
    def _listed(self) -> dict[str, dict[str, Any]]:
        if self._listed_once is None:
            self._listed_once = {e["article_id"]: e for e in self.chunkless} | self.summary.articles
        return self._listed_once

    @property
    def ledger(self) -> Ledger | None:
        """The ledger this catalogue was read with (None: none could be read)."""
        return self._ledger

    def records(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(chunk id, record) for every chunk, in order, each read when it is reached."""
        yield from zip(self.summary.ids, self._records, strict=True)

    @property
    def size(self) -> int:
        """Chunks indexed."""
        return len(self.summary.ids)

    @property
    def dup_map(self) -> dict[str, set[str]]:
        """Paragraph hash -> the articles whose copy of it was indexed under another article."""
        return self._lookups.result()

    def _at(self, chunk_id: str) -> int | None:
        if self._position is None:  # made on first use (a second at 1.5M chunks)
            self._position = {chunk_id: i for i, chunk_id in enumerate(self.summary.ids)}
        return self._position.get(chunk_id)

    def chunk_text(self, chunk_id: str) -> str | None:
        """The full text of one indexed chunk (what a citation's chunk id names), if still there."""
        at = self._at(chunk_id)
        return None if at is None else record_text(self._records[at])

    def recorded(self, records: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Of chunks read from the store since this snapshot (chunk id -> record), those of an
        article the ledger records in that version: a chunk an ingest wrote and died before
        recording is no article's, and is not served (where there is no ledger, all are)."""
        if self._ledger is None or not records:
            return records
        article = {cid: ChunkMeta.from_metadata(r).article_id for cid, r in records.items()}
        known = self._ledger.versions(article.values())
        return {
            cid: r
            for cid, r in records.items()
            if (h := known.get(article[cid])) is not None
            and (not h or chunk_version(cid, article[cid]) == h[:8])
        }

    def record(self, chunk_id: str) -> dict[str, Any] | None:
        """One chunk's record (flat metadata as llama-index stores it, the text under `_text` or
        inside `_node_content`), or None for a chunk this catalogue does not list."""
        at = self._at(chunk_id)
        return None if at is None else self._records[at]

    def records_of(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The records of those of these chunks this catalogue lists (chunk id -> record), read
        together where the records are on a server."""
        listed = [cid for cid in ids if self._at(cid) is not None]
        by_id = getattr(self._records, "by_id", None)
        if by_id is not None:
            return dict(by_id(listed))
        return {cid: self._records[self._at(cid)] for cid in listed}  # type: ignore[index]

    def filter_fields(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """What filters read of those of these chunks this catalogue lists (chunk id ->
        `date_num` and `source`), from its summary: no record is read."""
        out: dict[str, dict[str, Any]] = {}
        summary = self.summary
        for cid in ids:
            at = self._at(cid)
            if at is not None:
                out[cid] = {DATE_NUM: summary.dates[at], SOURCE: summary.sources[at]}
        return out

    def also_in(self, meta: ChunkMeta) -> list[str]:
        """Other articles that carry paragraphs of this chunk (indexed once, under its article)."""
        found: set[str] = set()
        for h in meta.para_hashes:
            found |= self.dup_map.get(h, set())
        found.discard(meta.article_id)
        return sorted(found)

    def articles(self) -> list[dict[str, Any]]:
        """One entry per article with its metadata and chunk count, oldest first."""
        if self._sorted is None:
            self._sorted = sorted(self._listed.values(), key=lambda e: (e["date"], e["article_id"]))
        return [dict(e) for e in self._sorted]

    @property
    def article_count(self) -> int:
        return len(self._listed)

    def sources(self) -> list[str]:
        """The sources of the articles, each once, sorted."""
        return sorted({str(e["source"]) for e in self._listed.values() if e["source"]})


def _chunkless(ledger: Ledger | None) -> list[dict[str, Any]]:
    """Catalogue entries of the articles the ledger records with no chunk (their paragraphs all
    indexed under other articles)."""
    if ledger is None:
        return []
    empty = [i for i, n in ledger.chunk_counts().items() if n == 0]
    return [
        ChunkMeta(
            article_id=str(body["id"]),
            title=str(body.get("title") or ""),
            date=str(body.get("date") or ""),
            source=str(body.get("source") or ""),
            author=str(body.get("author") or ""),
            location=str(body.get("location") or ""),
        ).catalogue_entry()
        | {"chunks": 0}
        for body in ledger.bodies(empty).values()
    ]


def _lookups(summary: Summary, ledger: Ledger | None) -> dict[str, set[str]]:
    """Each paragraph hash's articles that carry it indexed elsewhere (from the chunks' metadata
    and the ledger's copies)."""
    dup_map: dict[str, set[str]] = defaultdict(set)
    for h, articles in summary.dup_map.items():
        dup_map[h] = set(articles)
    if ledger is not None:
        for h, copies in ledger.copies_map().items():
            dup_map[h] |= copies
    return dup_map
