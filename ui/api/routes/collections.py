"""`GET /v1/collections` (those the caller's key may use) and each collection's keys, for its
admin keys and the server's key: `GET`, `POST .../keys` (a new key, shown once) and
`DELETE .../keys/{key_id}`. Keys are `rag.store.keys`'; who may do what is `ui.api.access`'.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request

from rag.store.keys import KeyNotFoundError
from ui.api.deps import AccessDep, AuthDep, ServedDep, check, not_found
from ui.api.schemas import KeyIn

router = APIRouter(tags=["collections"])
keys_router = APIRouter(tags=["collections"])  # under /v1/collections/{collection}


@router.get("/collections", summary="The collections this key may use")
def collections(served: ServedDep, access: AccessDep) -> dict[str, Any]:
    names = sorted(n for n in served.names() if access.sees(n))
    return {
        "default": served.default_name if access.sees(served.default_name) else None,
        "collections": [
            {"name": n, "default": n == served.default_name, "scope": access.scope} for n in names
        ],
    }


async def administered(request: Request, served: ServedDep, access: AccessDep) -> str:
    """The path's collection, for an admin key of it or the server's key (404 / 403 else)."""
    name: str = request.path_params["collection"]
    check(access, name, "admin")
    if not served.exists(name):
        raise not_found(name)
    return name


Administered = Annotated[str, Depends(administered)]


@keys_router.get("/keys", summary="The collection's keys (never the keys themselves)")
def list_keys(collection: Administered, auth: AuthDep) -> dict[str, Any]:
    ring = auth.ring
    found = ring.list(collection) if ring is not None else []
    return {"keys": [asdict(k) for k in found]}


@keys_router.post("/keys", summary="A new key for the collection, shown once", status_code=201)
def create_key(body: KeyIn, collection: Administered, auth: AuthDep) -> dict[str, Any]:
    if auth.ring is None:
        raise HTTPException(503, "this server keeps no keys")
    info, key = auth.ring.create(collection, body.scope, body.label)
    return {"key": key, **asdict(info)}


@keys_router.delete("/keys/{key_id}", summary="Revoke one of the collection's keys")
def revoke_key(key_id: str, collection: Administered, auth: AuthDep) -> dict[str, Any]:
    try:
        if auth.ring is None:
            raise KeyNotFoundError(key_id)
        info = auth.ring.revoke(key_id, collection)
    except KeyNotFoundError:
        raise HTTPException(404, f"no key {key_id!r} in the collection {collection!r}") from None
    return {"id": info.id, "status": "revoked"}
