"""A chunk's record: its flat metadata (`ChunkMeta.to_metadata`) with its text under `_text`, the
one form it is kept in, once: in the records file beside the ledger (`Ledger.chunk_records`), or
on the server store in its keyword table. The vector store keeps only what filters and deletes
need (`filter_fields`), a saved BM25 index only the chunk's id. Also the llama-index node made
from a record.

Stores written before 2026-12-07 kept llama-index's own form beside it: the whole node again as
JSON under `_node_content` (the metadata twice more, and the text), and `_node_type`, `doc_id`,
`document_id`, `ref_doc_id` (the article's id four times). That was two thirds of the bytes of a
chunk's metadata and, through SQLite's index on every metadata value, most of a store's disk
(`bench/disk.py`). Records of such stores are still read: their text from `_node_content`, their
old keys dropped (`LEGACY_KEYS`)."""

from __future__ import annotations

import json
from typing import Any

from llama_index.core.schema import TextNode

from rag.schema import ARTICLE_ID, DATE_NUM, SOURCE

TEXT = "_text"  # where a record read from the store keeps its chunk's text
NODE_ID = "node_id"  # a corpus record's chunk id
# what llama-index's Chroma store wrote besides the chunk's metadata (never written now)
LEGACY_KEYS = frozenset({"_node_content", "_node_type", "doc_id", "document_id", "ref_doc_id"})

__all__ = [
    "LEGACY_KEYS",
    "NODE_ID",
    "TEXT",
    "corpus_entry",
    "filter_fields",
    "indexed_text",
    "record_node",
    "record_text",
    "slim",
]


def record_text(meta: dict[str, Any]) -> str:
    """A record's text: under `_text`, or (a record of an older store) inside `_node_content`."""
    if TEXT in meta:
        return str(meta[TEXT])
    return str(json.loads(meta.get("_node_content") or "{}").get("text", ""))


def slim(meta: dict[str, Any]) -> dict[str, Any]:
    """The chunk's metadata alone, without its text, its id or the keys of `LEGACY_KEYS`, its
    keys in order (a node's hash reads them in order, and Chroma gives them back in its own)."""
    return {k: meta[k] for k in sorted(meta) if k not in LEGACY_KEYS and k not in (TEXT, NODE_ID)}


def filter_fields(meta: dict[str, Any]) -> dict[str, Any]:
    """What the vector store keeps of a chunk's record: what searches filter on (its date and
    source: `Filters.to_where`) and what deletes find it by (its article)."""
    return {k: meta[k] for k in (ARTICLE_ID, DATE_NUM, SOURCE) if k in meta}


def indexed_text(meta: dict[str, Any]) -> str:
    """The text keyword search indexes for a chunk record: its title and text, as the embedding
    sees them."""
    text = record_text(meta)
    title = str(meta.get("title") or "")
    return f"title: {title}\n\n{text}" if title else text


def corpus_entry(chunk_id: str, meta: dict[str, Any]) -> dict[str, Any]:
    """What the BM25 corpus keeps for a chunk where no records file does (its metadata, `_text`,
    `node_id`), made from a record as read from the store or from a saved index (of any age)."""
    return slim(meta) | {TEXT: record_text(meta), NODE_ID: chunk_id}


def record_node(record: dict[str, Any], chunk_id: str | None = None) -> TextNode:
    """The llama-index node of a chunk record (of any age). Dense and keyword hits of one chunk
    are made here alike, so fusion, which tells nodes apart by hash, sees one node per chunk."""
    if chunk_id is None:
        chunk_id = record.get(NODE_ID) or json.loads(record.get("_node_content") or "{}")["id_"]
    return TextNode(id_=str(chunk_id), text=record_text(record), metadata=slim(record))
