"""A chunk is kept in one form, its metadata and its text (`rag.store.record`), once: an ingest
writes to Chroma only what filters need, and a store written in llama-index's old form (the whole
node again under `_node_content`, the article's id four times) is read as the same chunks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.utils import node_to_metadata_dict

from rag.schema import ChunkMeta
from rag.settings import Settings
from rag.store.chroma import Store
from rag.store.layout import Layout
from rag.store.ledger import open_ledger
from rag.store.record import (
    LEGACY_KEYS,
    NODE_ID,
    TEXT,
    corpus_entry,
    filter_fields,
    indexed_text,
    record_node,
    record_text,
    slim,
)

META = ChunkMeta(
    article_id="a1",
    title="Allies agree",
    date="2025-06-24",
    source="BBC",
    location="https://example.com/a1",
    para_hashes=("0123456789abcdef",),
).to_metadata()
TEXT_OF_CHUNK = "NATO allies agreed to spend 5% of GDP on defence."


def legacy_record() -> dict[str, Any]:
    """A record as a store written by llama-index's Chroma store reads back: flat metadata with
    `_node_content` (the node without its text) and the text beside it."""
    node = TextNode(id_="a1:h:0", text=TEXT_OF_CHUNK, metadata=dict(META))
    node.relationships = {}
    meta = node_to_metadata_dict(node, remove_text=True, flat_metadata=True)
    meta["document_id"] = meta["doc_id"] = meta["ref_doc_id"] = "a1"
    return meta | {TEXT: TEXT_OF_CHUNK}


def test_a_legacy_record_gives_the_node_a_slim_one_gives() -> None:
    old, new = legacy_record(), dict(META) | {TEXT: TEXT_OF_CHUNK}
    assert LEGACY_KEYS & set(old) and not LEGACY_KEYS & set(slim(old))
    assert slim(old) == slim(new) == dict(sorted(META.items()))
    a, b = record_node(old, "a1:h:0"), record_node(new, "a1:h:0")
    assert (a.node_id, a.text, a.metadata, a.hash) == (b.node_id, b.text, b.metadata, b.hash)
    # the old BM25 corpus kept the text inside `_node_content`, with the id inside too
    corpus_old = {k: v for k, v in old.items() if k != TEXT}
    content = json.loads(corpus_old["_node_content"]) | {"text": TEXT_OF_CHUNK}
    corpus_old["_node_content"] = json.dumps(content)
    assert record_text(corpus_old) == TEXT_OF_CHUNK
    assert record_node(corpus_old).hash == b.hash and record_node(corpus_old).node_id == "a1:h:0"


def test_the_corpus_entry_is_the_slim_record_with_its_id() -> None:
    entry, indexed = corpus_entry("a1:h:0", legacy_record()), indexed_text(legacy_record())
    assert entry == dict(sorted(META.items())) | {TEXT: TEXT_OF_CHUNK, NODE_ID: "a1:h:0"}
    assert indexed == f"title: Allies agree\n\n{TEXT_OF_CHUNK}"
    assert record_node(entry).node_id == "a1:h:0"


def test_an_ingest_writes_each_chunk_once(seeded: Settings) -> None:
    """Chroma keeps a chunk's vector and what filters and deletes need; its record (metadata
    and text) is kept once, in the records file beside the ledger."""
    got = Store(seeded.store).collection.get(include=["metadatas", "documents"])
    assert got["ids"] and not any(got["documents"])
    assert all(set(meta) == {"article_id", "date_num", "source"} for meta in got["metadatas"])
    assert Layout.of(seeded).chunk_records.exists()
    ledger = open_ledger(seeded)
    try:
        assert ledger.records_complete()
        kept = dict(ledger.chunk_records(got["ids"]))
    finally:
        ledger.close()
    assert sorted(kept) == sorted(got["ids"])
    fields = set(ChunkMeta(article_id="x", para_hashes=("p",)).to_metadata())
    for cid, meta in zip(got["ids"], got["metadatas"], strict=True):
        record = kept[cid]
        assert set(slim(record)) <= fields and record_text(record).strip()
        assert filter_fields(record) == meta


def test_articles_written_in_the_old_form_are_deleted_by_article(
    tmp_path: Path, embed_model: Any
) -> None:
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from tests.conftest import make_settings

    store = Store(make_settings(tmp_path / "store").store, create=True)
    nodes = []
    for article in ("a1", "a2"):
        node = TextNode(
            id_=f"{article}:h:0", text=TEXT_OF_CHUNK, metadata=dict(META, article_id=article)
        )
        node.embedding = embed_model.get_text_embedding(TEXT_OF_CHUNK)
        nodes.append(node)
    with store.writing():
        ChromaVectorStore(chroma_collection=store.collection).add(nodes)
        store.delete_articles(["a1"])
    assert store.ids() == ["a2:h:0"]


def test_a_store_from_before_the_records_file_is_read_then_filled_at_its_next_ingest(
    tmp_path: Path, embed_model: Any
) -> None:
    """A store whose chunks Chroma holds whole and whose ledger has no records file beside it
    (written before 2026-12-07) answers as before; its next ingest, with nothing new to index,
    fills the records file from Chroma, and it answers the same from there."""
    from index.check import check
    from index.ingest import ingest
    from rag.pipeline import build
    from tests.conftest import SEEDS, make_settings
    from tests.helpers.chunks import kept_chunks

    settings = make_settings(tmp_path / "store")
    ingest([SEEDS], settings, embed_model, progress=False)
    chunks = kept_chunks(settings)
    store = Store(settings.store)
    by_id = {c.id: c for c in chunks}
    vectors = store.collection.get(ids=list(by_id), include=["embeddings"])
    with store.writing():  # what an older version wrote: the whole record in Chroma
        store.collection.update(  # (vectors given: Chroma's own embedder would download one)
            ids=vectors["ids"],
            embeddings=vectors["embeddings"],
            metadatas=[dict(by_id[i].metadata) for i in vectors["ids"]],
            documents=[by_id[i].text for i in vectors["ids"]],
        )
    store.release()
    Layout.of(settings).chunk_records.unlink()
    question = "What did Hegseth say about 5%?"

    def asked() -> tuple[str, list[str]]:
        pipeline = build(settings, embed_model=embed_model)
        try:
            answer = pipeline.qa.ask(question)
        finally:
            pipeline.close()
        return answer.answer, [c.quote for c in answer.citations]

    before = asked()
    assert "5%" in before[0] and before[1]
    ledger = open_ledger(settings)
    assert not ledger.records_complete()  # a new records file beside a ledger with articles
    ledger.close()
    again = ingest([SEEDS], settings, embed_model, progress=False)
    assert again.unchanged == 5 and again.chunks_added == 0
    assert [(c.id, c.text) for c in kept_chunks(settings)] == [(c.id, c.text) for c in chunks]
    ledger = open_ledger(settings)
    assert ledger.records_complete()
    ledger.close()
    assert asked() == before
    assert check(settings, embed_model).problems == 0


def test_a_lost_records_file_is_found_and_its_articles_indexed_again(
    tmp_path: Path, embed_model: Any
) -> None:
    """The records file gone (the chunks' texts with it): `rag check` finds every chunk without
    text and every article missing, and `--repair` indexes them again from the copy of each
    article the ledger keeps."""
    from index.check import check
    from index.ingest import ingest
    from rag.pipeline import build
    from tests.conftest import SEEDS, make_settings

    settings = make_settings(tmp_path / "store")
    ingest([SEEDS], settings, embed_model, progress=False)
    chunks = Store(settings.store).count()
    path = Layout.of(settings).chunk_records
    for part in path.parent.glob(path.name + "*"):
        part.unlink()
    report = check(settings, embed_model)
    assert len(report.missing) == 5 and len(report.empty_chunks) == chunks, report.summary()
    repaired = check(settings, embed_model, repair=True)
    assert repaired.repaired == {"empty chunks deleted": chunks, "articles indexed again": 5}
    assert check(settings, embed_model).problems == 0
    assert Store(settings.store).count() == chunks
    pipeline = build(settings, embed_model=embed_model)
    try:
        answer = pipeline.qa.ask("What did Hegseth say about 5%?")
    finally:
        pipeline.close()
    assert "5%" in answer.answer and answer.citations


def test_the_records_file_keeps_each_chunk_whole_and_each_article_apart(tmp_path: Path) -> None:
    """What an article's chunks share is kept once and each chunk's own part beside it: every
    record reads back as written (a field one chunk has otherwise too), and rewriting or
    removing article "a" leaves article "a:b" (whose chunk ids also begin with "a:") alone."""
    from rag.store.ledger import Ledger, Recorded

    ledger = Ledger(tmp_path / "ledger-news.sqlite3")
    assert ledger.records_complete()  # a new ledger keeps every chunk's record from the first

    def chunks(article: str, n: int) -> list[tuple[str, dict[str, Any]]]:
        meta = dict(META, article_id=article)
        out = [(f"{article}:h:{i}", meta | {TEXT: f"{article} text {i}"}) for i in range(n)]
        out[1][1]["title"] = "a title of its own"
        return out

    written = chunks("a", 3) + chunks("a:b", 2)
    ledger.record([Recorded("a", "h", 3, "", ""), Recorded("a:b", "h", 2, "", "")], written)
    ids = [cid for cid, _ in written]
    assert list(ledger.chunk_records(ids)) == [
        (cid, slim(r) | {TEXT: r[TEXT]}) for cid, r in written
    ]
    ledger.remove(["a"])
    assert [cid for cid, _ in ledger.chunk_records(ids)] == ["a:b:h:0", "a:b:h:1"]
    ledger.record([Recorded("a", "h", 2, "", "")], chunks("a", 2))
    assert len(list(ledger.chunk_records(ids))) == 4
    # a new version of "a" with another title: read afresh, though the old one was read before
    edited = [
        (cid.replace(":h:", ":h2:"), r | {"title": "Allies agree, again"})
        for cid, r in chunks("a", 2)
    ]
    ledger.record([Recorded("a", "h2", 2, "", "")], edited)
    got = dict(ledger.chunk_records([cid for cid, _ in edited]))
    assert [r["title"] for r in got.values()] == ["Allies agree, again"] * 2
    ledger.close()
