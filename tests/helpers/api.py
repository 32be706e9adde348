"""The HTTP API in process (`TestClient(create_app(...))`): a pipeline under other settings."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rag.pipeline import Pipeline


def with_server(pipeline: Pipeline, **server: Any) -> Pipeline:
    """The same pipeline under other server settings (key, upload limit)."""
    settings = pipeline.settings.model_copy(
        update={"server": pipeline.settings.server.model_copy(update=server)}
    )
    return replace(pipeline, settings=settings)
