"""`rag serve`: build the pipeline (ingesting seeds/ into an empty index first) and serve the HTTP
API and the Gradio chat on one port with uvicorn until stopped.

What is served is `ui.api.create_app`'s (the endpoints are described in `ui.api`); seeding is
`index.seed`'s. This module only starts things and prints where they are.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rag.settings import Settings

if TYPE_CHECKING:
    from index.watch import FolderSync
    from rag.pipeline import Pipeline


def _say(text: str) -> None:
    print(text, flush=True)


def run(
    settings: Settings,
    host: str | None = None,
    port: int | None = None,
    *,
    watch: Path | None = None,
    feeds: Sequence[str] = (),
    every: float = 900.0,
) -> None:
    """Build the pipeline (ingesting seeds/ into an empty index first) and serve until stopped;
    with `watch`, ingest that folder first and follow it; with `feeds`, poll them `every` s."""
    import uvicorn

    from index.seed import seed_if_empty
    from rag import embeddings
    from rag.answerers import resolve_backend
    from rag.pipeline import build
    from ui.api import create_app

    host = host or settings.server.host
    port = port or settings.server.port
    embed_model = embeddings.build(settings.embed, settings.store)
    sync = None
    if watch is not None:
        from index.watch import FolderSync

        sync = FolderSync(watch, settings, embed_model)
        _say(f"news-rag: ingesting {sync.folder}: {sync.sync().summary()}")
    seed_if_empty(settings, embed_model, say=_say)  # nothing in the folder or the index yet
    pipeline = build(settings, embed_model=embed_model)
    app = create_app(pipeline)
    stop = threading.Event()
    _follow(pipeline, sync, list(feeds), every, stop)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    catalogue = pipeline.catalogue
    _say(
        f"news-rag: {catalogue.size} chunks from {len(catalogue.articles())} articles; "
        f"answers: {resolve_backend(settings)}\n"
        f"  chat UI   http://{shown}:{port}/\n"
        f"  HTTP API  http://{shown}:{port}/v1  (OpenAI base_url; docs at /docs)"
        + ("\n  API key required (RAG_SERVER__API_KEY)" if settings.server.api_key else "")
    )
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        stop.set()


def _follow(
    pipeline: Pipeline,
    sync: FolderSync | None,
    feeds: list[str],
    every: float,
    stop: threading.Event,
) -> None:
    """Threads that follow the watched folder and the feeds, refreshing the pipeline after each
    round that changed something."""
    from index.watch import Round, poll_feeds, watch_folder

    def changed(done: Round) -> None:
        if done:
            pipeline.refresh()
            _say(f"news-rag: {done.summary()}")

    if sync is not None:
        threading.Thread(
            target=watch_folder, args=(sync, stop, changed), name="watch", daemon=True
        ).start()
        _say(f"  watching  {sync.folder}")
    if feeds:
        settings, model = pipeline.settings, pipeline.embed_model
        threading.Thread(
            target=poll_feeds,
            args=(feeds, settings, model, every, stop, changed),
            name="feeds",
            daemon=True,
        ).start()
        _say(f"  polling   {len(feeds)} feed(s) every {every:g} s")
