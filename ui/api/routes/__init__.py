"""The API's routers, one per resource, in the order the OpenAPI docs list them: each with
whether it needs the API key (when one is set; health never does). Their paths are relative to
`/v1`, the prefix `create_app` adds; `COLLECTION_ROUTERS` are also served under
`/v1/collections/{collection}` for each collection (the `/v1` ones are the default collection's).
A route module only translates HTTP to calls on the pipeline (through `ui.api.deps`) and back;
none answers, retrieves or reads articles itself."""

from __future__ import annotations

from fastapi import APIRouter

from ui.api.routes import (
    articles,
    chat,
    collections,
    feedback,
    feeds,
    health,
    metrics,
    models,
    questions,
)

ROUTERS: tuple[tuple[APIRouter, bool], ...] = (
    (questions.router, True),
    (chat.router, True),
    (models.router, True),
    (health.router, False),
    (metrics.router, True),
    (articles.router, True),
    (feeds.router, True),
    (collections.router, True),
    (feedback.router, True),
)
COLLECTION_ROUTERS: tuple[APIRouter, ...] = (
    questions.router,
    chat.router,
    articles.router,
    feeds.router,
    collections.keys_router,
    feedback.router,
)
