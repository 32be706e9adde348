"""index.fetch against a real local web server (tests/helpers/news_site.py): pages in order, every kind
of failure as one FetchProblem of one line while the good URLs still arrive, the limits of
RAG_FETCH__* (deadline, size cap, redirects, concurrency, User-Agent), feeds and URL lists."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import json
import socket
import threading
from datetime import date
from pathlib import Path

import pytest

import tests.helpers.news_site
from index.fetch import (
    FeedItem,
    FetchProblem,
    Page,
    fetch_all,
    read_feed,
    read_url_list,
    xml_root,
)
from rag.settings import FetchSettings
from tests.helpers.news_site import HUGE_BYTES, NewsSite

news_site = tests.helpers.news_site.news_site  # the fixture (conftest may share it too)

FAST = FetchSettings(timeout=1, max_bytes=1_000_000, max_redirects=3)


def page(result: Page | FetchProblem) -> Page:
    assert isinstance(result, Page), result
    return result


def problem(result: Page | FetchProblem) -> str:
    assert isinstance(result, FetchProblem), result
    assert "\n" not in result.message and result.message.strip() == result.message
    return result.message


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.server
def test_pages_arrive_in_order_with_their_final_url(news_site: NewsSite) -> None:
    base = news_site.url
    urls = [
        f"{base}/story-1.html",
        f"{base}/redirect",
        f"{base}/feed.xml",
        f"{base}/atom.xml",
        f"{base}/tracked?utm_source=x",
    ]
    results = fetch_all(urls, FAST)

    pages = [page(r) for r in results]
    assert [p.url for p in pages] == urls
    assert [p.final_url for p in pages] == [
        f"{base}/story-1.html",
        f"{base}/story-2.html",
        f"{base}/feed.xml",
        f"{base}/atom.xml",
        f"{base}/tracked?utm_source=x",
    ]
    story, moved, rss, atom, tracked = pages
    assert story.content_type == "text/html" and story.charset == "utf-8"
    assert story.is_html and not story.is_feed
    assert b'<h1 class="headline">Harbour board approves new ferry terminal</h1>' in story.body
    assert b"Marsh valley bus route saved" in moved.body
    assert tracked.body == story.body
    assert rss.content_type == "application/rss+xml" and rss.is_feed and not rss.is_html
    assert atom.content_type == "application/atom+xml" and atom.is_feed
    assert f"{base}/story-1.html".encode() in rss.body  # {base} was filled in
    # gzip asked for, sent (the site compresses when asked) and undone
    assert all("gzip" in h["accept-encoding"] for h in news_site.headers)
    assert story.body == news_site.page("story-1.html")
    assert news_site.sent["/story-1.html"] == len(gzip.compress(story.body))


@pytest.mark.server
def test_each_failure_is_one_problem_and_the_good_urls_still_arrive(news_site: NewsSite) -> None:
    base = news_site.url
    expected = {
        f"{base}/missing": "HTTP 404 Not Found",
        f"{base}/slow": "timed out after 1 s (RAG_FETCH__TIMEOUT)",
        # bytes keep coming, each well within the read timeout: the URL's deadline stops it
        f"{base}/trickle": "timed out after 1 s (RAG_FETCH__TIMEOUT)",
        f"{base}/huge": "larger than 1,000,000 bytes (RAG_FETCH__MAX_BYTES): stopped reading",
        f"{base}/bomb": "larger than 1,000,000 bytes (RAG_FETCH__MAX_BYTES): stopped reading",
        f"{base}/big-declared": "larger than 1,000,000 bytes (RAG_FETCH__MAX_BYTES): not read",
        f"{base}/report.pdf": "not a web page or feed (application/pdf)",
        f"{base}/loop": "more than 3 redirects (RAG_FETCH__MAX_REDIRECTS)",
        f"{base}/sitemap.xml": "an XML document but not a web page or feed (root <urlset>)",
        f"{base}/empty": "the server sent an empty page",
        f"{base}/redirect?to=ftp://example.org/x": "redirected to a URL that is not http(s) (ftp)",
        f"http://127.0.0.1:{closed_port()}/news": "could not connect (connection refused)",
        "ftp://example.org/story.html": "not an http(s) URL",
        "www.example.org/story.html": "not an http(s) URL",
        "http://[::1/": "not a valid URL (Invalid port: ':1')",
    }
    good = [f"{base}/story-1.html", f"{base}/untyped"]  # HTML known by its first tag
    urls = [good[0], *expected, good[1]]

    results = fetch_all(urls, FAST)

    assert len(results) == len(urls)
    assert page(results[0]).final_url == good[0]
    assert page(results[-1]).final_url == good[1]
    assert page(results[-1]).content_type == "text/html"
    for url, result in zip(urls[1:-1], results[1:-1], strict=True):
        assert result.url == url
        assert problem(result) == expected[url]
    # the caps held on the wire, not after the fact: 50 MB was on offer, little of it was taken
    # (what the server's socket accepted includes the kernel's buffers on both sides)
    assert news_site.sent["/huge"] < HUGE_BYTES // 5
    assert news_site.sent["/big-declared"] == 1000
    assert news_site.requests.count("/loop") == FAST.max_redirects + 1


@pytest.mark.server
def test_the_size_cap_is_exact(news_site: NewsSite) -> None:
    settings = FetchSettings(max_bytes=1000)
    at, over = fetch_all(
        [f"{news_site.url}/sized?n=1000", f"{news_site.url}/sized?n=1001"], settings
    )
    assert len(page(at).body) == 1000
    assert problem(over) == "larger than 1,000 bytes (RAG_FETCH__MAX_BYTES): stopped reading"


@pytest.mark.server
def test_at_most_concurrency_requests_at_once(news_site: NewsSite) -> None:
    settings = FetchSettings(concurrency=2)
    urls = [f"{news_site.url}/story-3.html?delay=0.1&n={i}" for i in range(8)]
    results = fetch_all(urls, settings)
    assert [page(r).url for r in results] == urls
    assert news_site.max_in_flight == settings.concurrency  # never more, and it did use both


@pytest.mark.server
def test_every_request_carries_the_user_agent(news_site: NewsSite) -> None:
    settings = FetchSettings(user_agent="news-rag-test/9.9 (+https://example.org/contact)")
    fetch_all([f"{news_site.url}/redirect", f"{news_site.url}/feed.xml"], settings)
    assert sorted(news_site.requests) == ["/feed.xml", "/redirect", "/story-2.html"]
    assert {h["user-agent"] for h in news_site.headers} == {settings.user_agent}


@pytest.mark.server
def test_on_done_reports_every_url_and_a_repeated_url_is_fetched_once(
    news_site: NewsSite,
) -> None:
    base = news_site.url
    urls = [f"{base}/story-1.html", f"{base}/missing", f"{base}/story-1.html"]
    seen: list[Page | FetchProblem] = []
    results = fetch_all(urls, FAST, on_done=seen.append)
    assert sorted(r.url for r in seen) == sorted(urls)
    assert [r.url for r in results] == urls
    assert news_site.requests.count("/story-1.html") == 1


@pytest.mark.server
def test_an_exception_from_on_done_propagates(news_site: NewsSite) -> None:
    def fail(result: Page | FetchProblem) -> None:
        raise RuntimeError("progress bar broke")

    with pytest.raises(RuntimeError, match="progress bar broke"):
        fetch_all([f"{news_site.url}/story-1.html"], FAST, on_done=fail)


@pytest.mark.server
def test_works_from_a_worker_thread_and_inside_a_running_event_loop(news_site: NewsSite) -> None:
    url = f"{news_site.url}/story-2.html"
    from_thread: list[Page | FetchProblem] = []
    worker = threading.Thread(target=lambda: from_thread.extend(fetch_all([url], FAST)))
    worker.start()
    worker.join(timeout=20)
    assert page(from_thread[0]).url == url

    async def route() -> list[Page | FetchProblem]:  # as an `async def` FastAPI route would
        return fetch_all([url], FAST)

    assert page(asyncio.run(route())[0]).url == url


def test_nothing_to_fetch() -> None:
    assert fetch_all([], FAST) == []


# --- feeds ------------------------------------------------------------------------------------


@pytest.mark.server
def test_read_feed_rss(news_site: NewsSite) -> None:
    [feed] = fetch_all([f"{news_site.url}/feed.xml"], FAST)
    items = read_feed(page(feed))
    base = news_site.url
    assert [i.link for i in items] == [  # the item without a link is left out
        f"{base}/story-1.html",
        f"{base}/story-2.html",
        f"{base}/story-3.html",  # written relative in the feed
        f"{base}/missing",
        f"{base}/slow",
        f"{base}/huge",
    ]
    assert items[0] == FeedItem(
        link=f"{base}/story-1.html",
        title="Harbour board approves new ferry terminal",
        published=date(2025, 6, 2),
        author="Maria Okafor",
        summary="The £14m terminal will replace the 1960s jetty by 2027.",  # tags gone
    )
    # 22:30 at -04:00 on 3 June is 4 June in UTC: the publisher's own day is kept
    assert items[1].published == date(2025, 6, 3)
    assert all(i.title and i.published for i in items)


@pytest.mark.server
def test_read_feed_atom(news_site: NewsSite) -> None:
    [feed] = fetch_all([f"{news_site.url}/atom.xml"], FAST)
    items = read_feed(page(feed))
    assert [(i.link, i.title, i.published, i.author) for i in items] == [
        (
            f"{news_site.url}/story-1.html",
            "Harbour board approves new ferry terminal",
            date(2025, 6, 2),
            "Maria Okafor",
        ),
        (  # href="/story-2.html", a date only in <updated>, a title with markup
            f"{news_site.url}/story-2.html",
            "Marsh valley bus route saved after petition",
            date(2025, 6, 3),
            "Tom Reyes",
        ),
    ]
    assert items[1].summary == "The county reverses its plan to cut the 41 service."


@pytest.mark.server
def test_read_feed_refuses_a_web_page(news_site: NewsSite) -> None:
    [html] = fetch_all([f"{news_site.url}/story-1.html"], FAST)
    with pytest.raises(ValueError, match=r"^not an RSS or Atom feed$"):
        read_feed(page(html))


def test_read_feed_never_treats_a_body_as_a_file_name_or_url() -> None:
    for body in (b"/etc/hostname", b"http://127.0.0.1:9/feed.xml"):
        fake = Page("http://x.example/f", "http://x.example/f", "application/rss+xml", body, None)
        with pytest.raises(ValueError, match="not an RSS or Atom feed"):
            read_feed(fake)


def test_a_feed_with_entities_expands_nothing_and_reads_no_file(tmp_path: Path) -> None:
    """Billion laughs (entities nesting to 10^9 copies) and XXE (an entity naming a local
    file): the feed is read in bounded time and memory, and no file's text reaches an item."""
    import resource

    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-LINE")
    lol = "".join(
        f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' if i else '<!ENTITY l0 "lol">'
        for i in range(10)
    )
    bodies = {
        "laughs": f"""<?xml version="1.0"?><!DOCTYPE rss [{lol}]>
<rss version="2.0"><channel><title>&l9;</title>
<item><title>&l9;</title><link>http://x.example/a</link></item></channel></rss>""",
        "xxe": f"""<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file://{secret}">]>
<rss version="2.0"><channel><title>t</title>
<item><title>&x;</title><description>&x;</description><link>http://x.example/b</link></item>
</channel></rss>""",
    }
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for name, body in bodies.items():
        fake = Page(
            "http://x.example/f", "http://x.example/f", "application/rss+xml", body.encode(), None
        )
        try:
            items = read_feed(fake)
        except ValueError:
            items = []  # refused as no feed: as good
        text = json.dumps([dataclasses.asdict(i) for i in items])
        assert "TOP-SECRET" not in text and "lollollol" not in text, name
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 200, f"the feeds took {grown_mb:.0f} MB more"


@pytest.mark.parametrize(
    ("content_type", "body", "is_feed", "is_html"),
    [
        ("application/xml", b'<?xml version="1.0"?>\n<rss version="2.0"></rss>', True, False),
        ("text/xml", b"\xef\xbb\xbf<!-- made by hand -->\n<rdf:RDF xmlns:rdf='x'/>", True, False),
        ("application/xml", '<feed xmlns="a"/>'.encode("utf-16"), True, False),
        ("application/xml", b"<!DOCTYPE html [<!ENTITY a 'b'>]><html></html>", False, True),
        ("application/xml", b"<urlset></urlset>", False, False),
        ("application/rss+xml", b"whatever", True, False),
        ("application/xhtml+xml", b"<html/>", False, True),
        ("text/html", b"<rss/>", False, True),
    ],
)
def test_page_kind(content_type: str, body: bytes, is_feed: bool, is_html: bool) -> None:
    p = Page("http://x.example/", "http://x.example/", content_type, body, None)
    assert (p.is_feed, p.is_html) == (is_feed, is_html)


def test_xml_root_without_a_root() -> None:
    assert xml_root(b"") is None
    assert xml_root(b"plain text") is None


# --- URL lists ------------------------------------------------------------------------------------


def test_read_url_list(tmp_path: Path) -> None:
    path = tmp_path / "urls.txt"
    path.write_text(
        "\ufeff# today's reading\n"
        "https://news.example/a\n"
        "\n"
        "   https://news.example/b   \n"
        "https://news.example/a\n"
        "https://news.example/c#comments  # the fragment stays, this comment goes\n"
        "\t# indented comment\n"
        "https://news.example/b\n",
        encoding="utf-8",
    )
    assert read_url_list(path) == [
        "https://news.example/a",
        "https://news.example/b",
        "https://news.example/c#comments",
    ]


@pytest.mark.server
def test_each_redirect_target_is_vetted_before_it_is_requested(news_site: NewsSite) -> None:
    """A redirect to a place `vet` refuses (a private address, for API clients) is a problem,
    and the target is never requested; the redirect's own body is not read."""

    def vet(url: str) -> str | None:
        return "refused: no story-2" if "story-2" in url else None

    base = news_site.url
    (stopped, fine) = fetch_all(
        [f"{base}/redirect?to=/story-2.html", f"{base}/story-1.html"], FAST, vet=vet
    )
    assert isinstance(stopped, FetchProblem) and stopped.message == "refused: no story-2"
    assert isinstance(fine, Page)
    assert not any(p.startswith("/story-2") for p in news_site.requests)


@pytest.mark.server
def test_a_name_that_rebinds_to_loopback_reaches_nothing(
    news_site: NewsSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: a name answers a public address when it is checked and 127.0.0.1 when the
    connection is made. With `public_only`, the address connected to is the one vetted: the
    loopback server is never requested (it received the requests and its page was indexed).
    (The name's answers are the system resolver's, replaced for one made-up name: no DNS
    server of the test's own can run here.)"""
    real = socket.getaddrinfo
    # public to the check, then loopback
    answers = {"next": iter(["93.184.216.34", "127.0.0.1"] * 50)}

    def rebinding(host: object, port: object, *args: object, **kwargs: object) -> object:
        if host in ("rebind.example", b"rebind.example"):
            return real(next(answers["next"]), port, *args, **kwargs)  # type: ignore[arg-type]
        return real(host, port, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    from index.web import private_host

    port = news_site.url.rsplit(":", 1)[1]
    url = f"http://rebind.example:{port}/story-1.html"
    assert not private_host(url)  # the check sees the public address
    (result,) = fetch_all([url], FAST, public_only=True)
    assert problem(result) == "refused: rebind.example is a loopback, private or link-local address"
    assert news_site.requests == []
    # without the policy (the CLI's own fetches) a loopback answer reaches the server
    answers["next"] = iter(["127.0.0.1"] * 50)
    (fetched,) = fetch_all([url], FAST)
    assert isinstance(fetched, Page) and news_site.requests == ["/story-1.html"]


@pytest.mark.server
def test_public_only_refuses_a_literal_loopback_address(
    news_site: NewsSite,
) -> None:
    (refused,) = fetch_all([news_site.url + "/story-1.html"], FAST, public_only=True)
    assert "loopback, private or link-local" in problem(refused)
    assert news_site.requests == []
