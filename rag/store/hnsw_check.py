"""Is an embedded Chroma store's vector index (its HNSW files) whole? Checked before it is used.

Chroma loads a segment's HNSW graph in native code: a damaged `data_level0.bin` (a link to a node
that does not exist) crashes the whole process with a segmentation fault on the first query,
which no `try` can catch. So the files are read here first, with numpy, and checked the way
hnswlib lays them out (`header.bin`: counts and sizes; `data_level0.bin`: per node a link count,
`maxM0` neighbour ids, the vector and its label): the data file holds whole nodes, every link count is
at most `maxM0`, every neighbour id names a node, the entry point exists. Files being written are
not checked (a reader checks only while no writer holds the ledger's lock). A file set that passed is
remembered by size and modification time (`hnsw-verified.json` beside the store), so an
unchanged store is not read twice. This module reads files; it does not open Chroma.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import struct
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# persist version, then hnswlib's saveIndex fields in order
_HEADER = struct.Struct("<iQQQQQQiIQQQdQ")
FILES = ("header.bin", "data_level0.bin", "length.bin", "link_lists.bin")


def _signature(segment: Path) -> list[list[int]]:
    out = []
    for name in FILES:
        p = segment / name
        st = p.stat() if p.exists() else None
        out.append([st.st_size, st.st_mtime_ns] if st else [-1, -1])
    return out


def segment_problem(segment: Path) -> str | None:
    """Why the HNSW files in `segment` cannot be loaded safely, or None if they can."""
    header_file = segment / "header.bin"
    data_file = segment / "data_level0.bin"
    if not header_file.exists():
        return None  # vectors not yet written out as a graph (small collections): nothing to load
    try:
        raw = header_file.read_bytes()
        if len(raw) < _HEADER.size:
            return f"{header_file.name} is truncated ({len(raw)} bytes)"
        (_, offset0, max_elements, count, size_per, _, offset_data, max_level, entry, _, max_m0,
         _, _, _) = _HEADER.unpack_from(raw)  # fmt: skip
        if not (0 <= count <= max_elements and 0 < size_per < 2**20 and offset0 == 0):
            return f"{header_file.name} holds impossible counts"
        if not (-1 <= max_level < 64 and 0 < max_m0 <= 4096 and 4 + 4 * max_m0 <= offset_data):
            return f"{header_file.name} holds impossible graph sizes"
        if count == 0:
            return None  # an empty graph (its data file may be allocated, all zeros)
        # the header's node count is not rewritten on every save: the data file says how many
        size = data_file.stat().st_size if data_file.exists() else -1
        if size < 0 or size % size_per:
            return f"{data_file.name} is not a whole number of {size_per}-byte nodes"
        count = size // size_per
        if entry >= count:
            return "the graph's entry point names no node"
        nodes = np.memmap(data_file, dtype=np.uint8, mode="r", shape=(count, size_per))
        step = max(1, 2**26 // size_per)  # about 64 MB at a time
        for start in range(0, count, step):
            block = np.ascontiguousarray(nodes[start : start + step, : 4 + 4 * max_m0])
            words = block.view("<u4").reshape(len(block), 1 + max_m0)
            links = words[:, 0] & 0xFFFF
            if int(links.max()) > max_m0:
                return f"{data_file.name} has a node with more links than the graph allows"
            used = np.arange(max_m0)[None, :] < links[:, None]
            if used.any() and int(words[:, 1:][used].max()) >= count:
                return f"{data_file.name} links to a node that does not exist"
        return None
    except (OSError, ValueError, struct.error) as exc:
        return f"unreadable ({exc})"


def vector_segments(chroma_dir: Path, collection: str) -> list[str] | None:
    """The folders (segment ids) holding `collection`'s HNSW graph; None if that is unknown."""
    db_file = chroma_dir / "chroma.sqlite3"
    if not db_file.exists():
        return []
    try:
        db = sqlite3.connect(f"{db_file.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = db.execute(
                "SELECT s.id FROM segments s JOIN collections c ON s.collection = c.id "
                "WHERE c.name = ? AND s.scope = 'VECTOR'",
                (collection,),
            ).fetchall()
        finally:
            db.close()
    except sqlite3.Error as exc:
        log.debug("cannot read the segments of %s: %s", db_file, exc)
        return None
    return [str(r[0]) for r in rows]


def damaged(
    chroma_dir: Path, collection: str | None = None, remember: Path | None = None
) -> list[str]:
    """'segment: why' for every damaged HNSW segment of `collection` (all segments when None
    or unknown) under an embedded store's folder; segments that passed before and did not
    change since are not read again (`remember` keeps them)."""
    only = vector_segments(chroma_dir, collection) if collection else None
    seen: dict[str, list[list[int]]] = {}
    if remember is not None and remember.exists():
        try:
            seen = json.loads(remember.read_text())
        except (OSError, ValueError):
            seen = {}
    problems, passed = [], {}
    for segment in sorted(p for p in chroma_dir.iterdir() if p.is_dir()):
        if only is not None and segment.name not in only:
            continue
        if not (segment / "header.bin").exists():
            continue
        sig = _signature(segment)
        if seen.get(segment.name) == sig:
            passed[segment.name] = sig
            continue
        why = segment_problem(segment)
        if why:
            problems.append(f"{segment.name}: {why}")
        else:
            passed[segment.name] = sig
    if remember is not None and passed != seen:
        try:
            remember.write_text(json.dumps(passed))
        except OSError as exc:  # a read-only store: checked again next time
            log.debug("cannot remember the HNSW check: %s", exc)
    return problems
