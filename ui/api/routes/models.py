"""`GET /v1/models` and `GET /v1/models/{id}`: the collections the caller's key may read, as
OpenAI lists models (the model of a chat completion is the collection it asks). A name that is no
collection gets a card too while the key may read the default collection, which answers it (so
clients that send `gpt-4o` or `news-rag` keep working). The cards are `openai.types.Model`s
(`ui.api.openai_shapes.model_card`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from ui.api import openai_shapes as oai
from ui.api.deps import AccessDep, ServedDep

router = APIRouter(tags=["openai"])


@router.get("/models", summary="The collections this key may read, as models")
def models(served: ServedDep, access: AccessDep) -> dict[str, Any]:
    names = sorted(n for n in served.names() if access.sees(n))
    first = [served.default_name] if access.sees(served.default_name) else []
    names = first + [n for n in names if n not in first]
    return {"object": "list", "data": [oai.to_json(oai.model_card(n)) for n in names]}


@router.get("/models/{model_id}")
def model(model_id: str, served: ServedDep, access: AccessDep) -> dict[str, Any]:
    known = access.sees(model_id) and served.exists(model_id)
    collection = model_id if known else served.default_name
    if not access.sees(collection):
        raise HTTPException(404, f"no model {model_id!r}: GET /v1/models lists them")
    return oai.to_json(oai.model_card(model_id))
