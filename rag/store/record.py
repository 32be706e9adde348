"""A chunk's record: its flat metadata as llama-index stores it, with its text either under
`_text` (as read back from the store) or inside `_node_content` (as the BM25 corpus and the server
store's keyword table keep it)."""

from __future__ import annotations

import json
from typing import Any

TEXT = "_text"  # where a record read from the store keeps its chunk's text

__all__ = ["TEXT", "corpus_entry", "record_text"]


def corpus_entry(chunk_id: str, meta: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """What llama-index's BM25 retriever keeps for a chunk (its stored metadata, the text inside
    `_node_content`, `node_id`), made from a record as read from the store or from a saved
    index, and the text BM25 indexes (title and text, as the embedding sees them)."""
    text = record_text(meta)
    content = json.loads(meta.get("_node_content") or "{}")
    content["text"] = text
    entry = {k: v for k, v in meta.items() if k != TEXT}
    entry["_node_content"] = json.dumps(content)
    entry["node_id"] = chunk_id
    title = str(meta.get("title") or "")
    return entry, (f"title: {title}\n\n{text}" if title else text)


def record_text(meta: dict[str, Any]) -> str:
    if TEXT in meta:
        return str(meta[TEXT])
    return str(json.loads(meta.get("_node_content") or "{}").get("text", ""))
