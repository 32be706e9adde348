"""Server-sent events: their framing and headers, and the checks that must pass before a stream
starts.

Once the first byte of a stream is sent, the status is 200 and cannot change: a bad question or an
unknown or unavailable backend must therefore fail in `check_answerable()`, before, as a 4xx/503;
whatever fails later travels in-band (an `error` event). This module frames text; it does not
decide what is sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi.responses import StreamingResponse

from rag.service import QAService

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def event(name: str, data: Any) -> str:
    """A named event (`event: token` + `data: {...}`), as /v1/query sends them."""
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def data(payload: Any) -> str:
    """An unnamed `data:` line, as OpenAI streams send them (`payload` a JSON value or a str)."""
    text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {text}\n\n"


def response(events: Iterator[str]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream", headers=HEADERS)


def check_answerable(qa: QAService, question: str, backend: str | None) -> str:
    """Fail before streaming starts: a bad question or backend must be a 4xx, not a broken stream."""
    question = qa.validate(question)
    qa.answerer(backend)  # unknown backend -> 400; unconfigured or missing -> 503
    return question
