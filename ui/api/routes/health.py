"""`GET /v1/health`: the index size, the embedding model, the answer backend `auto` resolves to,
and the version. It needs no API key (load balancers and the tests poll it) and tells nothing a
key would protect beyond those counts. It reads the store each time: a Chroma server that is down
(or a store that cannot be read) is a 503 with `status: unavailable`, not an "ok" that the next
question would contradict.

It is answered apart from the questions: an `async` route whose one blocking read runs on a
thread of its own, so a load balancer's probe does not queue behind hundreds of answers for the
worker threads they hold (it waited 6.6 s behind 300 streamed questions)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

import rag
from rag.answering.backends import resolve_backend
from rag.pipeline import Pipeline
from ui.api.deps import DefaultPipeline

router = APIRouter(tags=["status"])
# the store read of a probe: one thread, not the pool that answers questions
_PROBE = ThreadPoolExecutor(1, thread_name_prefix="health")
PROBE_SECONDS = 10.0  # a store that takes longer to answer is reported unavailable


def _read(pipeline: Pipeline) -> None:
    """One read of the store being searched (kept open while it is read)."""
    with pipeline.retriever.store_in_use() as store:
        store.is_empty()


@router.get(
    "/health",
    summary="Index size and backends (no key needed)",
    responses={503: {"description": "the store cannot be read (a Chroma server down)"}},
)
async def health(pipeline: DefaultPipeline) -> Any:
    try:
        probe = asyncio.get_running_loop().run_in_executor(_PROBE, _read, pipeline)
        await asyncio.wait_for(probe, PROBE_SECONDS)
    except Exception as exc:  # chromadb raises many kinds: connection, database, file errors
        return JSONResponse(
            {
                "status": "unavailable",
                "detail": f"the index {pipeline.store.where} cannot be read "
                f"({type(exc).__name__}); check that the store is reachable "
                "(a Chroma server: `chroma run`)",
            },
            status_code=503,
        )
    catalogue = pipeline.catalogue
    return {
        "status": "ok",
        "chunks": catalogue.size,
        "articles": catalogue.article_count,
        "embedding_model": str(getattr(pipeline.embed_model, "model_name", "")),
        "answer_backend": resolve_backend(pipeline.settings),
        "version": rag.__version__,
    }
