"""The keyword half of search and the catalogue on the server store (`RAG_STORE__URL`): read from
the chunks' table that the writers keep in the ledger's transactions (`rag.store.keywords`),
where the embedded store has its bm25s index (`rag.retrieval.bm25`).

`ServerKeywords` is one snapshot, taken when a writer (on any machine) has recorded articles, as
`BM25Index` is: the catalogue's summary read from the table, each chunk's record read when a hit
or a citation needs it, and `retriever_for` the per-query `BaseRetriever` that the fusion takes.
A question is scored against the table as it is when asked, so there is nothing to rebuild.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle

from rag.schema import Filters
from rag.store.catalogue import Catalogue, Summary
from rag.store.keywords import KeywordReader
from rag.store.ledger import Ledger
from rag.store.record import record_node

PAGE = 1000  # records read at a time when all are read in order


class ServerRecords(Sequence[dict[str, Any]]):
    """The chunks' records in the order of a summary's ids, read from the server when asked."""

    def __init__(self, reader: KeywordReader, ids: Sequence[str]) -> None:
        self._reader, self._ids = reader, ids

    def __len__(self) -> int:
        return len(self._ids)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        chunk_id = self._ids[int(index)]
        found = self._reader.records([chunk_id]).get(chunk_id)
        # removed since this snapshot: the record says so rather than failing the answer
        return found if found is not None else {"node_id": chunk_id}

    def by_id(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The records of these chunks, in one read."""
        return self._reader.records(ids)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for at in range(0, len(self._ids), PAGE):
            ids = self._ids[at : at + PAGE]
            found = self._reader.records(ids)
            yield from (found.get(i, {"node_id": i}) for i in ids)


class ServerKeywords:
    """The keyword half on the server, with the summary of the catalogue taken with it (as of
    the ledger's `version`)."""

    def __init__(self, reader: KeywordReader, summary: Summary, version: int) -> None:
        self.reader = reader
        self.summary = summary
        self.version = version
        self.size = len(summary.ids)
        self.records: Sequence[dict[str, Any]] = ServerRecords(reader, summary.ids)

    @classmethod
    def open(
        cls,
        reader: KeywordReader,
        fingerprint: str,
        ledger: Ledger,
        previous: ServerKeywords | None = None,
    ) -> tuple[Catalogue, ServerKeywords]:
        """A snapshot of what the server holds now, and the catalogue made from it: from the
        `previous` snapshot, the chunks written since and those the ledger no longer records,
        or read whole (a second and a half at 120,000 chunks, growing with them)."""
        version = ledger.version()  # before the rows: what comes meanwhile is read again next
        alive = ledger.chunk_ids() if previous is not None else None
        if previous is None or alive is None:
            summary = Summary.of(reader.listing())
        else:
            new = list(reader.listing(since=previous.version))
            again = {chunk_id for chunk_id, _ in new}
            now = set(alive) - again
            old = previous.summary
            keep = [i for i, chunk_id in enumerate(old.ids) if chunk_id in now]
            summary = old.patched(keep, Summary.of(new))
        keywords = cls(reader, summary, version)
        return Catalogue(fingerprint, summary, keywords.records, ledger), keywords

    def retriever_for(self, k: int, filters: Filters) -> ServerBM25:
        return ServerBM25(self.reader, k, filters)


class ServerBM25(BaseRetriever):
    """The top `k` BM25 hits that pass `filters`, found on the server."""

    def __init__(self, reader: KeywordReader, k: int, filters: Filters) -> None:
        super().__init__()
        self._reader, self._k, self._filters = reader, k, filters

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        where, params = self._filters.to_sql()
        hits = self._reader.search(query_bundle.query_str, self._k, where, params)
        return [
            NodeWithScore(node=record_node(record, chunk_id), score=score)
            for chunk_id, record, score in hits
        ]
