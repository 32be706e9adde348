"""Errors as a sentence for a person, never a stack trace: `{"detail": "<what is wrong and what
to do>"}` with the right status.

A `RagError` maps to 400 (bad question, unknown backend), 422 (unreadable article) or 503 (a
backend, the index or the embedding model is not usable); a malformed request to 422 with one
readable line per problem (`describe_validation`); anything else to 500 with the exception's name
only, the details going to the log. `add_handlers(app)` installs them. This module does not
raise errors of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.errors import (
    ArticleConflictError,
    BackendUnavailableError,
    BadQuestionError,
    BusyError,
    ConfigError,
    EmbeddingMismatchError,
    IndexMissingError,
    LoaderError,
    RagError,
    StoreFullError,
    StoreUnavailableError,
)

log = logging.getLogger(__name__)


def error_text(exc: BaseException) -> str:
    """What a client is told: our own errors' message, else only that something broke."""
    if isinstance(exc, RagError):
        return str(exc)
    return f"internal error ({type(exc).__name__}); see the server log"


def status_for(exc: RagError) -> int:
    if isinstance(exc, BadQuestionError):
        return 400
    if isinstance(exc, LoaderError):
        return 422
    if isinstance(exc, ArticleConflictError):
        return 409
    if isinstance(exc, StoreFullError):
        return 507
    if isinstance(exc, (BusyError, StoreUnavailableError)):
        return 503
    if isinstance(
        exc, (ConfigError, BackendUnavailableError, IndexMissingError, EmbeddingMismatchError)
    ):
        return 503
    return 400


def describe_validation(errors: Sequence[Any]) -> str:
    """One readable line per problem, e.g. `filters.date_from: Input should be a valid date`."""
    lines = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ()) if p != "body"]
        if e.get("type") == "json_invalid":
            err = (e.get("ctx") or {}).get("error", "")
            lines.append(
                f"the request body is not valid JSON ({err}); send a JSON object, "
                'e.g. {"question": "What did Hegseth say about 5%?"}'
            )
            continue
        where = ".".join(loc) or "body"
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        if e.get("type") == "missing":
            msg = "this field is required"
        elif e.get("type") in ("date_from_datetime_parsing", "date_parsing", "date_type"):
            msg += "; use YYYY-MM-DD, e.g. 2025-06-05"
        lines.append(f"{where}: {msg}")
    return "; ".join(lines) or "the request is malformed"


def jsonable(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Validation errors without the parts JSON cannot carry (exceptions in ctx, raw bytes)."""
    out = []
    for e in errors:
        item: dict[str, Any] = {k: e[k] for k in ("type", "loc", "msg") if k in e}
        item["loc"] = list(item.get("loc", ()))
        out.append(item)
    return out


async def on_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    return JSONResponse(
        {"detail": describe_validation(errors), "errors": jsonable(errors)}, status_code=422
    )


async def on_rag_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RagError)
    return JSONResponse({"detail": str(exc)}, status_code=status_for(exc))


# what FastAPI says, as a 400, of a JSON body it cannot even decode (invalid UTF-8, a number of
# thousands of digits); a body that is not the JSON asked for is a 422 everywhere else
_UNPARSED = "There was an error parsing the body"


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == _UNPARSED:
        detail = (
            "the request body is not valid JSON (invalid UTF-8, or a number too long to read): "
            "send JSON encoded as UTF-8"
        )
        return JSONResponse({"detail": detail}, status_code=422)
    return await http_exception_handler(request, exc)


async def on_internal(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse({"detail": error_text(exc)}, status_code=500)


def add_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RagError, on_rag_error)
    app.add_exception_handler(Exception, on_internal)
