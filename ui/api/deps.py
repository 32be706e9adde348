"""What a route may ask FastAPI for: the pipeline, its question-answering service and settings
(all read from `request.app.state.pipeline`, which `create_app` sets), and the API-key check.

Use them as parameter types (`qa: QA`, `settings: SettingsDep`); `require_key` is the dependency
`create_app` puts on every router but health's when RAG_SERVER__API_KEY is set: it accepts
`Authorization: Bearer KEY` or `X-API-Key: KEY` and answers 401 otherwise. This module builds
nothing and holds no state of its own.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from rag.pipeline import Pipeline
from rag.service import QAService
from rag.settings import Settings
from ui.api.observe import Metrics


# the dependencies that only look something up are `async`: FastAPI runs a plain `def` one on
# the worker threads answers hold, and a health probe would wait behind them
async def get_pipeline(request: Request) -> Pipeline:
    pipeline: Pipeline = request.app.state.pipeline
    return pipeline


PipelineDep = Annotated[Pipeline, Depends(get_pipeline)]


async def get_qa(pipeline: PipelineDep) -> QAService:
    return pipeline.qa


async def get_settings(pipeline: PipelineDep) -> Settings:
    return pipeline.settings


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


QA = Annotated[QAService, Depends(get_qa)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

bearer = HTTPBearer(auto_error=False, description="the API key as a bearer token")
key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the API key")
BearerKey = Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
HeaderKey = Annotated[str | None, Security(key_header)]


def api_key(settings: Settings) -> str | None:
    """The configured key (RAG_SERVER__API_KEY), None when the API is open."""
    secret = settings.server.api_key
    return (secret.get_secret_value() if secret else None) or None


def key_matches(given: str | None, key: str) -> bool:
    return bool(given) and secrets.compare_digest(str(given).encode(), key.encode())


def require_key(settings: SettingsDep, creds: BearerKey, header_key: HeaderKey) -> None:
    """401 unless the request carries the configured key (nothing to check when none is set)."""
    key = api_key(settings)
    if key is None:
        return
    given = [k for k in (creds.credentials if creds else None, header_key) if k is not None]
    if not given or not all(key_matches(k, key) for k in given):
        raise HTTPException(
            401,
            "missing or wrong API key: send `Authorization: Bearer KEY` or `X-API-Key: KEY` "
            "with the key set in RAG_SERVER__API_KEY",
            headers={"WWW-Authenticate": "Bearer"},
        )


Keyed = [Depends(require_key)]  # a router's dependencies when a key is set
