"""`create_app(pipeline)`: the FastAPI app for one pipeline, wired from the parts of `ui.api`.

It puts the pipeline on `app.state` (where `ui.api.deps` finds it), adds the routers under `/v1`
(the API-key check on all but health's when RAG_SERVER__API_KEY is set), `Guard` (the key checked
and the body counted before anything reads it, a 500 that keeps the connection),
CORS when origins are configured, the error handlers, and the Gradio chat at `/` behind Gradio's
login with the same key. It stops the answer backends when the app shuts down. Nothing here
handles a request itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.routing import Mount

import rag
from rag.pipeline import Pipeline
from ui.api.deps import Keyed, api_key, key_matches
from ui.api.errors import add_handlers
from ui.api.middleware import Guard
from ui.api.observe import observe
from ui.api.routes import ROUTERS
from ui.api.schemas import error_responses

DESCRIPTION = (
    "Questions about news articles, answered with a citation for every claim. The chat UI is at "
    "`/`; the OpenAI-compatible endpoint at `/v1/chat/completions`."
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    app.state.pipeline.close()  # stops a local llama.cpp server if one was started


def create_app(pipeline: Pipeline, *, ui: bool = True) -> FastAPI:
    """The API for this pipeline, with the Gradio chat at `/` unless `ui=False`."""
    server = pipeline.settings.server
    key = api_key(pipeline.settings)
    note = " Every /v1 endpoint except /v1/health needs the API key (Authorize)." if key else ""
    app = FastAPI(
        title="news-rag", version=rag.__version__, description=DESCRIPTION + note, lifespan=lifespan
    )
    app.state.pipeline = pipeline
    for router, needs_key in ROUTERS:
        keyed = bool(key and needs_key)
        errors = error_responses(400, 413, 422, 500, 503, *((401, 429) if keyed else ()))
        app.include_router(
            router, prefix="/v1", dependencies=Keyed if keyed else [], responses=errors
        )
    add_handlers(app)
    app.add_middleware(
        Guard,
        key=key,
        request_limit=server.max_request_bytes,
        upload_limit=server.max_upload_bytes,
        open_docs=server.open_docs,
        key_failures_per_minute=server.key_failures_per_minute,
    )
    if server.cors_origins:  # outside the key check: even a 413 carries the CORS headers
        app.add_middleware(
            CORSMiddleware,
            allow_origins=server.cors_origins,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
        )
    observe(app, pipeline)  # outermost: request ids and counts for every reply
    return mount_web_ui(app, pipeline) if ui else app


def mount_web_ui(app: FastAPI, pipeline: Pipeline) -> FastAPI:
    """The Gradio chat at `/`; with an API key, behind Gradio's login (any user, the key)."""
    import gradio as gr

    from ui.web import CSS, HEAD, build_ui

    key = api_key(pipeline.settings)
    app = gr.mount_gradio_app(
        app,
        build_ui(pipeline),
        path="/",
        auth=(lambda _user, password: key_matches(password, key)) if key else None,
        auth_message="Enter any user name and the server's API key (RAG_SERVER__API_KEY)."
        if key
        else None,
        footer_links=[],
        max_file_size=pipeline.settings.server.max_upload_bytes,
        css=CSS,
        head=HEAD,
        show_error=False,
    )
    if key:
        app.state.ui_login = _ui_login_of(app)
    return app


def _ui_login_of(app: FastAPI) -> Callable[[Mapping[str, str]], bool]:
    """Whether a request's cookies carry a login of the Gradio app mounted on `app` (Gradio's own
    record of its sessions: the `access-token-<cookie id>` cookie among its tokens), for `Guard`
    to let the routes Gradio leaves open through only after a login."""
    from gradio.routes import App

    (ui,) = [r.app for r in app.routes if isinstance(r, Mount) and isinstance(r.app, App)]

    def logged_in(cookies: Mapping[str, str]) -> bool:
        names = (f"access-token-{ui.cookie_id}", f"access-token-unsecure-{ui.cookie_id}")
        return any(cookies.get(n) in ui.tokens for n in names if cookies.get(n))

    return logged_in
