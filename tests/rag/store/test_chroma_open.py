"""rag.store.chroma: threads of one process opening the same embedded store afresh at once (a
writer's refresh and a question's, in `rag serve --watch`) each get a working client."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from rag.settings import Settings
from rag.store.chroma import Store


@pytest.mark.slow
def test_threads_opening_one_store_afresh_at_once_all_get_a_client(seeded: Settings) -> None:
    chunks = Store(seeded.store).count()

    def open_and_count(_: int) -> int:
        return Store(seeded.store, fresh=True).count()

    with ThreadPoolExecutor(8) as pool:
        counts = list(pool.map(open_and_count, range(200)))
    assert counts == [chunks] * 200


def test_a_vector_index_file_being_flushed_is_not_called_damaged(
    tmp_path: Path, embed_model: Any
) -> None:
    """Chroma flushes a segment's vector index in the background once a write ends: for a moment
    `header.bin` can be empty, and back-to-back uploads were refused as "damaged" (a 503 that
    schemathesis found). The files are looked at again before that is believed; a file that
    stays damaged is still refused (tests/index/test_check.py)."""
    import threading
    import time

    from chromadb.api.shared_system_client import SharedSystemClient

    from index.ingest import ingest
    from rag.errors import StoreDamagedError
    from tests.conftest import make_settings
    from tests.index.test_check import _council_corpus

    settings = make_settings(tmp_path / "store")
    ingest([_council_corpus(tmp_path / "c.jsonl", 250)], settings, embed_model, progress=False)
    SharedSystemClient.clear_system_cache()
    (header,) = (tmp_path / "store" / "chroma").glob("*/header.bin")
    whole = header.read_bytes()
    header.write_bytes(b"")  # mid-flush
    threading.Thread(target=lambda: (time.sleep(0.4), header.write_bytes(whole))).start()
    store = Store(settings.store)  # waited for the flush, instead of refusing
    assert store.count() > 0
    SharedSystemClient.clear_system_cache()
    header.write_bytes(b"")  # and left so: damaged
    with pytest.raises(StoreDamagedError, match=r"header\.bin"):
        Store(settings.store)
    with pytest.raises(StoreDamagedError, match=r"header\.bin"):  # checked, even unloaded
        Store(settings.store, load=False)
    header.write_bytes(whole)


def test_a_store_opened_without_loading_its_vectors_searches_as_one_that_did(
    seeded: Settings,
) -> None:
    """`load=False` (a starting server's pipeline, while a thread of its own loads them): the
    first search loads the vector index and finds what a loaded store finds."""
    from chromadb.api.shared_system_client import SharedSystemClient

    loaded = Store(seeded.store)
    probe = loaded.collection.get(limit=1, include=["embeddings"])["embeddings"][0]
    expected = loaded.collection.query(query_embeddings=[probe], n_results=5)["ids"]
    SharedSystemClient.clear_system_cache()
    lazy = Store(seeded.store, load=False)
    assert lazy.collection.query(query_embeddings=[probe], n_results=5)["ids"] == expected


_OPENER = """
import sys, time
from pathlib import Path
from rag.settings import load
from rag.store.chroma import Store

store, stop = sys.argv[1], Path(sys.argv[2])
cfg = load(None, store={"path": store}).store
opened = 0
while not stop.exists():
    s = Store(cfg, fresh=True)
    dim = s.collection.metadata["embed_dim"]
    s.collection.query(query_embeddings=[[0.5] * dim], n_results=3)  # the vector index loaded
    opened += 1
print(opened)
"""


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_store_opened_while_another_process_writes_it_does_not_crash(
    tmp_path: Path, embed_model: Any
) -> None:
    """A server picks up new articles by opening the store afresh, which loads the vector index
    from its files; with `rag ingest` writing them in another process at that moment, the load
    met a write half done and chromadb's native code killed the server (a segmentation fault
    under bench/stress.py; issue 39, finding 9). Loads and writes now take turns."""
    import os
    import subprocess
    import sys

    from index.ingest import ingest
    from tests.conftest import ROOT, make_settings
    from tests.index.test_check import _council_corpus

    store = tmp_path / "store"
    settings = make_settings(store)
    ingest([_council_corpus(tmp_path / "first.jsonl", 40)], settings, embed_model, progress=False)
    env = {**os.environ, "RAG_STORE__PATH": str(store)}
    stop = tmp_path / "stop"
    opener = subprocess.Popen(
        [sys.executable, "-c", _OPENER, str(store), str(stop)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    more = _council_corpus(tmp_path / "more.jsonl", 700)
    writer = subprocess.run(
        [sys.executable, "-m", "ui.cli", "ingest", "--quiet", str(more)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    stop.touch()
    out, err = opener.communicate(timeout=120)
    assert writer.returncode == 0, writer.stderr[-2000:]
    assert opener.returncode == 0, (
        f"the opening process ended with {opener.returncode}: {err[-2000:]}"
    )
    assert int(out) >= 5  # it opened the store again and again while the writer wrote
