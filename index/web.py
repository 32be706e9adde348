"""Articles from the web: pages and feeds by URL (`rag ingest URL...`, `--urls FILE`, a feed's
URL, `POST /v1/articles {"urls": [...]}`).

`articles_from_urls(urls, settings, seen)` fetches each URL (`index.fetch`: timeouts, size cap,
a few at a time, redirects within limits); a feed (RSS/Atom) stands for its items, whose pages are
fetched in turn, the item's title, date and author used where the page lacks them. A page becomes
an article through the same reader as a saved `.html` (`index.loaders.article_from_html`), its id
derived from its canonical URL (the page's `<link rel=canonical>` when it names a page of the same
host, else where it was fetched from), so the same story reached by two addresses is one article.
A page is believed about its own site only: a canonical on another host is ignored, and a page
naming another URL its canonical may add that article but never replace it (only the page at
that address can: `Article.alias_of`). A URL already fetched (asked for or redirected to; compared
normalised: scheme and host lowercased, tracking parameters and fragments dropped) is not fetched
again unless `refresh`; a URL merely named canonical by another page is not counted as fetched.
Every URL that fails costs only itself: a one-line problem.

This module turns URLs into articles; writing them is `index.ingest`'s, and remembering which URL
gave which article is the ledger's (`WebIntake.urls`, recorded after the write).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from index.fetch import FeedItem, FetchProblem, Page, fetch_all, public_address, read_feed
from index.html import extract_page
from index.ingest import IngestReport
from index.loaders import Article, Limits, LoadProblem, TooLarge, article_from_page
from rag.errors import Deadline
from rag.settings import Settings


class UrlBooks(Protocol):
    """What the ledger remembers of URLs (`rag.ledger.Ledger`)."""

    def urls(self, urls: Iterable[str]) -> dict[str, str]: ...

    def failed_urls(self, urls: Iterable[str], since: float) -> dict[str, str]: ...


def is_url(text: str) -> bool:
    return text.lower().startswith(("http://", "https://"))


def normal_url(url: str) -> str:
    """The form URLs are compared in: scheme and host lowercased, default port, tracking
    parameters and the fragment dropped (courlan's strict normalisation)."""
    from courlan import normalize_url

    try:
        return str(normalize_url(url.strip(), strict=True))
    except ValueError:
        return url.strip()


def same_host(url: str, other: str) -> bool:
    """Whether two URLs are on one host and port (a leading "www." aside): what a page may speak
    for."""
    from urllib.parse import urlsplit

    def host(u: str) -> tuple[str, int | None]:
        parts = urlsplit(normal_url(u))
        name = (parts.hostname or "").removeprefix("www.")
        try:
            return name, parts.port
        except ValueError:
            return name, -1

    return host(url) == host(other)


def url_id(url: str) -> str:
    """An article id for the page at this (canonical) URL."""
    return "u-" + hashlib.sha1(normal_url(url).encode()).hexdigest()[:16]


@dataclass
class WebIntake:
    """What `articles_from_urls` found: articles, problems, the URLs skipped as already ingested
    (URL -> article id), and the (normalised URL, article id) pairs to record once written."""

    articles: list[Article] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    urls: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (normalised URL, why), to note
    feeds: int = 0


def articles_from_urls(
    urls: Sequence[str],
    settings: Settings,
    limits: Limits,
    *,
    books: UrlBooks | None = None,
    refresh: bool = False,
    allow_private: bool = True,
    on_fetched: Callable[[Page | FetchProblem], None] | None = None,
    deadline: Deadline | None = None,
) -> WebIntake:
    """The articles at these URLs (pages, or feeds standing for their items). With `books`, a
    URL that gave an article is skipped, and one that failed within RAG_FETCH__RETRY_AFTER is
    reported without fetching it again (`refresh`: fetch everything). Without `allow_private`,
    a URL naming a loopback, private or link-local address is refused unfetched. Past the
    `deadline` (looked at after each round of fetching: the pages asked for, then a feed's
    items), `TimeLimitError`: nothing is added."""
    out = WebIntake()
    fetch = _Fetcher(settings, out, books, refresh, allow_private, on_fetched, deadline)
    pages = fetch(list(dict.fromkeys(urls)))
    items: dict[str, FeedItem] = {}
    for page in pages:
        if page.is_feed:
            out.feeds += 1
            try:
                entries = read_feed(page)
            except ValueError as exc:
                out.problems.append(LoadProblem(page.url, str(exc)))
                continue
            for item in entries:
                items.setdefault(item.link, item)
        else:
            _add_page(page, None, limits, out)
    if items:
        for page in fetch(list(items)):
            if page.is_feed:
                out.problems.append(LoadProblem(page.url, "a feed's item links to another feed"))
            else:
                _add_page(page, items.get(page.url), limits, out)
    return out


class _Fetcher:
    """Fetches URLs for one intake: skips those the books know, refuses private addresses when
    asked, puts problems (and failures to note) in the intake."""

    def __init__(
        self,
        settings: Settings,
        out: WebIntake,
        books: UrlBooks | None,
        refresh: bool,
        allow_private: bool,
        on_fetched: Callable[[Page | FetchProblem], None] | None,
        deadline: Deadline | None,
    ) -> None:
        self.settings, self.out, self.books = settings, out, books
        self.refresh, self.allow_private, self.on_fetched = refresh, allow_private, on_fetched
        self.deadline = deadline

    def __call__(self, urls: list[str]) -> list[Page]:
        out = self.out
        if self.books is not None and not self.refresh:
            normal = {u: normal_url(u) for u in urls}
            known = self.books.urls(normal.values())
            since = time.time() - self.settings.fetch.retry_after
            failed = self.books.failed_urls(normal.values(), since)
            for u in urls:
                if normal[u] in known:
                    out.skipped[u] = known[normal[u]]
                elif normal[u] in failed:
                    out.problems.append(
                        LoadProblem(
                            u,
                            f"failed before ({failed[normal[u]]}); tried again after "
                            "RAG_FETCH__RETRY_AFTER seconds, or now with --refresh",
                        )
                    )
            urls = [u for u in urls if normal[u] not in known and normal[u] not in failed]
        vet = None
        if not self.allow_private:
            for u in [u for u in urls if private_host(u)]:
                out.problems.append(LoadProblem(u, PRIVATE_REFUSED))
                urls.remove(u)
            vet = _refuse_private  # a redirect's target too, before it is requested
        pages: list[Page] = []
        results = fetch_all(
            urls,
            self.settings.fetch,
            on_done=self.on_fetched,
            vet=vet,
            public_only=not self.allow_private,
        )
        if self.deadline is not None:
            self.deadline.check("fetching the URLs")
        for result in results:
            if isinstance(result, FetchProblem):
                out.problems.append(LoadProblem(result.url, result.message))
                out.failed.append((normal_url(result.url), result.message))
            else:
                pages.append(result)
        return pages


PRIVATE_REFUSED = (
    "refused: it names a loopback, private or link-local address "
    "(RAG_FETCH__PRIVATE_URLS=true lets API clients fetch those)"
)


def _refuse_private(url: str) -> str | None:
    return "refused: it redirects to a private address" if private_host(url) else None


def private_host(url: str) -> bool:
    """Whether the URL's host is, or resolves to, a loopback, private, link-local or otherwise
    non-public address (a name that does not resolve counts as not private: fetching it fails)."""
    import socket
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        return False
    return not all(public_address(str(info[4][0])) for info in infos)


def _add_page(page: Page, item: FeedItem | None, limits: Limits, out: WebIntake) -> None:
    if not page.is_html:
        out.problems.append(LoadProblem(page.url, f"not a web page ({page.content_type})"))
        return
    found = extract_page(_decode(page), url=page.final_url)
    canonical = found.canonical or ""
    # a page speaks for its own site only: "evil.example's page is legit.example's story" is
    # not believed, or any page could replace any article
    trusted = is_url(canonical) and same_host(canonical, page.final_url)
    where = canonical if trusted else page.final_url
    art_id = url_id(where)
    fetched = {normal_url(u) for u in (page.url, page.final_url)}
    try:
        article = article_from_page(found, art_id, where, limits)
    except TooLarge as exc:
        out.problems.append(LoadProblem(page.url, str(exc)))
        return
    if not article.paragraphs:
        out.problems.append(LoadProblem(page.url, "no article text found on the page"))
        return
    if item is not None:  # the feed knows what the page may not say
        if item.title and not found.title:
            article.title = item.title
        article.date = article.date or item.published
        article.author = article.author or item.author
    if normal_url(where) not in fetched:
        article.alias_of = page.final_url
    if any(a.id == art_id for a in out.articles):
        out.problems.append(LoadProblem(page.url, f"the same page as {where} (given twice)"))
        return
    out.articles.append(article)
    out.urls.extend((u, art_id) for u in sorted(fetched))


def _decode(page: Page) -> str:
    if page.charset:
        try:
            return page.body.decode(page.charset, errors="replace")
        except LookupError:
            pass
    from trafilatura.utils import decode_file

    return str(decode_file(page.body))


def ingest_urls(
    urls: Sequence[str],
    settings: Settings,
    embed_model: Any,
    *,
    refresh: bool = False,
    progress: bool = True,
    lock_timeout: float = -1,
    deadline: Deadline | None = None,
    allow_private: bool = True,
) -> tuple[IngestReport, WebIntake]:
    """Fetch the URLs' articles (see `articles_from_urls`), ingest them, and record which URL
    gave which article (so the next run fetches only what is new). URLs skipped as already
    ingested are reported "unchanged"."""
    from index.ingest import ingest
    from index.intake import file_limits
    from rag.store.ledger import open_ledger

    ledger = open_ledger(settings)
    bar = None
    if progress:
        import sys

        from tqdm import tqdm

        bar = tqdm(desc="fetching", unit="page", file=sys.stderr, dynamic_ncols=True)
    try:
        found = articles_from_urls(
            urls,
            settings,
            file_limits(settings),
            books=ledger,
            refresh=refresh,
            allow_private=allow_private,
            on_fetched=(lambda _: bar.update(1)) if bar is not None else None,
            deadline=deadline,
        )
        if bar is not None:
            bar.close()  # (again in `finally`: closing twice is harmless)
        ledger.note_failed_urls(found.failed)
        report = IngestReport()
        if found.articles:
            report = ingest(
                [],
                settings,
                embed_model,
                articles=found.articles,
                progress=progress,
                lock_timeout=lock_timeout,
                deadline=deadline,
            )
            written = {
                i for i, s in report.status.items() if s in ("added", "changed", "unchanged")
            }
            ledger.note_urls((u, i) for u, i in found.urls if i in written)
        report.problems[:0] = found.problems
        report.unchanged += len(found.skipped)
        report.articles += len(found.skipped)
        for art_id in found.skipped.values():
            report.status.setdefault(art_id, "unchanged")
    finally:
        if bar is not None:
            bar.close()
        ledger.close()
    return report, found
