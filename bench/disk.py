"""Where a store's bytes go: each component of a store folder on disk, and per chunk.

Reads a store folder (nothing is written to it, every SQLite file is opened read-only) and
breaks it down into:

- Chroma's SQLite file by table, grouped: the chunks' metadata (the `embedding_metadata` table
  and its indexes), the full-text index Chroma builds on every document it is given
  (`embedding_fulltext_search*`), the ids (`embeddings`), the write queue, the rest; and the bytes
  of each metadata key's values (which keys cost what);
- Chroma's vector index (HNSW) files: the vectors with their links (`data_level0.bin`), the id
  map (`index_metadata.pickle`), the rest;
- the saved BM25 index: the chunks' records (`corpus.jsonl`, which the catalogue reads citations
  from), the postings (`*.npy`), the vocabulary, the catalogue summary;
- the ledger by table (the articles' bodies, the paragraph books);
- the chunks' records file beside it (each chunk's metadata and text, kept once: Chroma keeps
  only what filters need, in a store written since 2026-12-07);
- the entity table (with its write-ahead log); anything else.

Prints a table (MB and bytes per chunk) per store, the first store's size over each other's,
and with --name writes them all to bench/results/disk-NAME.json:

    python bench/disk.py STORE-BEFORE STORE-AFTER --label before --label after --name 1000
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import write_result

# Chroma's SQLite tables, grouped by what they hold
CHROMA_GROUPS = (
    ("metadata", ("embedding_metadata",)),
    ("full-text index", ("embedding_fulltext_search",)),
    ("ids", ("embeddings", "sqlite_autoindex_embeddings")),
    ("write queue", ("embeddings_queue",)),
)


def tables(path: Path) -> dict[str, int]:
    """Bytes of each table and index of an SQLite file (its `dbstat` pages)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
    finally:
        db.close()
    return {str(name): int(size) for name, size in rows}


def grouped(
    sizes: dict[str, int], groups: tuple[tuple[str, tuple[str, ...]], ...]
) -> dict[str, int]:
    """Table sizes summed by group: a table goes to the first group one of whose prefixes its
    name starts with (`sqlite_autoindex_<table>_1` counts with its table), else to "other"."""
    out: dict[str, int] = defaultdict(int)
    for name, size in sizes.items():
        bare = name.removeprefix("sqlite_autoindex_")
        group = next((g for g, prefixes in groups if bare.startswith(prefixes)), "other")
        out[group] += size
    return dict(out)


def metadata_keys(path: Path) -> dict[str, int]:
    """Bytes of the values Chroma keeps under each metadata key (text as UTF-8, numbers as 8)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT key, SUM(COALESCE(LENGTH(CAST(string_value AS BLOB)), 8)) "
            "FROM embedding_metadata GROUP BY key"
        ).fetchall()
    finally:
        db.close()
    return {str(k): int(v) for k, v in sorted(rows, key=lambda r: -int(r[1]))}


def chunk_count(chroma_db: Path) -> int:
    db = sqlite3.connect(f"file:{chroma_db}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])
    finally:
        db.close()


def file_sizes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def breakdown(store: Path) -> dict[str, Any]:
    """Every file of the store folder, once, in one component."""
    files = file_sizes(store)
    seen: set[str] = set()
    parts: dict[str, dict[str, int]] = {}

    def take(component: str, part: str, names: list[str]) -> None:
        size = sum(files[n] for n in names if n not in seen)
        seen.update(names)
        if size:
            parts.setdefault(component, {})[part] = parts.get(component, {}).get(part, 0) + size

    chroma_db = store / "chroma" / "chroma.sqlite3"
    keys: dict[str, int] = {}
    chunks = 0
    if chroma_db.exists():
        chunks = chunk_count(chroma_db)
        sizes = tables(chroma_db)
        parts["chroma sqlite"] = grouped(sizes, CHROMA_GROUPS)
        seen.add("chroma/chroma.sqlite3")
        keys = metadata_keys(chroma_db)
    for name in files:
        if name.startswith("chroma/") and name.count("/") == 2:  # a vector segment's files
            leaf = name.rsplit("/", 1)[1]
            hnsw = {"data_level0.bin": "vectors and links", "index_metadata.pickle": "id map"}
            take("chroma vector index (HNSW)", hnsw.get(leaf, "other"), [name])
        elif name.startswith("bm25/"):
            leaf = name.rsplit("/", 1)[1]
            if leaf == "corpus.jsonl" or leaf == "corpus.mmindex.json":
                part = "chunk records (corpus)"
            elif leaf.endswith(".npy"):
                part = "postings"
            elif leaf.startswith("vocab"):
                part = "vocabulary"
            elif leaf.startswith("catalogue"):
                part = "catalogue summary"
            else:
                part = "other"
            take("BM25 index", part, [name])
    for name in list(files):
        if name in seen:
            continue
        if name.startswith("ledger") and name.endswith((".sqlite3", ".sqlite")):
            grouped_ledger = grouped(
                tables(store / name),
                (
                    ("article bodies and hashes", ("articles",)),
                    ("paragraph books", ("paragraphs", "copies")),
                    ("urls", ("urls", "failed_urls")),
                ),
            )
            for part, size in grouped_ledger.items():
                parts.setdefault("ledger", {})[part] = size
            seen.add(name)
        elif name.startswith("chunks-") and name.endswith(".sqlite3"):
            take("chunk records (metadata and text)", "records file", [name])
        elif name.startswith("entities") and not name.endswith("-shm"):
            take("entity table", "tags", [name])
    rest = [n for n in files if n not in seen]
    take("other", "files", rest)
    components = {c: sum(p.values()) for c, p in parts.items()}
    return {
        "store": str(store),
        "chunks": chunks,
        "total_mb": round(sum(files.values()) / 1e6, 1),
        "components_mb": {c: round(v / 1e6, 1) for c, v in components.items()},
        "parts_mb": {c: {k: round(v / 1e6, 1) for k, v in p.items()} for c, p in parts.items()},
        "bytes_per_chunk": {c: round(v / chunks) for c, v in components.items()} if chunks else {},
        "chroma_metadata_value_bytes_per_chunk": (
            {k: round(v / chunks) for k, v in keys.items()} if chunks else {}
        ),
    }


def show(result: dict[str, Any]) -> None:
    chunks = result["chunks"]
    print(f"{result['store']}: {result['total_mb']:,.1f} MB, {chunks:,} chunks")
    print(f"{'component / part':<44} {'MB':>10} {'B/chunk':>9}")
    for comp, parts in result["parts_mb"].items():
        mb = result["components_mb"][comp]
        per = result["bytes_per_chunk"].get(comp, 0)
        print(f"{comp:<44} {mb:>10,.1f} {per:>9,}")
        for part, pmb in parts.items():
            pper = round(pmb * 1e6 / chunks) if chunks else 0
            print(f"  {part:<42} {pmb:>10,.1f} {pper:>9,}")
    if result["chroma_metadata_value_bytes_per_chunk"]:
        print("Chroma metadata values, bytes per chunk (before SQLite's row and index overhead):")
        for key, size in result["chroma_metadata_value_bytes_per_chunk"].items():
            print(f"  {key:<42} {size:>10,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stores", type=Path, nargs="+", help="store folders (RAG_STORE__PATH)")
    parser.add_argument("--name", default="", help="results go to bench/results/disk-NAME.json")
    parser.add_argument(
        "--label", action="append", default=[], help="what each store is (once per store)"
    )
    args = parser.parse_args()
    results = []
    for i, store in enumerate(args.stores):
        if not store.is_dir():
            raise SystemExit(f"{store} is not a folder: give store folders (RAG_STORE__PATH)")
        result = breakdown(store)
        result["label"] = args.label[i] if i < len(args.label) else ""
        show(result)
        results.append(result)
    if len(results) > 1 and results[0]["total_mb"]:
        first = results[0]
        for other in results[1:]:
            ratio = first["total_mb"] / other["total_mb"] if other["total_mb"] else float("nan")
            print(f"{first['store']} / {other['store']}: {ratio:.2f}x the disk")
    if args.name:
        out = write_result(f"disk-{args.name}", {"stores": results})
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
