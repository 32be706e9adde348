"""rag.store.chroma: threads of one process opening the same embedded store afresh at once (a
writer's refresh and a question's, in `rag serve --watch`) each get a working client."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

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
