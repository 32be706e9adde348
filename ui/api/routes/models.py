"""`GET /v1/models` and `GET /v1/models/{id}`: the one model, `news-rag`, as OpenAI lists models
(any id asked about is answered by the same pipeline, so any id gets a card). The card is an
`openai.types.Model` (`ui.api.openai_shapes.model_card`); nothing here reads the pipeline."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ui.api import openai_shapes as oai

router = APIRouter(tags=["openai"])


@router.get("/models", summary="The one model")
def models() -> dict[str, Any]:
    return {"object": "list", "data": [oai.to_json(oai.model_card())]}


@router.get("/models/{model_id}")
def model(model_id: str) -> dict[str, Any]:
    return oai.to_json(oai.model_card(model_id))
