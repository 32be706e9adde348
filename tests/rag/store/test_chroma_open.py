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
    header.write_bytes(whole)
