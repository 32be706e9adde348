"""`create_app(pipeline)`: the FastAPI app for one server, wired from the parts of `ui.api`.

It puts the collections served (`ui.served.Served`, the pipeline given the default one) and the
keys (`ui.api.access.Auth`) on `app.state` (where `ui.api.deps` finds them), adds the routers
under `/v1` (the default collection's) and under `/v1/collections/{collection}` (the key check on
all but health's whenever a key is set), `Guard` (the key checked and the body counted before
anything reads it, a 500 that keeps the connection),
CORS when origins are configured, the error handlers, and the Gradio chat at `/` behind Gradio's
login with the same key. It stops the answer backends when the app shuts down. Nothing here
handles a request itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from starlette.routing import Mount

import rag
from rag.errors import ConfigError
from rag.pipeline import Pipeline
from rag.store.keys import folder_keys_left_behind, key_ring
from ui.api.access import Auth, Sessions
from ui.api.deps import Keyed, api_key, collection_in_path
from ui.api.errors import add_handlers
from ui.api.middleware import Guard
from ui.api.observe import observe
from ui.api.routes import COLLECTION_ROUTERS, ROUTERS
from ui.api.schemas import error_responses
from ui.served import Served

DESCRIPTION = (
    "Questions about news articles, answered with a citation for every claim. The chat UI is at "
    "`/`; the OpenAI-compatible endpoint at `/v1/chat/completions`."
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    app.state.served.close()  # stops a local llama.cpp server if one was started


def _in_collection(route: APIRoute) -> str:
    """A unique operation id for a route served under `/v1/collections/{collection}`."""
    return f"collection_{route.name}_{'_'.join(sorted(m.lower() for m in route.methods or ()))}"


def create_app(
    pipeline: Pipeline, *, ui: bool = True, served: Served | None = None, auth: Auth | None = None
) -> FastAPI:
    """The API for this pipeline's collection (the default) and the store's others, with the
    Gradio chat at `/` unless `ui=False`."""
    server = pipeline.settings.server
    served = served or Served(pipeline)
    if auth is None:
        ring = key_ring(pipeline.settings)
        left = folder_keys_left_behind(pipeline.settings, ring)
        if left is not None:
            raise ConfigError(
                f"the keys in {left} are not on the server store (RAG_STORE__URL), which has "
                "none: this server would open to anyone they kept out. Make them again there "
                "(`rag keys create`), then remove that file"
            )
        auth = Auth(api_key(pipeline.settings), ring)
    note = (
        " When RAG_SERVER__API_KEY is set or a key was made (`rag keys create`), every /v1 "
        "endpoint except /v1/health needs a key (Authorize); a collection's key opens only its "
        "collection, to read, write or administer."
    )
    app = FastAPI(
        title="news-rag", version=rag.__version__, description=DESCRIPTION + note, lifespan=lifespan
    )
    app.state.pipeline, app.state.served, app.state.auth = pipeline, served, auth
    app.state.sessions = Sessions(auth)  # what each web UI login opens
    keyed_errors = (401, 403, 404, 429)
    for router, needs_key in ROUTERS:
        errors = error_responses(400, 413, 422, 500, 503, *(keyed_errors if needs_key else ()))
        app.include_router(
            router, prefix="/v1", dependencies=Keyed if needs_key else [], responses=errors
        )
    for router in COLLECTION_ROUTERS:
        app.include_router(
            router,
            prefix="/v1/collections/{collection}",
            dependencies=[Depends(collection_in_path), *Keyed],
            responses=error_responses(400, 413, 422, 500, 503, *keyed_errors),
            generate_unique_id_function=_in_collection,
        )
    add_handlers(app)
    app.add_middleware(
        Guard,
        auth=auth,
        sessions=app.state.sessions,
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

    auth: Auth = app.state.auth
    required = auth.required

    def login(_user: str, password: str) -> bool:
        return auth.access([password]) is not None

    app = gr.mount_gradio_app(
        app,
        build_ui(app.state.served, app.state.sessions),
        path="/",
        auth=login if required else None,
        auth_message="Enter any user name and your key: the server's (RAG_SERVER__API_KEY) or "
        "a collection's (`rag keys create`)."
        if required
        else None,
        footer_links=[],
        max_file_size=pipeline.settings.server.max_upload_bytes,
        css=CSS,
        head=HEAD,
        show_error=False,
    )
    app.state.ui_open = not required  # Guard closes it if a key is made while it runs
    if required:
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
