"""`GET /v1/health`: the index size, the embedding model, the answer backend `auto` resolves to,
and the version. It needs no API key (load balancers and the tests poll it) and tells nothing a
key would protect beyond those counts. It reads the store each time: a Chroma server that is down
(or a store that cannot be read) is a 503 with `status: unavailable`, not an "ok" that the next
question would contradict."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

import rag
from rag.answering.backends import resolve_backend
from ui.api.deps import PipelineDep

router = APIRouter(tags=["status"])


@router.get(
    "/health",
    summary="Index size and backends (no key needed)",
    responses={503: {"description": "the store cannot be read (a Chroma server down)"}},
)
def health(pipeline: PipelineDep) -> Any:
    try:
        pipeline.store.is_empty()
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
