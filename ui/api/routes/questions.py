"""`POST /v1/query`: a question (with optional top_k, filters, backend, history) -> the `Answer`.

With `"stream": true` the answer comes as server-sent events: `token` events as the text is
written, then `answer` (the full, citation-checked Answer; replace the streamed text with its
`answer`), then `done`; a failure after the stream began arrives as an `error` event before
`done`. This route translates HTTP to `QAService` calls; it does not retrieve or answer itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter

from rag.answering.answer import Answer, Delta
from ui.api import sse
from ui.api.deps import QA, MetricsDep
from ui.api.errors import error_text
from ui.api.schemas import QueryIn

log = logging.getLogger(__name__)
router = APIRouter(tags=["questions"])


@router.post(
    "/query",
    response_model=Answer,
    summary="Answer a question with citations",
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "the Answer, or SSE"},
        400: {"description": "empty or too long question, unknown backend"},
        422: {"description": "malformed body or filters"},
        503: {"description": "answer backend or index unavailable"},
    },
)
def query(body: QueryIn, qa: QA, metrics: MetricsDep) -> Any:
    sse.check_answerable(qa, body.question, body.backend)
    kwargs: dict[str, Any] = {
        "top_k": body.top_k,
        "filters": body.filters.to_filters() if body.filters else None,
        "backend": body.backend,
        "as_of": body.as_of,
        "history": [h.model_dump() for h in body.history] if body.history else None,
    }
    if not body.stream:
        with metrics.counting(body.backend):
            answer = qa.ask(body.question, **kwargs)
        metrics.answered(answer)
        return answer

    def events() -> Iterator[str]:
        try:
            for event in qa.stream(body.question, **kwargs):
                if isinstance(event, Delta):
                    yield sse.event("token", {"text": event.text})
                elif isinstance(event, Answer):
                    metrics.answered(event)
                    yield sse.event("answer", event.model_dump(mode="json"))
        except Exception as exc:  # headers are sent: report in-band
            metrics.failed(body.backend)
            log.exception("streaming failed")
            yield sse.event("error", {"detail": error_text(exc)})
        yield sse.event("done", {})

    return sse.response(events())
