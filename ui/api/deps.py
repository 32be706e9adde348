"""What a route may ask FastAPI for: the pipeline of the collection it is about (checked against
the caller's key), its question-answering service and settings, the metrics, and the key check.

The collection is the path's (`/v1/collections/{collection}/...`), or the default one for the
routes directly under `/v1`. Use them as parameter types: `pipeline: Reader` (questions, the
article list), `pipeline: Writer` (adding and removing articles), `qa: QA`; `Everything` for a
server-wide route the server's key alone may use. A key for another collection, or a collection
that does not exist, gets the same 404; the right collection with too small a scope a 403
(`ui.api.access`). `require_key` is the dependency `create_app` puts on every router but
health's: it accepts `Authorization: Bearer KEY` or `X-API-Key: KEY` and answers 401 otherwise.
This module builds nothing and holds no state of its own.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from rag.pipeline import Pipeline
from rag.service import QAService
from rag.settings import Settings
from ui.api.access import Access, Auth
from ui.api.observe import Metrics
from ui.served import NoSuchCollection, Served

KEY_HELP = (
    "missing or wrong API key: send `Authorization: Bearer KEY` or `X-API-Key: KEY` "
    "with the key set in RAG_SERVER__API_KEY or one made by `rag keys create`"
)
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$"

bearer = HTTPBearer(auto_error=False, description="the API key as a bearer token")
key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the API key")
BearerKey = Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
HeaderKey = Annotated[str | None, Security(key_header)]


# the dependencies that only look something up are `async`: FastAPI runs a plain `def` one on
# the worker threads answers hold, and a health probe would wait behind them
async def get_served(request: Request) -> Served:
    served: Served = request.app.state.served
    return served


async def get_auth(request: Request) -> Auth:
    auth: Auth = request.app.state.auth
    return auth


ServedDep = Annotated[Served, Depends(get_served)]
AuthDep = Annotated[Auth, Depends(get_auth)]


async def require_key(
    request: Request, auth: AuthDep, creds: BearerKey, header: HeaderKey
) -> Access:
    """What the request's key opens (resolved by `Guard` before the body was read; here too
    for an app without it): 401 when a key is needed and the one given is missing or wrong."""
    access: Access | None = getattr(request.state, "access", None)
    if access is None:
        given = [k for k in (creds.credentials if creds else None, header) if k is not None]
        access = auth.access(given)
    if access is None:
        raise HTTPException(401, KEY_HELP, headers={"WWW-Authenticate": "Bearer"})
    request.state.access = access
    return access


AccessDep = Annotated[Access, Depends(require_key)]
Keyed = [Depends(require_key)]  # a router's dependencies


async def collection_in_path(
    collection: Annotated[
        str, Path(pattern=NAME_PATTERN, description="the collection (archive) asked about")
    ],
) -> str:
    """Declares the `{collection}` of `/v1/collections/{collection}/...` (read by `pipeline_for`)."""
    return collection


def not_found(name: str) -> HTTPException:
    return HTTPException(
        404, f"no collection {name!r} here: GET /v1/collections lists those this key may use"
    )


def check(access: Access, name: str, scope: str) -> None:
    """404 for a collection the key is not for (whether it exists or not), 403 for a scope the
    key lacks."""
    if not access.sees(name):
        raise not_found(name)
    if not access.allows(scope):
        raise HTTPException(
            403,
            f"this key may {access.scope} the collection {name!r}; this needs a {scope} key "
            "(`rag keys create --scope " + scope + "`)",
        )


def open_pipeline(served: Served, access: Access, name: str | None, scope: str) -> Pipeline:
    """The pipeline of collection `name` (None: the default) for a caller with `access` (may
    block while the collection opens: call it from a worker thread)."""
    name = name or served.default_name
    check(access, name, scope)
    try:
        return served.pipeline(name)
    except NoSuchCollection:
        raise not_found(name) from None


async def pipeline_for(request: Request, served: Served, access: Access, scope: str) -> Pipeline:
    name = request.path_params.get("collection") or served.default_name
    check(access, name, scope)
    if name == served.default_name or name in served.open_names():
        return open_pipeline(served, access, name, scope)  # no wait: already open
    return await run_in_threadpool(open_pipeline, served, access, name, scope)


async def read_pipeline(request: Request, served: ServedDep, access: AccessDep) -> Pipeline:
    return await pipeline_for(request, served, access, "read")


async def write_pipeline(request: Request, served: ServedDep, access: AccessDep) -> Pipeline:
    return await pipeline_for(request, served, access, "write")


async def admin_pipeline(request: Request, served: ServedDep, access: AccessDep) -> Pipeline:
    return await pipeline_for(request, served, access, "admin")


async def everything(access: AccessDep) -> Access:
    """403 unless the server's key (or no key at all): a route about every collection."""
    if not access.everything:
        raise HTTPException(403, "this needs the server's key (RAG_SERVER__API_KEY)")
    return access


async def default_pipeline(served: ServedDep) -> Pipeline:
    """The default collection's, with no key check (health)."""
    return served.default


Reader = Annotated[Pipeline, Depends(read_pipeline)]
Writer = Annotated[Pipeline, Depends(write_pipeline)]
Admin = Annotated[Pipeline, Depends(admin_pipeline)]
Everything = Annotated[Access, Depends(everything)]
DefaultPipeline = Annotated[Pipeline, Depends(default_pipeline)]


async def get_qa(pipeline: Reader) -> QAService:
    return pipeline.qa


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


QA = Annotated[QAService, Depends(get_qa)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]


def api_key(settings: Settings) -> str | None:
    """The configured key (RAG_SERVER__API_KEY), None when the API is open."""
    secret = settings.server.api_key
    return (secret.get_secret_value() if secret else None) or None
