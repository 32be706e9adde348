"""`Guard`, the ASGI middleware in front of every API route, which bounds what a client can make
the server do before anything else runs:

1. the API key (RAG_SERVER__API_KEY) is checked from the headers before a byte of the body is
   read: every /v1 route but health, and the OpenAPI docs and schema unless
   RAG_SERVER__OPEN_DOCS=true, answer 401 without it; a client that keeps sending wrong keys is
   told to wait (429 with Retry-After) after RAG_SERVER__KEY_FAILURES_PER_MINUTE of them; the
   web UI's login (the key as its password) counts its misses against the same limit. The right
   key still gets through from an address over the limit (someone else's guesses behind the
   same address do not lock its users out) when the key is one no guessing can find
   (`UNGUESSABLE` characters or more); a shorter key is refused too until the minute ends;
2. the body is counted as it arrives, with or without Content-Length (chunked): past the route's
   limit the request gets a 413 that names the limit and its setting, before anything parses it
   (uploads to /v1/articles: RAG_SERVER__MAX_UPLOAD_BYTES; everything else:
   RAG_SERVER__MAX_REQUEST_BYTES);
3. a method no route at the path takes is a 405 naming those it does (the web UI, mounted at
   `/`, would otherwise answer it with a 404);
4. an unexpected error becomes a JSON 500 here, so the server does not drop the connection (the
   client's next request on it works);
5. the few routes of the web UI that Gradio leaves open behind its own login (the session
   heartbeat, a long-lived stream; token, user, app_id, startup-events) need a UI login or the
   key too (`UI_GATED`; the app puts the login check on `app.state.ui_login`).

`form_from_bytes()` then parses a multipart upload from the bytes already read and counted, so
nothing reads the body twice. This module limits and reads bodies; it does not look inside them.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ui.api.access import UNGUESSABLE, Access, Auth, Sessions, credentials
from ui.api.errors import error_text
from ui.api.paths import api_paths

log = logging.getLogger(__name__)

OPEN_PATHS = ("/v1/health",)
DOC_PATHS = ("/docs", "/redoc", "/openapi.json")
UI_GATED = (
    "/gradio_api/heartbeat/",
    "/gradio_api/token",
    "/gradio_api/user",
    "/gradio_api/app_id",
    "/gradio_api/startup-events",
)
UI_HELP = "log in to the web UI first (any user name, the API key as password) or send the API key"
UI_CLOSED = (
    "a key was made (`rag keys create`) after this server started with its web UI open: "
    "restart `rag serve` to have the UI ask for a key"
)
UPLOADS = re.compile(r"/v1/(collections/[^/]+/)?articles$")  # uploads, each collection's
LOGIN = ("/login", "/login/")  # the web UI's login (Gradio's): the key is its password
UPLOAD_SETTING = "RAG_SERVER__MAX_UPLOAD_BYTES"
REQUEST_SETTING = "RAG_SERVER__MAX_REQUEST_BYTES"
SHORT_KEY = (
    f"the API key is shorter than {UNGUESSABLE} characters: an address over the wrong-key limit "
    "is refused even with the right key; a random key such as `python3 -c 'import secrets; "
    "print(secrets.token_urlsafe(24))'` lets its users through while guesses are refused"
)
KEY_HELP = (
    "missing or wrong API key: send `Authorization: Bearer KEY` or `X-API-Key: KEY` "
    "with the key set in RAG_SERVER__API_KEY"
)


def too_large(limit: int, size: int | None = None, setting: str = UPLOAD_SETTING) -> str:
    got = f" ({size} bytes)" if size else ""
    what = "split the upload into smaller files" if setting == UPLOAD_SETTING else "send less"
    return f"the request body is too large{got}: the limit is {limit} bytes ({setting}); {what}"


class BodyTooLarge(HTTPException):
    """Raised by the counting `receive` when a body passes its limit (FastAPI lets an
    HTTPException through from a body read; Starlette answers it with the 413)."""

    def __init__(self, limit: int, setting: str) -> None:
        super().__init__(413, too_large(limit, setting=setting))


class FailedKeys:
    """Wrong-key attempts per client address in the last minute (thread-safe)."""

    PRUNE_AT = 10_000  # addresses kept before those quiet for a minute are forgotten

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._seen.setdefault(client, deque())
        while times and times[0] <= now - 60:
            times.popleft()
        return times

    def wait(self, client: str) -> int:
        """Seconds this client must wait before its key is checked again (0: go ahead)."""
        now = time.monotonic()
        with self._lock:
            times = self._recent(client, now)
            if len(times) < self.per_minute:
                return 0
            return max(1, int(times[0] + 60 - now) + 1)

    def failed(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._recent(client, now).append(now)
            if len(self._seen) > self.PRUNE_AT:  # forget those with no failure this minute
                for c in [c for c, t in self._seen.items() if not t or t[-1] <= now - 60]:
                    del self._seen[c]

    def __len__(self) -> int:
        return len(self._seen)


def _client(scope: Scope) -> str:
    """The address the connection comes from (a proxy's X-Forwarded-For only when trusted)."""
    return str((scope.get("client") or ("?", 0))[0])


class Guard:
    """See the module's docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        auth: Auth,
        sessions: Sessions | None = None,
        request_limit: int,
        upload_limit: int,
        open_docs: bool = False,
        key_failures_per_minute: int = 30,
    ) -> None:
        self.app = app
        self.auth = auth
        self.sessions = sessions
        self.request_limit = request_limit
        self.upload_limit = upload_limit
        self.open_docs = open_docs
        self.failures = FailedKeys(key_failures_per_minute)
        self._paths: list[tuple[str, re.Pattern[str], set[str]]] | None = None

    def _needs_key(self, path: str) -> bool:
        if path in OPEN_PATHS or not self.auth.required:
            return False
        if path.startswith("/v1/"):
            return True
        return not self.open_docs and (path in DOC_PATHS or path.startswith("/docs/"))

    def _access(self, headers: dict[bytes, bytes]) -> Access | None:
        """What the request's keys open: None when a key is missing or wrong (a bearer token
        and an X-API-Key header are each accepted; when both come, both must be the same key)."""
        return self.auth.access(credentials(headers))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = dict(scope["headers"])
        required = self.auth.required
        if required and path in LOGIN and scope["method"] == "POST":
            await self._login(scope, receive, send)
            return
        if self._needs_key(path):
            client = _client(scope)
            access = self._access(headers)
            if not self.auth.unguessable(access) and await self._told_to_wait(
                client, scope, receive, send
            ):
                return
            if access is None:
                self.failures.failed(client)
                auth = {"WWW-Authenticate": "Bearer"}
                await _reply(scope, receive, send, 401, KEY_HELP, auth)
                return
            scope.setdefault("state", {})["access"] = access  # for `ui.api.deps`
        elif required and path.startswith(UI_GATED) and not self._ui_login(scope):
            await _reply(scope, receive, send, 401, UI_HELP)
            return
        elif required and self._web_ui(path) and getattr(scope["app"].state, "ui_open", False):
            await _reply(scope, receive, send, 503, UI_CLOSED)
            return
        if path.startswith("/v1/"):
            allowed = self._other_methods(scope)
            if allowed:
                detail = f"{scope['method']} is not allowed here; use {', '.join(sorted(allowed))}"
                allow = {"Allow": ", ".join(sorted(allowed))}
                await _reply(scope, receive, send, 405, detail, allow)
                return
            limit, setting = (
                (self.upload_limit, UPLOAD_SETTING)
                if UPLOADS.match(path)
                else (self.request_limit, REQUEST_SETTING)
            )
            length = headers.get(b"content-length", b"")
            if length.isdigit() and int(length) > limit:
                detail = too_large(limit, int(length), setting)
                await _reply(scope, receive, send, 413, detail)
                return
            receive = _counting(receive, limit, setting)
        await self._run(scope, receive, send)

    @staticmethod
    def _web_ui(path: str) -> bool:
        return not path.startswith(("/v1/", "/docs", "/redoc")) and path != "/openapi.json"

    async def _told_to_wait(self, client: str, scope: Scope, receive: Receive, send: Send) -> bool:
        """A 429 with Retry-After while `client` has sent too many wrong keys; True if sent."""
        wait = self.failures.wait(client)
        if wait:
            detail = f"too many wrong API keys from this address: try again in {wait} s"
            await _reply(scope, receive, send, 429, detail, {"Retry-After": str(wait)})
        return bool(wait)

    async def _login(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The web UI's login, which Gradio checks: refused while the address has sent too many
        wrong keys (one limit for every way a key comes; an unguessable key, right, still logs
        in), and a miss counted as a wrong key."""
        client = _client(scope)
        body = await _read_body(receive, self.request_limit)
        access = self.auth.access([await _login_password(scope, body)])
        if self.failures.wait(client) and not self.auth.unguessable(access):
            await self._told_to_wait(client, scope, receive, send)
            return
        receive = _replay(body)

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                if message["status"] >= 400:
                    self.failures.failed(client)
                elif access is not None and self.sessions is not None:
                    for token in _session_cookies(message.get("headers", [])):
                        self.sessions.add(token, access)  # what this login opens, for the UI
            await send(message)

        await self._run(scope, receive, counted)

    def _ui_login(self, scope: Scope) -> bool:
        """A web UI login (Gradio's session cookie, as `app.state.ui_login` judges it), or a key."""
        if self._access(dict(scope["headers"])) is not None:
            return True
        judge = getattr(scope["app"].state, "ui_login", None)
        return judge is not None and bool(judge(Request(scope).cookies))

    def _other_methods(self, scope: Scope) -> set[str]:
        """The methods the API path takes when this request's is not one of them (empty when
        it is, or no API path matches). Answered here: the web UI is mounted at `/` and would
        answer such a request with a 404."""
        if self._paths is None:
            self._paths = api_paths(scope["app"])
        for _, pattern, methods in self._paths:
            if pattern.match(scope["path"]):
                return set() if scope["method"] in methods else methods
        return set()

    async def _run(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:  # an error nothing else answered: a 500 on a usable connection
            log.exception("unhandled error", exc_info=exc)
            if not started:
                await _reply(scope, receive, send, 500, error_text(exc))


async def _login_password(scope: Scope, body: bytes) -> str:
    """The password of a login form (the browser sends it as multipart, a script may send it
    url-encoded): parsed from the bytes already read, as Starlette parses forms."""
    try:
        form = await Request(scope, _replay(body)).form(max_files=0, max_fields=10)
    except Exception:  # not a form at all: no password (Gradio refuses it too)
        return ""
    try:
        password = form.get("password")
        return password if isinstance(password, str) else ""
    finally:
        await form.close()


def _session_cookies(headers: list[tuple[bytes, bytes]]) -> list[str]:
    """The values of the `access-token-*` cookies a response sets (Gradio's login's)."""
    found = []
    for name, value in headers:
        if name.lower() == b"set-cookie":
            cookie = value.decode("latin-1").split(";", 1)[0]
            key, _, token = cookie.partition("=")
            if key.strip().startswith("access-token") and token:
                found.append(token.strip().strip('"'))
    return found


def _counting(receive: Receive, limit: int, setting: str) -> Callable[[], Awaitable[Message]]:
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit, setting)
        return message

    return counted


async def _reply(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    detail: str,
    headers: dict[str, Any] | None = None,
) -> None:
    await JSONResponse({"detail": detail}, status_code=status, headers=headers)(
        scope, receive, send
    )


async def _read_body(receive: Receive, limit: int) -> bytes:
    """The request's body, up to `limit` bytes (the rest is not read: a login form is small)."""
    parts, size = [], 0
    while size <= limit:
        message = await receive()
        if message["type"] != "http.request":
            break
        parts.append(message.get("body", b""))
        size += len(parts[-1])
        if not message.get("more_body", False):
            break
    return b"".join(parts)[:limit]


def _replay(body: bytes) -> Receive:
    """A `receive` that gives `body` once, as if read from the connection."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


MAX_FORM_PARTS = 1000  # files (and fields) in one multipart upload


async def form_from_bytes(request: Request, body: bytes) -> FormData:
    """Parse a multipart/form-data body already read (and counted by `Guard`).

    Starlette parses a form from the request's stream, which is spent by now, so the form is
    parsed by a second `Request` on the same scope whose `receive` replays the bytes we hold
    (public API; no private `_body` attribute to set). Close the form when done with its files."""
    try:
        return await Request(request.scope, _replay(body)).form(
            max_files=MAX_FORM_PARTS, max_fields=MAX_FORM_PARTS
        )
    except StarletteHTTPException as exc:  # its 400 for a form it will not read
        if exc.status_code != 400:
            raise
        raise HTTPException(
            422,
            f"the upload cannot be read as a form: {exc.detail} Send at most {MAX_FORM_PARTS} "
            "files in one request (several requests, or one .jsonl of many articles).",
        ) from None
