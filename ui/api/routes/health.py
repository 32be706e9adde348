"""`GET /v1/health`: the index size, the embedding model, the answer backend `auto` resolves to,
and the version. It needs no API key (load balancers and the tests poll it) and tells nothing a
key would protect beyond those counts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

import rag
from rag.answerers import resolve_backend
from ui.api.deps import PipelineDep

router = APIRouter(tags=["status"])


@router.get("/health", summary="Index size and backends (no key needed)")
def health(pipeline: PipelineDep) -> dict[str, Any]:
    catalogue = pipeline.catalogue
    return {
        "status": "ok",
        "chunks": catalogue.size,
        "articles": len(catalogue.articles()),
        "embedding_model": str(getattr(pipeline.embed_model, "model_name", "")),
        "answer_backend": resolve_backend(pipeline.settings),
        "version": rag.__version__,
    }
