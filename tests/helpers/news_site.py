"""A small news website on 127.0.0.1 for tests that fetch: recorded pages and feeds from
`tests/data/site/`, and routes that misbehave the way real sites do.

    with NewsSite() as site:
        fetch_all([site.url + "/feed.xml"], settings)
        site.requests  # ["/feed.xml"]

Files under `tests/data/site/` are served by name (`/story-1.html`, `/feed.xml`, `/atom.xml`,
`/sitemap.xml`, `/report.pdf`), `{base}` in them replaced by the site's base URL, gzip-compressed
when the client accepts gzip; the story pages also at their canonical `/news/<slug>`. Any path
takes `?delay=SECONDS` (answer after a pause). Other routes:

    /redirect?to=URL     302 to URL (/story-2.html)   /loop          302 to itself
    /missing             404                          /tracked?...   story-1 (any query)
    /slow                story-1 after `slow_seconds` (5 s), sent nothing before
    /trickle             200 at once, then 64 bytes every 0.2 s for `slow_seconds`
    /huge                50 MB of HTML, chunked, no Content-Length, until the client hangs up
    /big-declared        Content-Length 50,000,000, then 1,000 bytes and the connection closed
    /bomb                gzip that inflates to 50 MB (50 KB on the wire)
    /sized?n=N           exactly N bytes of HTML, chunked (no Content-Length)
    /empty               200 text/html with no body
    /untyped             story-3 without a Content-Type header
    /claims?url=URL      an impostor's page that names URL its canonical address

What the site saw: `requests` (paths with their queries, in arrival order), `headers` (each
request's headers, same order), `max_in_flight` (most requests being answered at once) and
`sent` (body bytes the socket accepted, by path, for the last request to each path).
"""

from __future__ import annotations

import gzip
import sys
import threading
import time
from collections.abc import Iterator
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

import pytest

SITE = Path(__file__).resolve().parent.parent / "data" / "site"
TYPES = {
    "feed.xml": "application/rss+xml; charset=utf-8",
    "atom.xml": "application/atom+xml; charset=utf-8",
    "sitemap.xml": "application/xml",
    ".html": "text/html; charset=utf-8",
    ".pdf": "application/pdf",
}
CANONICAL = {
    "/news/harbour-board-approves-ferry-terminal": "story-1.html",
    "/news/marsh-valley-bus-route-saved": "story-2.html",
    "/news/st-annes-school-roof-repairs": "story-3.html",
}
HUGE_BYTES = 50_000_000
_CHUNK = 64 * 1024


@cache
def _bomb() -> bytes:
    return gzip.compress(b" " * HUGE_BYTES, compresslevel=9)


class NewsSite:
    """The site, served from a daemon thread while the context is open (or between `start()`
    and `close()`). `url` is its base URL, without a trailing slash."""

    def __init__(self, *, slow_seconds: float = 5.0) -> None:
        self.slow_seconds = slow_seconds
        self._lock = threading.Lock()
        self._requests: list[str] = []
        self._headers: list[dict[str, str]] = []
        self._sent: dict[str, int] = {}
        self._in_flight = 0
        self._max_in_flight = 0
        self._closing = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # --- what the site saw (copies, safe to read while requests run) ---
    @property
    def requests(self) -> list[str]:
        with self._lock:
            return list(self._requests)

    @property
    def headers(self) -> list[dict[str, str]]:
        with self._lock:
            return [dict(h) for h in self._headers]

    @property
    def max_in_flight(self) -> int:
        with self._lock:
            return self._max_in_flight

    @property
    def sent(self) -> dict[str, int]:
        with self._lock:
            return dict(self._sent)

    # --- life ---
    def start(self) -> NewsSite:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.site = self
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()  # wakes the handlers that are pausing
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> NewsSite:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- used by the handler ---
    def _arrived(self, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self._requests.append(path)
            self._headers.append(headers)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _finished(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _count_sent(self, path: str, n: int, *, first: bool = False) -> None:
        with self._lock:
            self._sent[path] = n if first else self._sent.get(path, 0) + n

    def _pause(self, seconds: float) -> bool:
        """Sleep; False if the site closed meanwhile."""
        return not self._closing.wait(seconds)

    def page(self, name: str) -> bytes:
        """A file of the site as served: `{base}` replaced by this site's URL."""
        data = (SITE / name).read_bytes()
        if name.endswith((".html", ".xml")):
            data = data.replace(b"{base}", self.url.encode())
        return data


def _impostor(url: str) -> bytes:
    """A page that says it is the story at `url` (its canonical link), with other text."""
    from html import escape

    paragraphs = "".join(
        f"<p>{escape(t)}</p>"
        for t in (
            "The harbour board has cancelled the ferry terminal after a secret vote, officials "
            "said on Monday, and the money will go to a casino instead.",
            "Residents were told the decision is final and that no public meeting will be held "
            "before the casino opens next spring on the old pier.",
            "A spokesman for the board declined to say who had proposed the change or how the "
            "members had voted on it.",
        )
    )
    return (
        f'<html><head><title>Ferry terminal scrapped</title><link rel="canonical" '
        f'href="{escape(url)}"></head><body><article><h1>Ferry terminal scrapped</h1>'
        f"{paragraphs}</article></body></html>"
    ).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    site: NewsSite

    def handle_error(self, request: object, client_address: object) -> None:
        """Quiet about clients that hang up (the tests' clients do, on purpose); loud otherwise."""
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real sites
    server_version = "EllerySite/1.0"
    timeout = 30  # an idle kept-alive connection's thread ends by itself

    @property
    def site(self) -> NewsSite:
        assert isinstance(self.server, _Server)
        return self.server.site

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        site = self.site
        site._arrived(self.path, {k.lower(): v for k, v in self.headers.items()})
        try:
            split = urlsplit(self.path)
            query = parse_qs(split.query)
            if "delay" in query and not site._pause(float(query["delay"][0])):
                return
            self._route(split.path, query)
        except (ConnectionError, TimeoutError):
            self.close_connection = True  # the client hung up: as a real server, carry on
        finally:
            site._finished()

    def _route(self, path: str, query: dict[str, list[str]]) -> None:
        site = self.site
        if path == "/redirect":
            to = query.get("to", ["/story-2.html"])[0]
            self._reply(302, b"", "text/html", [("Location", to)])
        elif path == "/loop":
            self._reply(302, b"", "text/html", [("Location", "/loop")])
        elif path in ("/tracked", "/slow"):
            if path == "/slow" and not site._pause(site.slow_seconds):
                return
            self._file("story-1.html")
        elif path == "/trickle":
            line = b"<p>" + b"." * 56 + b"</p>\n"  # 64 bytes
            self._stream(path, (line for _ in range(int(site.slow_seconds / 0.2))), pause=0.2)
        elif path == "/huge":
            chunk = (b"<p>Planning decision archive entry.</p>\n" * (_CHUNK // 39 + 1))[:_CHUNK]
            self._stream(path, (chunk for _ in range(HUGE_BYTES // _CHUNK)))
        elif path == "/big-declared":
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(HUGE_BYTES))
            self.end_headers()
            self.close_connection = True
            self.wfile.write(b"<html>" + b" " * 994)
            site._count_sent(path, 1000, first=True)
        elif path == "/bomb":
            self._reply(200, _bomb(), "text/html", [("Content-Encoding", "gzip")])
        elif path == "/sized":
            n = int(query.get("n", ["1000"])[0])
            body = (b"<html>" + b"x" * n)[:n]
            self._stream(path, (body[i : i + _CHUNK] for i in range(0, n, _CHUNK)))
        elif path == "/untyped":
            self._reply(200, site.page("story-3.html"), "")
        elif path == "/empty":
            self._reply(200, b"", "text/html")
        elif path == "/claims":
            self._reply(200, _impostor(query.get("url", [""])[0]), "text/html; charset=utf-8")
        elif path in CANONICAL:
            self._file(CANONICAL[path])
        elif path.startswith("/") and (SITE / path[1:]).is_file() and "/" not in path[1:]:
            self._file(path[1:])
        else:
            self._reply(404, b"<html><body><h1>Page not found</h1></body></html>", "text/html")

    def _file(self, name: str) -> None:
        kind = TYPES.get(name) or TYPES[Path(name).suffix]
        body, extra = self.site.page(name), []
        if "gzip" in self.headers.get("Accept-Encoding", "") and not name.endswith(".pdf"):
            body, extra = (
                gzip.compress(body),
                [("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")],
            )
        self._reply(200, body, kind, extra)

    def _reply(
        self, status: int, body: bytes, kind: str, extra: list[tuple[str, str]] | None = None
    ) -> None:
        self.send_response(status)
        if kind:
            self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra or []:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.site._count_sent(urlsplit(self.path).path, len(body), first=True)

    def _stream(self, path: str, chunks: Iterator[bytes], pause: float = 0.0) -> None:
        """200 text/html, chunked transfer encoding, until the chunks or the client run out."""
        site = self.site
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        site._count_sent(path, 0, first=True)
        for chunk in chunks:
            if pause and not site._pause(pause):
                self.close_connection = True
                return
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            site._count_sent(path, len(chunk))
        self.wfile.write(b"0\r\n\r\n")


@pytest.fixture
def news_site() -> Iterator[NewsSite]:
    """A fresh `NewsSite` for one test (its request log starts empty)."""
    with NewsSite() as site:
        yield site


if __name__ == "__main__":  # browse it: python -m tests.helpers.news_site
    with NewsSite() as _site:
        print(f"serving {_site.url} (Ctrl-C stops)")
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
