"""The request-body limit (RAG_SERVER__MAX_UPLOAD_BYTES), enforced twice: by `BodyLimit` for a
/v1/ request whose Content-Length is over it (a 413 before the body is read), and by
`read_limited()` for a body that arrives without a length (counted as it streams).

`form_from_bytes()` then parses a multipart upload from the bytes already read and counted, so
nothing reads the body twice. This module limits and reads bodies; it does not look inside them.
"""

from __future__ import annotations

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import FormData
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def too_large(limit: int, size: int | None = None) -> str:
    got = f" ({size} bytes)" if size else ""
    return (
        f"the request body is too large{got}: the limit is {limit} bytes "
        "(RAG_SERVER__MAX_UPLOAD_BYTES); split the upload into smaller files"
    )


class BodyLimit:
    """ASGI middleware: a /v1/ request whose Content-Length exceeds the limit gets a 413 before
    its body is read (uploads without a length are counted as they stream, by `read_limited`)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            length = dict(scope["headers"]).get(b"content-length", b"")
            if length.isdigit() and int(length) > self.limit:
                detail = too_large(self.limit, int(length))
                await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def read_limited(request: Request, limit: int) -> bytes:
    """The whole body, or a 413 as soon as more than `limit` bytes have arrived."""
    size, parts = 0, []
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise HTTPException(413, too_large(limit))
        parts.append(part)
    return b"".join(parts)


async def form_from_bytes(request: Request, body: bytes) -> FormData:
    """Parse a multipart/form-data body that `read_limited` already consumed.

    Starlette parses a form from the request's stream, which is spent by now, so the form is
    parsed by a second `Request` on the same scope whose `receive` replays the bytes we hold
    (public API; no private `_body` attribute to set). Close the form when done with its files."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return await Request(request.scope, replay).form(max_files=1000, max_fields=1000)
