"""Every path under the store folder (RAG_STORE__PATH), spelled once.

The folder holds the embedded Chroma database (`chroma/`, every collection of the folder in it;
unused when a Chroma server holds the vectors) and, for each collection: the ingestion ledger and
its writers' lock, the saved BM25 index with the logs and locks of the jobs run aside (kept in
this folder also when a Chroma server holds the vectors: each machine that serves keeps its own
copy), and the entity table. A collection on a Chroma server is named with its server
(`HOST_PORT-COLLECTION`), so the same collection name on two servers never shares a file. What
older stores kept elsewhere is named here too, for `rag.store.migrations`. Nothing here opens,
creates or removes anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rag.settings import Settings, StoreSettings


def records_beside(ledger: Path) -> Path:
    """The chunks' records file of the ledger at `ledger` (`rag.store.ledger.ChunkRecords`)."""
    return ledger.with_name("chunks-" + ledger.name.removeprefix("ledger-"))


@dataclass(frozen=True)
class Layout:
    root: Path  # the store folder
    name: str  # the collection's own name in it

    @classmethod
    def of(cls, cfg: Settings | StoreSettings) -> Layout:
        store = cfg.store if isinstance(cfg, Settings) else cfg
        server = f"{store.host}_{store.port}-" if store.host else ""
        return cls(Path(store.path), f"{server}{store.collection}")

    @property
    def chroma(self) -> Path:
        """The embedded Chroma database of the folder."""
        return self.root / "chroma"

    @property
    def chroma_lock(self) -> Path:
        """Taken shared while a client loads the embedded database's vector index, exclusive
        while a writer changes it (`rag.store.chroma.FilesLock`)."""
        return self.root / "chroma.lock"

    @property
    def hnsw_verified(self) -> Path:
        """The vector index files found undamaged, by size and time (`rag.store.hnsw_check`)."""
        return self.root / "hnsw-verified.json"

    @property
    def own_settings(self) -> Path:
        """The collection's own settings, over the environment's (`index.collections`)."""
        return self.root / f"collection-{self.name}.json"

    @property
    def feedback(self) -> Path:
        """What readers said of the collection's answers (`rag.store.feedback`)."""
        return self.root / f"feedback-{self.name}.sqlite3"

    @property
    def conversations(self) -> Path:
        """The web UI's conversations, of every collection (`rag.store.conversations`)."""
        return self.root / "conversations.sqlite3"

    @property
    def feeds(self) -> Path:
        """The feeds the collection follows (`rag.store.feeds`)."""
        return self.root / f"feeds-{self.name}.sqlite3"

    @property
    def keys(self) -> Path:
        """The scoped API keys of the folder's collections, stored hashed (`rag.store.keys`)."""
        return self.root / "keys.sqlite3"

    @property
    def ledger(self) -> Path:
        """The ingestion ledger every writer keeps (`rag.store.ledger`)."""
        return self.root / f"ledger-{self.name}.sqlite3"

    @property
    def chunk_records(self) -> Path:
        """Every chunk's record, its metadata and text, beside the ledger (`records_beside`)."""
        return records_beside(self.ledger)

    @property
    def writers_lock(self) -> Path:
        """The lock writers take turns under, beside the ledger."""
        return self.root / f"ledger-{self.name}.sqlite3.lock"

    @property
    def bm25(self) -> Path:
        """The saved BM25 index and catalogue summary (`rag.retrieval.bm25`), one folder per
        set of chunks."""
        return self.root / "bm25" / self.name

    @property
    def bm25_build_lock(self) -> Path:
        """Held by the one process that builds the BM25 index (`rag.jobs.bm25`)."""
        return self.root / "bm25" / f"{self.name}.build.lock"

    def job_log(self, what: str) -> Path:
        """Where a job run aside (`rag.store.aside`) appends its output."""
        return self.root / "bm25" / f"{self.name}.{what}.log"

    @property
    def entities(self) -> Path:
        """The named entities of the collection's sentences (`rag.spans.entities`)."""
        return self.root / f"entities-{self.name}.sqlite"

    @property
    def entities_lock(self) -> Path:
        """Held by the one process that fills the entity table (`rag.jobs.entities`)."""
        return self.root / f"entities-{self.name}.lock"

    # what stores from before kept elsewhere (read by rag.store.migrations)

    @property
    def old_docstore(self) -> Path:
        """llama-index's docstore JSON, the state before the ledger."""
        return self.root / f"docstore-{self.name}.json"

    @property
    def old_entities(self) -> Path:
        """One entity table for the whole folder, before each collection had its own."""
        return self.root / "entities.sqlite"
