"""`POST /v1/feedback` (a reader's thumbs up or down on an answer, with the answer expected or the
citations that do not support their claims: any key that may read the collection) and `GET
/v1/feedback` (what readers said: an admin key of the collection, or the server's). Kept beside
the collection by `rag.store.feedback`; `rag feedback export` turns it into test questions."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, HTTPException

from rag.store.feedback import Feedback, feedback_book
from ui.api.deps import AccessDep, Admin, Reader
from ui.api.schemas import FeedbackIn

router = APIRouter(tags=["feedback"])


@router.post("/feedback", summary="Say whether an answer was right", status_code=201)
def give_feedback(body: FeedbackIn, pipeline: Reader, access: AccessDep) -> dict[str, Any]:
    answer = body.answer.model_dump(mode="json")
    try:
        item = Feedback(
            question=body.answer.question,
            verdict=body.verdict,
            answer=answer,
            as_of=body.answer.as_of,
            expected=body.expected,
            unsupported=list(body.unsupported),
            note=body.note,
            who=access.key_id or "",
        )
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    kept = feedback_book(pipeline.settings).add(item)
    return {"id": kept.id, "created": kept.created, "exported": kept.gold() is not None}


@router.get("/feedback", summary="What readers said of the collection's answers")
def list_feedback(pipeline: Admin) -> dict[str, Any]:
    found = feedback_book(pipeline.settings).all()
    return {"feedback": [asdict(f) for f in found]}
