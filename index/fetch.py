"""Fetch web pages and feeds over HTTP(S), and read feeds and URL lists: what `rag ingest URL...`,
`rag ingest FEED_URL`, `--urls FILE` and `POST /v1/articles {"urls": [...]}` start from.

`fetch_all()` fetches many URLs at once, at most `RAG_FETCH__CONCURRENCY` at a time, and gives one
result per URL, in the order asked: a `Page` (the bytes of an HTML page or a feed, with its final
URL after redirects, media type and charset) or a `FetchProblem` (one line a person understands,
naming the setting to change where one would help). One URL's failure costs only that URL.
Every URL is held to the `RAG_FETCH__*` limits: a deadline for the whole URL (connect, redirects
and the slowest trickle of bytes alike), a size cap enforced while the body streams in (a larger
`Content-Length` is refused before reading; gzip is inflated in bounded steps, so a small
compressed body cannot expand past the cap either), a number of redirects, and the User-Agent
sent with every request. Only HTML/XHTML and RSS/Atom/RDF (or XML whose root is one of them) are
kept: every `Page` returned is `is_html` or `is_feed`.

`read_feed()` lists the items of a fetched RSS or Atom feed (absolute links, titles, dates as the
publisher wrote them, authors, plain-text summaries); `read_url_list()` reads a `--urls` file.

Deliberately not here: turning HTML into articles (text, title, date: trafilatura, in the
loaders), knowing which URLs were already ingested (the ingestion ledger), retries beyond one
new connection attempt, and robots.txt and per-site politeness.

Where a URL may point is one policy, applied where the connection is made: with
`public_only=True` every connection goes to an address the fetcher itself resolved and found
public (`public_address`), the one vetted being the one connected to, so a name that answers a
public address to a check and a loopback one to the connection (DNS rebinding) reaches nothing
private; a redirect's target is vetted the same way (`vet`, before it is requested).
"""

from __future__ import annotations

import asyncio
import codecs
import html
import io
import ipaddress
import re
import socket
import ssl
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

import feedparser
import httpcore
import httpx

from rag.settings import FetchSettings
from rag.text.dates import parse_date

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml", "application/rdf+xml"})
XML_TYPES = frozenset({"application/xml", "text/xml"})
_FEED_ROOTS = frozenset({"rss", "feed", "rdf"})

_ACCEPT = (
    "text/html,application/xhtml+xml,application/rss+xml,application/atom+xml,"
    "application/rdf+xml;q=0.9,application/xml;q=0.9,text/xml;q=0.9,*/*;q=0.1"
)
_INFLATE_WBITS = {
    "gzip": 16 + zlib.MAX_WBITS,
    "x-gzip": 16 + zlib.MAX_WBITS,
    "deflate": zlib.MAX_WBITS,
}
_MAX_MESSAGE = 200  # characters of a server's or library's own words kept in a problem


Vet = Callable[[str], "str | None"]  # a URL -> why it may not be fetched (None: it may)


@dataclass(frozen=True)
class Page:
    """A fetched HTML page or feed: `url` as asked, `final_url` after redirects, `content_type`
    the media type (lowercased, no parameters), `body` the (decompressed) bytes as sent,
    `charset` from the Content-Type header if it named one."""

    url: str
    final_url: str
    content_type: str
    body: bytes = field(repr=False)
    charset: str | None

    @property
    def is_feed(self) -> bool:
        """An RSS, Atom or RDF media type, or generic XML whose root element is rss/feed/rdf."""
        if self.content_type in FEED_TYPES:
            return True
        return _is_xml(self.content_type) and xml_root(self.body) in _FEED_ROOTS

    @property
    def is_html(self) -> bool:
        """An HTML or XHTML media type, or generic XML whose root element is html."""
        if self.content_type in HTML_TYPES:
            return True
        return _is_xml(self.content_type) and xml_root(self.body) == "html"


@dataclass(frozen=True)
class FetchProblem:
    """Why `url` gave no page: `message` is one line, e.g. "HTTP 404 Not Found"."""

    url: str
    message: str


@dataclass(frozen=True)
class FeedItem:
    """One item of a feed: `link` absolute; `published` the date as the publisher wrote it."""

    link: str
    title: str | None
    published: date | None
    author: str | None
    summary: str | None


# --- fetching ---------------------------------------------------------------------------------


def fetch_all(
    urls: Sequence[str],
    settings: FetchSettings,
    *,
    on_done: Callable[[Page | FetchProblem], None] | None = None,
    vet: Vet | None = None,
    public_only: bool = False,
) -> list[Page | FetchProblem]:
    """Fetch `urls`, at most `settings.concurrency` at once; one result per URL, in their order.

    `vet(url)` is asked before every request, each redirect's target included: a string it
    returns is the URL's problem and nothing is requested (e.g. a private address refused).
    `public_only`: connect to public addresses only, as resolved when connecting.

    `on_done` is called with each result as it arrives (once per entry of `urls`, so a URL given
    twice, which is fetched once, is reported twice), in the calling thread, or, when called
    from a thread that is running an event loop, in the worker thread that does the fetching.
    An exception from `on_done` stops the remaining fetches and propagates.
    Safe to call from any thread; it runs its own event loop and needs none running. Called
    from async code it still works, but blocks that loop meanwhile: there, prefer
    `await asyncio.to_thread(fetch_all, ...)`.
    """
    if not urls:
        return []
    wanted = list(urls)

    def run() -> list[Page | FetchProblem]:
        return asyncio.run(_fetch_all(wanted, settings, on_done, vet, public_only))

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run()
    # called from inside a running event loop (an `async def` route): asyncio.run() cannot
    # nest, so the fetching gets a thread and a loop of its own (this thread waits for it)
    with ThreadPoolExecutor(1, thread_name_prefix="fetch") as pool:
        return pool.submit(run).result()


async def _fetch_all(
    urls: list[str],
    settings: FetchSettings,
    on_done: Callable[[Page | FetchProblem], None] | None,
    vet: Vet | None = None,
    public_only: bool = False,
) -> list[Page | FetchProblem]:
    counts: dict[str, int] = {}
    for url in urls:
        counts[url] = counts.get(url, 0) + 1
    done: dict[str, Page | FetchProblem] = {}
    gate = asyncio.Semaphore(settings.concurrency)
    async with _client(settings, public_only) as client:
        tasks = [
            asyncio.create_task(_fetch_one(client, url, settings, gate, vet)) for url in counts
        ]
        try:
            for next_done in asyncio.as_completed(tasks):
                url, result = await next_done
                done[url] = result
                if on_done is not None:
                    for _ in range(counts[url]):
                        on_done(result)
        finally:  # only an exception from on_done leaves tasks still running
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return [done[url] for url in urls]


PRIVATE_ADDRESS = "refused: {host} is a loopback, private or link-local address"


class PrivateAddressError(OSError):
    """A connection refused because the host resolved to an address that is not public."""


def public_address(address: str) -> bool:
    """Whether an IP address (v4 or v6, a zone index allowed) is a public one."""
    return ipaddress.ip_address(address.split("%")[0]).is_global


class _PublicOnly(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to public addresses: the name is resolved
    here, every address it gives must be public, and the connection is made to that address
    (TLS still names the host). Checking a name and connecting by name would resolve it twice."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not addresses or not all(public_address(a) for a in addresses):
            raise PrivateAddressError(PRIVATE_ADDRESS.format(host=host))
        return await self._inner.connect_tcp(
            addresses[0], port, timeout, local_address, socket_options
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        raise PrivateAddressError(PRIVATE_ADDRESS.format(host=path))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _PublicTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool that connects only to public addresses (httpx
    takes no network backend of its own: its pool is replaced by one that has it)."""

    def __init__(self, limits: httpx.Limits, retries: int) -> None:
        super().__init__(limits=limits, retries=retries)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            retries=retries,
            network_backend=_PublicOnly(),
        )


def _client(settings: FetchSettings, public_only: bool = False) -> httpx.AsyncClient:
    limits = httpx.Limits(
        max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency
    )
    # one more attempt when a connection cannot be made; never a repeated request
    transport = (
        _PublicTransport(limits, retries=1)
        if public_only
        else httpx.AsyncHTTPTransport(limits=limits, retries=1)
    )
    return httpx.AsyncClient(
        headers={
            "User-Agent": settings.user_agent,
            "Accept": _ACCEPT,
            "Accept-Encoding": "gzip",
        },
        timeout=httpx.Timeout(settings.timeout),  # connect, each read, each write, the pool
        follow_redirects=False,  # followed in `_get`: each hop vetted, no redirect body read
        transport=transport,
    )


async def _fetch_one(
    client: httpx.AsyncClient,
    url: str,
    settings: FetchSettings,
    gate: asyncio.Semaphore,
    vet: Vet | None = None,
) -> tuple[str, Page | FetchProblem]:
    target = url.strip()
    try:
        parsed = httpx.URL(target)
    except httpx.InvalidURL as exc:
        return url, FetchProblem(url, f"not a valid URL ({_one_line(str(exc))})")
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return url, FetchProblem(url, "not an http(s) URL")
    async with gate:  # the deadline starts when this URL's turn comes, not while it waits
        try:
            async with asyncio.timeout(settings.timeout):
                return url, await _get(client, url, target, settings, vet)
        except TimeoutError:
            return url, FetchProblem(url, _timed_out(settings))
        except zlib.error:
            return url, FetchProblem(url, "the server's compressed (gzip) data is damaged")
        except PrivateAddressError as exc:  # not retried: the name said where it points
            return url, FetchProblem(url, str(exc))
        except httpx.HTTPError as exc:
            return url, FetchProblem(url, _describe(exc, settings))
        except Exception as exc:  # one URL's surprise must not cost the others their pages
            return url, FetchProblem(url, f"could not fetch ({_exc_text(exc)})")


async def _get(
    client: httpx.AsyncClient,
    url: str,
    target: str,
    settings: FetchSettings,
    vet: Vet | None = None,
) -> Page | FetchProblem:
    for _hop in range(settings.max_redirects + 1):
        if vet is not None:
            refused = await asyncio.to_thread(vet, target)
            if refused:
                return FetchProblem(url, refused)
        async with client.stream("GET", target) as response:
            if not response.is_redirect:
                return await _page(url, response, settings)
            following = response.next_request  # the Location, resolved; its body is not read
        if following is None:
            return FetchProblem(url, f"{_status(response)} without a Location to follow")
        target = str(following.url)
    return FetchProblem(
        url, f"more than {settings.max_redirects} redirects (RAG_FETCH__MAX_REDIRECTS)"
    )


async def _page(url: str, response: httpx.Response, settings: FetchSettings) -> Page | FetchProblem:
    """The page of a response that is not a redirect (its body read within the cap)."""
    if not response.is_success:
        return FetchProblem(url, _status(response))
    media, charset = _content_type(response.headers.get("content-type", ""))
    if media and not (media in HTML_TYPES or media in FEED_TYPES or _is_xml(media)):
        return FetchProblem(url, f"not a web page or feed ({media})")
    coding = response.headers.get("content-encoding", "").strip().lower()
    if coding not in ("", "identity", *_INFLATE_WBITS):
        return FetchProblem(url, f"compressed as {coding!r}, which is not supported")
    declared = response.headers.get("content-length", "")
    if declared.strip().isdigit() and int(declared) > settings.max_bytes:
        return FetchProblem(url, f"{_too_large(settings)}: not read")
    body = await _read_capped(response, settings.max_bytes, _INFLATE_WBITS.get(coding))
    if body is None:
        return FetchProblem(url, f"{_too_large(settings)}: stopped reading")
    final_url = str(response.url)
    if not body or body.isspace():
        return FetchProblem(url, "the server sent an empty page")
    if not media:
        media = _sniff(body)
        if not media:
            return FetchProblem(url, "not a web page or feed (no Content-Type)")
    page = Page(url, final_url, media, body, charset)
    if not (page.is_html or page.is_feed):
        root = xml_root(body)
        return FetchProblem(url, f"an XML document but not a web page or feed (root <{root}>)")
    return page


async def _read_capped(response: httpx.Response, cap: int, wbits: int | None) -> bytes | None:
    """The body, decompressed, or None once it (or what came over the wire) passes `cap` bytes:
    never more than cap + 1 bytes are kept, whatever the compression ratio."""
    body = bytearray()
    wire = 0
    inflater = _Inflater(wbits) if wbits is not None else None
    async for chunk in response.aiter_raw():
        wire += len(chunk)
        if inflater is None:
            body += chunk
        else:
            body += inflater.feed(chunk, cap + 1 - len(body))
        if len(body) > cap or wire > cap:
            return None
    if inflater is not None:
        body += inflater.flush()
    return None if len(body) > cap else bytes(body)


class _Inflater:
    """gzip/deflate inflated at most `room` bytes at a time (zlib's max_length), so a highly
    compressed body costs no more memory than the cap; several gzip members are joined."""

    def __init__(self, wbits: int) -> None:
        self.wbits = wbits
        self.z = zlib.decompressobj(wbits)
        self.members = 0  # streams finished
        self.trailing = False  # bytes after the last stream that are not one (ignored)

    def feed(self, data: bytes, room: int) -> bytes:
        out = bytearray()
        while data and not self.trailing and len(out) < room:
            try:
                out += self.z.decompress(data, room - len(out))
            except zlib.error:
                if self.members and not out:  # padding after a complete stream, as gzip allows
                    self.trailing = True
                    break
                raise
            if self.z.eof:
                self.members += 1
                data = self.z.unused_data
                self.z = zlib.decompressobj(self.wbits)
            else:
                data = self.z.unconsumed_tail
        return bytes(out)

    def flush(self) -> bytes:
        return b"" if self.trailing else self.z.flush()


# --- media types --------------------------------------------------------------------------------


def _content_type(header: str) -> tuple[str, str | None]:
    """(media type lowercased, charset or None) from a Content-Type header."""
    media, _, params = header.partition(";")
    charset = None
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip("\"'").lower() or None
    return media.strip().lower(), charset


def _is_xml(media: str) -> bool:
    return media in XML_TYPES or (media.endswith("+xml") and media not in HTML_TYPES)


_PROLOG = re.compile(rb"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE(?:[^>\[]|\[.*?\])*>)", re.S | re.I)
_START_TAG = re.compile(rb"\s*<(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)")


def xml_root(body: bytes) -> str | None:
    """The local name of an XML document's root element, lowercased (`rss`, `feed`, `rdf`,
    `html`...), read from its start without parsing the document; None if there is none."""
    head = body[:65536]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        head = head.decode("utf-16", "ignore").encode("utf-8")
    head = head.removeprefix(codecs.BOM_UTF8)
    pos = 0
    while (m := _PROLOG.match(head, pos)) is not None:
        pos = m.end()
    m = _START_TAG.match(head, pos)
    return m[1].decode("ascii").lower() if m else None


def _sniff(body: bytes) -> str:
    """A media type for a body sent without one: HTML or XML by its first tag, else ''."""
    start = body[:1024].lstrip().lower()
    if start.startswith((b"<!doctype html", b"<html")):
        return "text/html"
    root = xml_root(body)
    if root in _FEED_ROOTS:
        return "application/xml"
    return "text/html" if root == "html" else ""


# --- problems in words ----------------------------------------------------------------------------


def _seconds(value: float) -> str:
    return f"{value:g}"


def _timed_out(settings: FetchSettings) -> str:
    return f"timed out after {_seconds(settings.timeout)} s (RAG_FETCH__TIMEOUT)"


def _too_large(settings: FetchSettings) -> str:
    return f"larger than {settings.max_bytes:,} bytes (RAG_FETCH__MAX_BYTES)"


_STATUS_HINTS = {
    401: "the page needs a login",
    403: "the site refuses this client",
    407: "the proxy needs a login",
    429: "the site wants fewer requests: try later",
}


def _status(response: httpx.Response) -> str:
    code = response.status_code
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = _one_line(response.reason_phrase)
    text = f"HTTP {code} {phrase}".strip()
    hint = _STATUS_HINTS.get(code) or ("the site failed: try later" if code >= 500 else None)
    return f"{text} ({hint})" if hint else text


def _describe(exc: httpx.HTTPError, settings: FetchSettings) -> str:
    if isinstance(exc, httpx.TooManyRedirects):
        return f"more than {settings.max_redirects} redirects (RAG_FETCH__MAX_REDIRECTS)"
    if isinstance(exc, httpx.TimeoutException):
        return _timed_out(settings)
    if isinstance(exc, httpx.UnsupportedProtocol):  # the first URL was checked: a redirect
        try:
            scheme = exc.request.url.scheme
        except RuntimeError:
            scheme = ""
        return f"redirected to a URL that is not http(s) ({scheme or 'no scheme'})"
    if isinstance(exc, httpx.ConnectError):
        return _connect_problem(exc)
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the server sent a broken response ({_exc_text(exc)})"
    if isinstance(exc, httpx.NetworkError):
        if _find(exc, ConnectionResetError) is not None:
            return "the connection was lost (reset by the server)"
        return f"the connection was lost ({_exc_text(exc)})"
    return f"could not fetch ({_exc_text(exc)})"


def _connect_problem(exc: BaseException) -> str:
    if _find(exc, ConnectionRefusedError):
        return "could not connect (connection refused)"
    if _find(exc, socket.gaierror):
        return "could not connect (no such host: check the address)"
    cert = _find(exc, ssl.SSLCertVerificationError)
    if cert is not None:
        reason = getattr(cert, "verify_message", "") or _exc_text(cert)
        return f"could not connect (the site's TLS certificate is not trusted: {reason})"
    tls = _find(exc, ssl.SSLError)
    if tls is not None:
        return f"could not connect (TLS failed: {_exc_text(tls)})"
    for cause in _causes(exc):  # e.g. [Errno 101] Network is unreachable
        if isinstance(cause, OSError) and cause.strerror:
            return f"could not connect ({cause.strerror.lower()})"
    return f"could not connect ({_exc_text(exc)})"


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc`, its causes and contexts, and the members of exception groups among them."""
    found: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if any(current is known for known in found):
            continue
        found.append(current)
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return found


def _find(exc: BaseException, kind: type[BaseException]) -> Any:
    """The first exception of `kind` among `exc`, its causes and exception groups, or None."""
    return next((e for e in _causes(exc) if isinstance(e, kind)), None)


def _exc_text(exc: BaseException) -> str:
    return _one_line(str(exc)) or type(exc).__name__


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MAX_MESSAGE else line[: _MAX_MESSAGE - 1] + "…"


# --- feeds --------------------------------------------------------------------------------------


def read_feed(page: Page) -> list[FeedItem]:
    """The items of an RSS or Atom feed that have a link, in feed order, each link once (made
    absolute against the feed's final URL); ValueError("not an RSS or Atom feed") otherwise."""
    content_type = page.content_type + (f"; charset={page.charset}" if page.charset else "")
    # a stream, never bytes or str: feedparser would treat a string as a URL or a file name
    parsed = feedparser.parse(
        io.BytesIO(page.body),
        response_headers={"content-location": page.final_url, "content-type": content_type},
    )
    if not parsed.get("version"):
        raise ValueError("not an RSS or Atom feed")
    items: list[FeedItem] = []
    seen: set[str] = set()
    for entry in parsed.get("entries", []):
        link = _link(entry, page.final_url)
        if link is None or link in seen:
            continue
        seen.add(link)
        detail = entry.get("author_detail") or {}
        items.append(
            FeedItem(
                link=link,
                title=_text(entry.get("title")),
                published=_entry_date(entry),
                author=_text(detail.get("name") or entry.get("author")),
                summary=_text(entry.get("summary")),
            )
        )
    return items


def _link(entry: Any, base: str) -> str | None:
    raw = entry.get("link")
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        link = httpx.URL(base).join(raw.strip())
    except (httpx.InvalidURL, ValueError):
        return None
    if link.scheme not in ("http", "https") or not link.host:
        return None
    return str(link)


_TAG = re.compile(r"<[^>]*>")


def _text(value: object) -> str | None:
    """Plain text: feedparser's (sanitized) HTML without tags or entities, one line."""
    if not isinstance(value, str):
        return None
    text = " ".join(html.unescape(_TAG.sub(" ", value)).split())
    return text or None


def _entry_date(entry: Any) -> date | None:
    """The date as the feed writes it (the publisher's own day, where feedparser's parsed
    struct would be the UTC day), from published, else updated."""
    for key in ("published", "updated"):
        raw = entry.get(key)
        if isinstance(raw, str) and raw.strip():
            day = parse_date(raw)
            if day is not None:
                return day
            try:
                return parsedate_to_datetime(raw).date()
            except (TypeError, ValueError, IndexError):
                pass
        parsed = entry.get(f"{key}_parsed")
        if parsed:
            try:
                return date(parsed[0], parsed[1], parsed[2])
            except (TypeError, ValueError):
                pass
    return None


# --- lists of URLs ------------------------------------------------------------------------------

_COMMENT = re.compile(r"(?:^|\s)#.*$")


def read_url_list(path: Path) -> list[str]:
    """The URLs in a text file, one a line: blank lines and `#` comments (a line starting with
    `#`, or ` # ...` after a URL; a `#` inside a URL is its fragment) ignored, whitespace
    stripped, each URL once in first-seen order. Not checked here: `fetch_all()` reports a line
    that is not an http(s) URL."""
    urls: dict[str, None] = {}
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        url = _COMMENT.sub("", line).strip()
        if url:
            urls.setdefault(url, None)
    return list(urls)
