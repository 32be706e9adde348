"""`rag serve`: build the pipeline (ingesting seeds/ into an empty index first) and serve the HTTP
API and the Gradio chat on one port with uvicorn until stopped.

What is served is `ui.api.create_app`'s (the endpoints are described in `ui.api`); seeding is
`index.seed`'s. This module only starts things and prints where they are.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from rag.settings import Settings

if TYPE_CHECKING:
    from index.watch import FolderSync
    from rag.pipeline import Pipeline


def _say(text: str) -> None:
    print(text, flush=True)


def _open_store(settings: Settings) -> None:
    """Open the store and read from it once (what loads its vector index); a failure is left for
    the pipeline to report."""
    from rag.store.chroma import Store

    try:
        Store(settings.store).is_empty()
    except Exception:  # chromadb raises many kinds; `build` opens the store again and says why
        return


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
    with `watch`, ingest that folder first and follow it; with `feeds`, poll them `every` s.
    `settings` are the environment's: each collection's own settings are laid over them."""
    from index.collections import with_own_settings

    base, settings = settings, with_own_settings(settings)
    # Chroma reads a collection's vector index from disk on its first use (5 s at 1.5M chunks):
    # begun now, it loads while the rest of the server is imported and built
    threading.Thread(target=_open_store, args=(settings,), name="store-open", daemon=True).start()
    import uvicorn

    from index.seed import refuse_if_lost, seed_if_empty
    from rag.answering.backends import resolve_backend
    from rag.embeddings import backends
    from rag.errors import IndexMissingError
    from rag.pipeline import build
    from ui.api import create_app
    from ui.api.deps import api_key
    from ui.api.middleware import SHORT_KEY, UNGUESSABLE

    host = host or settings.server.host
    port = port or settings.server.port
    embed_model = backends.build(settings.embed, settings.store)
    sync = None
    if watch is not None:
        from index.watch import FolderSync

        sync = FolderSync(watch, settings, embed_model)
        _say(f"news-rag: ingesting {sync.folder}: {sync.sync().summary()}")
    seed_if_empty(settings, embed_model, say=_say)  # nothing in the folder or the index yet
    from ui.answer_pool import AnswerPool, PooledQA, default_processes, worker_settings

    processes = settings.server.answer_processes
    if processes is None:
        processes = default_processes()
    starting = None
    if processes:
        # the answer processes start (each loads its models: seconds) while this one builds
        _say(f"news-rag: starting {processes} answer process(es) …")
        starter = ThreadPoolExecutor(1, thread_name_prefix="answer-pool")
        starting = starter.submit(AnswerPool, worker_settings(settings, embed_model), processes)
        starter.shutdown(wait=False)  # (its thread ends once the pool has started)
    try:
        # (the vector index: loading on the thread started above, while the rest is built)
        pipeline = build(settings, embed_model=embed_model, load_vectors=False)
    except BaseException as exc:
        if starting is not None:  # (one that failed to start itself says nothing more)
            with contextlib.suppress(Exception):
                starting.result().close()
        if isinstance(exc, IndexMissingError):
            refuse_if_lost(settings)  # the store was lost, not new: say how to get it back
        raise
    from rag.spans.tagging import warm

    # the first question for a name or a kind of thing would load spaCy's pipelines (0.6 s)
    threading.Thread(target=warm, name="spacy-load", daemon=True).start()
    pool = None
    if starting is not None:
        pool = starting.result()
        pipeline.qa = PooledQA(pipeline.qa, pool)

    def open_collection(collection: Settings) -> Pipeline:  # another collection, on first use
        opened = build(collection, embed_model=embed_model)
        if pool is not None:
            opened.qa = PooledQA(opened.qa, pool, owns_pool=False)
        return opened

    from ui.feeds import FeedPoller
    from ui.served import Served

    served = Served(pipeline, open_collection, base=base)
    app = create_app(pipeline, served=served)
    key = api_key(settings)
    stop = threading.Event()
    _follow(pipeline, sync, list(feeds), every, stop)
    # the feeds each collection follows (`rag feeds add`, the chat, /v1/feeds)
    threading.Thread(
        target=FeedPoller(served).run, args=(stop,), name="feeds-followed", daemon=True
    ).start()
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    catalogue = pipeline.catalogue
    _say(
        f"news-rag: {catalogue.size} chunks from {catalogue.article_count} articles; "
        f"answers: {resolve_backend(settings)}\n"
        f"  chat UI   http://{shown}:{port}/\n"
        f"  HTTP API  http://{shown}:{port}/v1  (OpenAI base_url; docs at /docs)"
        + ("\n  API key required (RAG_SERVER__API_KEY)" if settings.server.api_key else "")
        + (f"\n  {SHORT_KEY}" if key is not None and len(key) < UNGUESSABLE else "")
    )
    _log_request_ids()
    try:
        proxies = settings.server.trusted_proxies
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="warning",
            log_config=None,  # uvicorn's records go to the handlers below, request ids and all
            proxy_headers=bool(proxies),  # uvicorn believes 127.0.0.1's X-Forwarded-For otherwise
            forwarded_allow_ips=proxies or None,
        )
    finally:
        stop.set()
        pipeline.close()  # (the app's shutdown closed it and the other collections already)


def _log_request_ids() -> None:
    """Every log line of the server names the request it was written for (`-` outside one)."""
    import logging

    from ui.api.observe import log_filter

    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.WARNING)
    for handler in root.handlers:
        handler.addFilter(log_filter())
        handler.setFormatter(
            logging.Formatter("%(levelname)s [%(correlation_id)s] %(name)s: %(message)s")
        )


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
