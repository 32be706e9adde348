"""The HTTP API (FastAPI) with the Gradio chat mounted on the same app: what `rag serve` runs.

Endpoints (all JSON; OpenAPI docs at `/docs`):

- `POST /v1/query`: a question (with optional top_k, filters, backend, history) -> the `Answer`
  object; `"stream": true` sends server-sent events: `token` events as the text is written,
  then `answer` (the full, citation-checked Answer; replace the streamed text with its `answer`),
  then `done`; a failure after the stream began arrives as an `error` event before `done`.
- `POST /v1/chat/completions`: OpenAI-compatible (model `news-rag`, any model name accepted), so
  the official `openai` client works with `base_url=http://HOST:PORT/v1`. The last user message
  is the question, earlier messages are the history (follow-ups are made standalone). Citations
  travel in the message text (a "Sources:" list) and in an extra top-level `citations` field
  (plus `answer`, the full Answer); when streaming, both ride on the final chunk. Extensions a
  client may send (openai: `extra_body=`): `top_k`, `filters`, `backend`. An LLM's streamed draft
  cannot be taken back: if checking changed it, the checked text follows as "Checked answer:".
- `GET /v1/models`, `GET /v1/health`, `GET /v1/articles`, `POST /v1/articles` (JSON articles or a
  multipart file upload, ingested with the same cleaning and dedup as `rag ingest`).

Errors a client can fix get a 4xx with `{"detail": "<what is wrong and what to do>"}`; a missing
backend or index gets 503. When `RAG_SERVER__API_KEY` is set, every `/v1/` endpoint but
`/v1/health` needs `Authorization: Bearer KEY` or `X-API-Key: KEY`, and the web UI asks for the
same key on Gradio's login page (any user name, the key as password), so the UI is no way around
the key. `/docs` stays readable (its "Authorize" button takes the key).

This module translates HTTP to `QAService` calls and back; it does not retrieve, answer or
ingest by itself, and it holds no state beyond the pipeline it is given (`create_app(pipeline)`).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

import rag
from rag.answer import Answer, Citation
from rag.errors import (
    BackendUnavailableError,
    BadQuestionError,
    ConfigError,
    EmbeddingMismatchError,
    IndexMissingError,
    LoaderError,
    RagError,
)
from rag.generate import Delta
from rag.pipeline import Pipeline
from rag.retrieval import Filters
from rag.service import BACKENDS, resolve_backend
from rag.settings import Settings

log = logging.getLogger(__name__)

MODEL_ID = "news-rag"
UPLOAD_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".jsonl", ".jsonl.gz", ".json")
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


# --- request bodies -------------------------------------------------------------------------
def too_large(limit: int, size: int | None = None) -> str:
    got = f" ({size} bytes)" if size else ""
    return (
        f"the request body is too large{got}: the limit is {limit} bytes "
        "(RAG_SERVER__MAX_UPLOAD_BYTES); split the upload into smaller files"
    )


class BodyLimit:
    """ASGI middleware: a /v1/ request whose Content-Length exceeds the limit gets a 413 before
    its body is read (uploads without a length are counted as they stream, in the endpoint)."""

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


class FiltersIn(BaseModel):
    """Only passages from articles published in [date_from, date_to] and from these sources."""

    model_config = ConfigDict(extra="forbid")
    date_from: date | None = Field(None, description="YYYY-MM-DD, inclusive")
    date_to: date | None = Field(None, description="YYYY-MM-DD, inclusive")
    sources: list[str] | None = Field(None, description="source names, e.g. ['reuters.com']")

    @model_validator(mode="after")
    def _ordered(self) -> FiltersIn:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError("date_from is after date_to; swap them")
        return self

    def to_filters(self) -> Filters:
        return Filters(date_from=self.date_from, date_to=self.date_to, sources=self.sources)


class HistoryMessage(BaseModel):
    role: Literal["user", "assistant", "system"]
    content: str


class QueryIn(BaseModel):
    question: str = Field(description="what to ask about the articles")
    top_k: int | None = Field(None, ge=1, le=50, description="passages to answer from")
    filters: FiltersIn | None = None
    backend: str | None = Field(None, description=f"one of {', '.join(BACKENDS)}")
    history: list[HistoryMessage] | None = Field(
        None, description="earlier turns, so a follow-up question can be made standalone"
    )
    stream: bool = Field(False, description="send server-sent events instead of one JSON answer")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"question": "What did Hegseth say about 5%?", "top_k": 5}]}
    )


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        if not self.content:
            return ""
        return "".join(
            str(p.get("text", "")) for p in self.content if p.get("type", "text") == "text"
        )


class ChatCompletionIn(BaseModel):
    """OpenAI's chat request; unknown OpenAI options (temperature, ...) are accepted and ignored."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "model": MODEL_ID,
                    "messages": [{"role": "user", "content": "What did Hegseth say about 5%?"}],
                }
            ]
        },
    )
    model: str = MODEL_ID
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    # extensions (the openai client sends them with extra_body=...)
    top_k: int | None = Field(None, ge=1, le=50)
    filters: FiltersIn | None = None
    backend: str | None = None


class ArticleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1)
    text: str = Field(min_length=1, description="the article body; paragraphs split by blank lines")
    url: str | None = None
    published: str | None = Field(None, description="publication date, e.g. 2025-06-05")
    source: str | None = None
    authors: list[str] | str | None = None
    id: str | None = Field(None, description="stable id; default: derived from url or text")

    @model_validator(mode="after")
    def _date_parses(self) -> ArticleIn:
        if self.published:
            from index.clean import parse_date

            if parse_date(self.published) is None:
                raise ValueError(f"published {self.published!r} is not a date like 2025-06-05")
        return self


class ArticlesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    articles: list[ArticleIn] = Field(min_length=1)


# --- helpers --------------------------------------------------------------------------------
def sources_text(answer: Answer) -> str:
    """What follows the answer in a chat message: notes and the numbered sources with quotes."""
    parts: list[str] = []
    if answer.notice:
        parts.append(f"(Note: {answer.notice})")
    if answer.citations:
        lines = ["Sources:"]
        for c in answer.citations:
            lines.append(
                f"[{c.number}] {c.title}, {c.date or 'undated'}, {c.source or 'unknown source'}: “{c.quote}”"
            )
        parts.append("\n".join(lines))
    elif answer.declined and answer.related:
        r = answer.related[0]
        parts.append(f"Closest passage: {r.title}, {r.date or 'undated'}: “{r.quote}”")
    return "".join("\n\n" + p for p in parts)


def message_text(answer: Answer) -> str:
    return answer.answer + sources_text(answer)


def _citations_json(citations: list[Citation]) -> list[dict[str, Any]]:
    return [c.model_dump() for c in citations]


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _usage(answer: Answer, question: str, content: str) -> dict[str, int]:
    if answer.tokens:
        prompt, completion = answer.tokens.get("prompt", 0), answer.tokens.get("completion", 0)
    else:  # extractive: no model read a prompt; count what was asked and written
        from rag.generate import count_tokens

        prompt, completion = count_tokens(question), count_tokens(content)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, RagError):
        return str(exc)
    return f"internal error ({type(exc).__name__}); see the server log"


def _status_for(exc: RagError) -> int:
    if isinstance(exc, BadQuestionError):
        return 400
    if isinstance(exc, LoaderError):
        return 422
    if isinstance(
        exc, (ConfigError, BackendUnavailableError, IndexMissingError, EmbeddingMismatchError)
    ):
        return 503
    return 400


def _describe_validation(errors: Sequence[Any]) -> str:
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


_CHECKED = "\n\nChecked answer (replaces the text above): "
_TAIL = re.compile(r"\n\n(?:Sources:\n|\(Note: |Closest passage: )")


def _answer_part(message: str) -> str:
    """The answer in one of our chat messages, without the draft it replaced or the sources."""
    if _CHECKED in message:
        message = message.split(_CHECKED, 1)[1]
    return _TAIL.split(message, maxsplit=1)[0]


def _history(messages: list[ChatMessageIn]) -> tuple[str, list[dict[str, str]]]:
    """The last user message is the question; user/assistant messages before it are history."""
    last = max((i for i, m in enumerate(messages) if m.role == "user"), default=None)
    if last is None:
        raise BadQuestionError(
            "messages has no user message: put the question in a message with role 'user'"
        )
    history = []
    for m in messages[:last]:
        if m.role in ("user", "assistant"):
            text = m.text()
            if m.role == "assistant":  # our own replies carry notes and sources: keep the answer
                text = _answer_part(text)
            history.append({"role": m.role, "content": text})
    return messages[last].text(), history


# --- the app --------------------------------------------------------------------------------
def create_app(pipeline: Pipeline, *, ui: bool = True) -> FastAPI:
    """The API for this pipeline, with the Gradio chat at `/` unless `ui=False`."""
    settings: Settings = pipeline.settings
    qa = pipeline.qa
    server = settings.server
    api_key = server.api_key.get_secret_value() if server.api_key else None
    ingest_lock = threading.Lock()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        qa.close()  # stops a local llama.cpp server if one was started

    app = FastAPI(
        title="news-rag",
        version=rag.__version__,
        description="Questions about news articles, answered with a citation for every claim. "
        "The chat UI is at `/`; the OpenAI-compatible endpoint at `/v1/chat/completions`."
        + (
            " Every /v1 endpoint except /v1/health needs the API key (Authorize)."
            if api_key
            else ""
        ),
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, limit=server.max_upload_bytes)
    if server.cors_origins:  # added last, so outermost: even a 413 carries the CORS headers
        app.add_middleware(
            CORSMiddleware,
            allow_origins=server.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        )

    # --- errors: a sentence for a person, never a stack trace --------------------------------
    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        return JSONResponse(
            {"detail": _describe_validation(errors), "errors": jsonable(errors)}, status_code=422
        )

    @app.exception_handler(RagError)
    async def _rag_error(_: Request, exc: RagError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=_status_for(exc))

    @app.exception_handler(Exception)
    async def _internal(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse({"detail": _error_text(exc)}, status_code=500)

    # --- auth ---------------------------------------------------------------------------------
    bearer = HTTPBearer(auto_error=False, description="the API key as a bearer token")
    key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the API key")

    def require_key(
        creds: HTTPAuthorizationCredentials | None = Security(bearer),  # noqa: B008
        header_key: str | None = Security(key_header),
    ) -> None:
        given = [k for k in (creds.credentials if creds else None, header_key) if k]
        if api_key and not any(secrets.compare_digest(k.encode(), api_key.encode()) for k in given):
            raise HTTPException(
                401,
                "missing or wrong API key: send `Authorization: Bearer KEY` or `X-API-Key: KEY` "
                "with the key set in RAG_SERVER__API_KEY",
                headers={"WWW-Authenticate": "Bearer"},
            )

    protected = [Depends(require_key)] if api_key else []

    # --- questions ----------------------------------------------------------------------------
    def _prepare(question: str, backend: str | None) -> str:
        """Fail before streaming starts: a bad question or backend must be a 4xx, not a broken stream."""
        question = qa.validate(question)
        qa.answerer(backend)  # unknown backend -> 400; unconfigured or missing -> 503
        return question

    @app.post(
        "/v1/query",
        response_model=Answer,
        dependencies=protected,
        tags=["questions"],
        summary="Answer a question with citations",
        responses={
            200: {"content": {"text/event-stream": {}}, "description": "the Answer, or SSE"},
            400: {"description": "empty or too long question, unknown backend"},
            422: {"description": "malformed body or filters"},
            503: {"description": "answer backend or index unavailable"},
        },
    )
    def query(body: QueryIn) -> Any:
        _prepare(body.question, body.backend)
        kwargs: dict[str, Any] = {
            "top_k": body.top_k,
            "filters": body.filters.to_filters() if body.filters else None,
            "backend": body.backend,
            "history": [h.model_dump() for h in body.history] if body.history else None,
        }
        if not body.stream:
            return qa.ask(body.question, **kwargs)

        def events() -> Iterator[str]:
            try:
                for event in qa.stream(body.question, **kwargs):
                    if isinstance(event, Delta):
                        yield _sse("token", {"text": event.text})
                    elif isinstance(event, Answer):
                        yield _sse("answer", event.model_dump(mode="json"))
            except Exception as exc:  # headers are sent: report in-band
                log.exception("streaming failed")
                yield _sse("error", {"detail": _error_text(exc)})
            yield _sse("done", {})

        return StreamingResponse(events(), media_type="text/event-stream", headers=SSE_HEADERS)

    @app.post(
        "/v1/chat/completions",
        dependencies=protected,
        tags=["openai"],
        summary="OpenAI-compatible chat completion (model news-rag)",
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    def chat_completions(body: ChatCompletionIn) -> Any:
        question, history = _history(body.messages)
        _prepare(question, body.backend)
        kwargs: dict[str, Any] = {
            "top_k": body.top_k,
            "filters": body.filters.to_filters() if body.filters else None,
            "backend": body.backend,
            "history": history or None,
        }
        cid = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())

        if not body.stream:
            answer = qa.ask(question, **kwargs)
            content = message_text(answer)
            return {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": MODEL_ID,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": _usage(answer, question, content),
                "citations": _citations_json(answer.citations),
                "answer": answer.model_dump(mode="json"),
            }

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
            data = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": MODEL_ID,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
            return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

        def events() -> Iterator[str]:
            yield chunk({"role": "assistant", "content": ""})
            streamed: list[str] = []
            try:
                for event in qa.stream(question, **kwargs):
                    if isinstance(event, Delta):
                        streamed.append(event.text)
                        yield chunk({"content": event.text})
                    elif isinstance(event, Answer):
                        tail = sources_text(event)
                        sent = "".join(streamed)
                        if " ".join(sent.split()) != " ".join(event.answer.split()):
                            # an LLM's draft was repaired (citations checked, or extraction took
                            # over): chunks cannot be taken back, so send the checked answer too
                            tail = _CHECKED + event.answer + tail
                        yield chunk({"content": tail})
                        yield chunk(
                            {},
                            "stop",
                            citations=_citations_json(event.citations),
                            answer=event.model_dump(mode="json"),
                            usage=_usage(event, question, sent + tail),
                        )
            except Exception as exc:
                log.exception("streaming failed")
                err = {"message": _error_text(exc), "type": "server_error"}
                yield f"data: {json.dumps({'error': err})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers=SSE_HEADERS)

    @app.get("/v1/models", dependencies=protected, tags=["openai"], summary="The one model")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [_model_card()]}

    @app.get("/v1/models/{model_id}", dependencies=protected, tags=["openai"])
    def model(model_id: str) -> dict[str, Any]:
        return _model_card() | {"id": model_id}

    # --- status and articles ------------------------------------------------------------------
    @app.get("/v1/health", tags=["status"], summary="Index size and backends (no key needed)")
    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "chunks": pipeline.retriever.size,
            "articles": len(pipeline.retriever.articles()),
            "embedding_model": str(getattr(pipeline.embed_model, "model_name", "")),
            "answer_backend": resolve_backend(settings),
            "version": rag.__version__,
        }

    @app.get("/v1/articles", dependencies=protected, tags=["articles"], summary="What is indexed")
    def list_articles() -> dict[str, Any]:
        articles = pipeline.retriever.articles()
        return {"count": len(articles), "articles": articles}

    @app.post(
        "/v1/articles",
        dependencies=protected,
        tags=["articles"],
        summary="Add articles (JSON or file upload), cleaned and deduplicated like `rag ingest`",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": ArticlesIn.model_json_schema()},
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "files": {
                                    "type": "array",
                                    "items": {"type": "string", "format": "binary"},
                                    "description": "files: " + ", ".join(UPLOAD_SUFFIXES),
                                }
                            },
                        }
                    },
                },
            }
        },
        responses={413: {"description": "too large"}, 415: {"description": "unsupported"}},
    )
    async def add_articles(request: Request) -> dict[str, Any]:
        body = await _read_limited(request)
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        with tempfile.TemporaryDirectory(prefix="rag-upload-") as tmp:
            if ctype == "application/json":
                articles, problems = _json_articles(body)
            elif ctype == "multipart/form-data":
                request._body = body  # let starlette parse the bytes we already read and counted
                form = await request.form(max_files=1000, max_fields=1000)
                paths: list[Path] = []
                for _, value in form.multi_items():
                    if isinstance(value, str):
                        continue
                    name = Path(value.filename or "upload.txt").name
                    if not name.lower().endswith(UPLOAD_SUFFIXES):
                        raise HTTPException(
                            415,
                            f"{name}: unsupported file type; upload one of {', '.join(UPLOAD_SUFFIXES)}",
                        )
                    target = Path(tmp) / f"{len(paths)}" / name
                    target.parent.mkdir()
                    target.write_bytes(await value.read())
                    paths.append(target)
                await form.close()
                if not paths:
                    raise HTTPException(
                        422, "no file in the upload: send multipart form field(s) named 'files'"
                    )
                articles, problems = await run_in_threadpool(_file_articles, paths)
            else:
                raise HTTPException(
                    415,
                    "send application/json {'articles': [{'title': ..., 'text': ...}]} "
                    "or a multipart/form-data file upload",
                )
            if not articles:
                raise HTTPException(
                    422,
                    "no article could be read: "
                    + "; ".join(f"{p['location']}: {p['message']}" for p in problems),
                )
            return await run_in_threadpool(_ingest, articles, problems)

    async def _read_limited(request: Request) -> bytes:
        size, parts = 0, []
        async for part in request.stream():
            size += len(part)
            if size > server.max_upload_bytes:
                raise HTTPException(413, too_large(server.max_upload_bytes))
            parts.append(part)
        return b"".join(parts)

    def _json_articles(body: bytes) -> tuple[list[Any], list[dict[str, str]]]:
        from index.loaders import article_from_record

        try:
            parsed = ArticlesIn.model_validate_json(body)
        except ValidationError as exc:
            raise HTTPException(
                422,
                _describe_validation(exc.errors())
                + ' (expected {"articles": [{"title": ..., "text": ...}]})',
            ) from None
        articles, problems = [], []
        for i, a in enumerate(parsed.articles):
            location = a.url or f"POST /v1/articles #{i}"
            try:
                articles.append(article_from_record(a.model_dump(exclude_none=True), location))
            except (KeyError, ValueError) as exc:
                problems.append({"location": location, "message": str(exc)})
        return articles, problems

    def _file_articles(paths: list[Path]) -> tuple[list[Any], list[dict[str, str]]]:
        from index.loaders import LoadProblem, load

        articles, problems = [], []
        for path in paths:
            for item in load(path):
                if isinstance(item, LoadProblem):
                    problems.append(
                        {"location": path.name, "message": item.message.replace(str(path), "")}
                    )
                else:
                    if item.location.startswith(str(path)):  # the temp path means nothing later
                        item.location = "upload:" + path.name + item.location[len(str(path)) :]
                    articles.append(item)
        return articles, problems

    def _ingest(articles: list[Any], problems: list[dict[str, str]]) -> dict[str, Any]:
        from index.ingest import ingest

        with ingest_lock:  # one writer at a time: the ingestion state file is per store
            report = ingest([], settings, pipeline.embed_model, articles=articles, progress=False)
            pipeline.retriever.refresh()
        return {
            "articles": report.articles,
            "article_ids": [a.id for a in articles],
            "new": report.new,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "chunks_added": report.chunks_added,
            "duplicate_paragraphs": report.duplicate_paragraphs,
            "problems": problems + [p.__dict__ for p in report.problems],
            "summary": report.summary(),
        }

    if ui:
        import gradio as gr

        from ui.web import CSS, HEAD, build_ui

        def _login(_user: str, password: str) -> bool:
            return bool(api_key) and secrets.compare_digest(
                password.encode(), str(api_key).encode()
            )

        app = gr.mount_gradio_app(
            app,
            build_ui(pipeline),
            path="/",
            auth=_login if api_key else None,
            auth_message="Enter any user name and the server's API key (RAG_SERVER__API_KEY)."
            if api_key
            else None,
            footer_links=[],
            max_file_size=server.max_upload_bytes,
            css=CSS,
            head=HEAD,
            show_error=False,
        )
    return app


def _model_card() -> dict[str, Any]:
    return {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "news-rag"}


def jsonable(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Validation errors without the parts JSON cannot carry (exceptions in ctx, raw bytes)."""
    out = []
    for e in errors:
        item: dict[str, Any] = {k: e[k] for k in ("type", "loc", "msg") if k in e}
        item["loc"] = list(item.get("loc", ()))
        out.append(item)
    return out


# --- `rag serve` ----------------------------------------------------------------------------
def _seeds_dir() -> Path | None:
    """`seeds/` in the current directory, else the one in this checkout."""
    for candidate in (Path.cwd() / "seeds", Path(__file__).resolve().parent.parent / "seeds"):
        if candidate.is_dir():
            return candidate
    return None


def run(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Build the pipeline (ingesting seeds/ into an empty index first) and serve until stopped."""
    import uvicorn

    from rag import embeddings
    from rag.pipeline import build

    host = host or settings.server.host
    port = port or settings.server.port
    embed_model = embeddings.build(settings.embed)
    try:
        pipeline = build(settings, embed_model=embed_model)
    except IndexMissingError as exc:
        seeds = _seeds_dir()
        if seeds is None:
            raise IndexMissingError(
                f"{exc}; no seeds/ folder here to start from: run `rag ingest DIR` first"
            ) from None
        from index.ingest import ingest

        print(f"the index is empty: ingesting {seeds} first", flush=True)
        report = ingest([seeds], settings, embed_model, progress=False)
        print(report.summary(), flush=True)
        pipeline = build(settings, embed_model=embed_model)
    app = create_app(pipeline)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    print(
        f"news-rag: {pipeline.retriever.size} chunks from "
        f"{len(pipeline.retriever.articles())} articles; answers: {resolve_backend(settings)}\n"
        f"  chat UI   http://{shown}:{port}/\n"
        f"  HTTP API  http://{shown}:{port}/v1  (OpenAI base_url; docs at /docs)"
        + ("\n  API key required (RAG_SERVER__API_KEY)" if settings.server.api_key else ""),
        flush=True,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")
