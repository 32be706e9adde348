"""`POST /v1/chat/completions`: OpenAI-compatible, so the official `openai` client works with
`base_url=http://HOST:PORT/v1`. The model is the collection asked (`GET /v1/models` lists those
the key may read); a model name that is no collection (`news-rag`, `gpt-4o`) asks the default
collection, or the path's under `/v1/collections/{collection}/chat/completions`.

The last user message is the question, earlier messages are the history (follow-ups are made
standalone). Citations travel in the message text (a "Sources:" list) and in an extra top-level
`citations` field (plus `answer`, the full Answer); when streaming, both ride on the final chunk,
with `usage`. Extensions a client may send (openai: `extra_body=`): `top_k`, `filters`,
`backend`. An LLM's streamed draft cannot be taken back: if checking changed it, the checked text
follows as "Checked answer:". The shapes are `ui.api.openai_shapes`'; this route only drives them.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from openai.types.chat.chat_completion_chunk import ChoiceDelta

from rag.answering.answer import Answer, Delta
from rag.service import QAService
from ui.api import openai_shapes as oai
from ui.api import sse
from ui.api.deps import AccessDep, MetricsDep, ServedDep, open_pipeline
from ui.api.errors import error_text
from ui.api.observe import Metrics
from ui.api.schemas import ChatCompletionIn

log = logging.getLogger(__name__)
router = APIRouter(tags=["openai"])


@router.post(
    "/chat/completions",
    summary="OpenAI-compatible chat completion (model news-rag)",
    responses={200: {"content": {"text/event-stream": {}}}},
)
def chat_completions(
    body: ChatCompletionIn,
    request: Request,
    served: ServedDep,
    access: AccessDep,
    metrics: MetricsDep,
) -> Any:
    name = request.path_params.get("collection")
    # a collection the key may not read is taken for no collection: the same reply either way
    if name is None and access.sees(body.model) and served.exists(body.model):
        name = body.model
    qa = open_pipeline(served, access, name, "read").qa
    question, history = oai.chat_history(body.messages)
    sse.check_answerable(qa, question, body.backend)
    kwargs: dict[str, Any] = {
        "top_k": body.top_k,
        "filters": body.filters.to_filters() if body.filters else None,
        "backend": body.backend,
        "as_of": body.as_of,
        "history": history or None,
    }
    cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if not body.stream:
        with metrics.counting(body.backend):
            answer = qa.ask(question, **kwargs)
        metrics.answered(answer)
        return JSONResponse(oai.to_json(oai.completion(answer, question, cid=cid, created=created)))
    return sse.response(_chunks(qa, question, kwargs, metrics, cid=cid, created=created))


def _chunks(
    qa: QAService,
    question: str,
    kwargs: dict[str, Any],
    metrics: Metrics,
    *,
    cid: str,
    created: int,
) -> Iterator[str]:
    """The stream: a role chunk, the text as written, the sources (and the checked answer when
    it differs from the draft), a final chunk with finish_reason, usage and our extras; then
    `[DONE]`. A failure mid-stream is an OpenAI-style `{"error": ...}` line."""

    def send(delta: ChoiceDelta, **extra: Any) -> str:
        return sse.data(oai.to_json(oai.chunk(delta, cid=cid, created=created, **extra)))

    yield send(ChoiceDelta(role="assistant", content=""))
    streamed: list[str] = []
    try:
        for event in qa.stream(question, **kwargs):
            if isinstance(event, Delta):
                streamed.append(event.text)
                yield send(ChoiceDelta(content=event.text))
            elif isinstance(event, Answer):
                metrics.answered(event)
                tail = oai.sources_text(event)
                sent = "".join(streamed)
                if " ".join(sent.split()) != " ".join(event.answer.split()):
                    # an LLM's draft was repaired (citations checked, or extraction took over):
                    # chunks cannot be taken back, so send the checked answer too
                    tail = oai.CHECKED + event.answer + tail
                yield send(ChoiceDelta(content=tail))
                yield send(
                    ChoiceDelta(),
                    finish="stop",
                    usage=oai.usage(event, question, sent + tail),
                    **oai.extras(event),
                )
    except Exception as exc:
        metrics.failed(kwargs.get("backend"))
        log.exception("streaming failed")
        yield sse.data({"error": {"message": error_text(exc), "type": "server_error"}})
    yield sse.data("[DONE]")
