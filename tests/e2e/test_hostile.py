"""What a hostile client can send, and what it gets (issue "Hostile clients").

Against a real `rag serve` on 127.0.0.1 (an API key set): a body sent without a key is refused
with a 401 before it is read, and one past the limit with a 413 as it streams, chunked or not,
while the server's memory stays under a ceiling; a lone surrogate anywhere in a question, a chat
or its history is repaired, not a 500; a huge history costs no more than a short one; an upload
with a 300-character file name is read under a shortened name. In process: an unexpected error is
a JSON 500 on a connection that stays usable; wrong keys are rate-limited; the docs need the key.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from rag.errors import Deadline
from rag.settings import Settings
from tests.helpers.server import QUESTION, Server, launch, stop, wait_ready

KEY = "hostile-test-key"
HEADERS = {"X-API-Key": KEY}
MB = 1_000_000
RSS_CEILING_MB = 150  # what an attack may add to the server's resident memory


@pytest.fixture(scope="module")
def served(seeded: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = launch(seeded, tmp_path_factory.mktemp("hostile"), RAG_SERVER__API_KEY=KEY)
    try:
        wait_ready(server)
        yield server
    finally:
        stop(server)


def rss_mb(server: Server) -> float:
    """The server's peak resident memory so far (VmHWM), in MB."""
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def chunks(total: int, size: int = 256 * 1024) -> Iterator[bytes]:
    """A JSON-looking body of `total` bytes, sent chunked (no Content-Length)."""
    yield b'{"question": "'
    sent = 0
    while sent < total:
        yield b"A" * size
        sent += size


def send_chunked(url: str, total: int, headers: dict[str, str] | None = None) -> int | None:
    """The status the server answered, or None if it closed the connection before answering."""
    try:
        r = httpx.post(url, content=chunks(total), headers=headers or {}, timeout=60)
    except httpx.HTTPError:
        return None
    return r.status_code


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.parametrize("path", ["/query", "/chat/completions", "/articles"])
def test_a_chunked_body_without_the_key_is_refused_unread(served: Server, path: str) -> None:
    before = rss_mb(served)
    status = send_chunked(served.api + path, 300 * MB)
    assert status in (401, None)  # the answer may race the client's sending
    r = httpx.post(served.api + path, content=b"{}", headers={"Content-Type": "application/json"})
    assert r.status_code == 401 and "X-API-Key" in r.json()["detail"]
    assert rss_mb(served) - before < RSS_CEILING_MB


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.parametrize(
    ("path", "setting"),
    [
        ("/query", "RAG_SERVER__MAX_REQUEST_BYTES"),
        ("/chat/completions", "RAG_SERVER__MAX_REQUEST_BYTES"),
        ("/articles", "RAG_SERVER__MAX_UPLOAD_BYTES"),
    ],
)
def test_a_chunked_body_past_the_limit_is_a_413_as_it_streams(
    served: Server, path: str, setting: str
) -> None:
    before = rss_mb(served)
    headers = HEADERS | {"Content-Type": "application/json"}
    status = send_chunked(served.api + path, 300 * MB, headers)
    assert status in (413, None)
    # the same with a length: refused before it is read, with the limit and its setting named
    r = httpx.post(served.api + path, content=b"x" * (21 * MB), headers=headers)
    assert r.status_code == 413 and setting in r.json()["detail"]
    assert rss_mb(served) - before < RSS_CEILING_MB
    assert httpx.get(served.api + "/health").status_code == 200


@pytest.mark.slow
@pytest.mark.server
def test_slow_clients_holding_connections_open_do_not_stop_the_others(served: Server) -> None:
    """Slowloris: 200 connections each sending a request's headers a byte at a time, never
    finishing. Meanwhile the health probe and a question with the key are answered as usual,
    and the server's memory stays under the ceiling."""
    import socket
    from urllib.parse import urlsplit

    where = urlsplit(served.url)
    before = rss_mb(served)
    slow: list[socket.socket] = []
    try:
        for _ in range(200):
            sock = socket.create_connection((where.hostname, where.port), timeout=10)
            sock.sendall(b"POST /v1/query HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            slow.append(sock)
        for round_ in range(3):
            for sock in slow:
                with contextlib.suppress(OSError):  # the server may close them: as good
                    sock.sendall(b"a")
            assert httpx.get(served.api + "/health", timeout=30).status_code == 200
            r = httpx.post(
                served.api + "/query", json={"question": QUESTION}, headers=HEADERS, timeout=60
            )
            assert r.status_code == 200 and r.json()["citations"], (round_, r.text[:300])
            time.sleep(0.5)
        assert rss_mb(served) - before < RSS_CEILING_MB
    finally:
        for sock in slow:
            sock.close()


LONE = "\ud800"


@pytest.mark.slow
@pytest.mark.server
def test_a_lone_surrogate_is_repaired_everywhere(served: Server) -> None:
    def post(path: str, body: dict[str, Any]) -> httpx.Response:
        raw = json.dumps(body)  # ensure_ascii: the surrogate travels as the escape \\ud800
        headers = HEADERS | {"Content-Type": "application/json"}
        return httpx.post(served.api + path, content=raw, headers=headers, timeout=60)

    question = f"What did Hegseth say about 5%?{LONE}"
    history = [{"role": "user", "content": f"Tell me about NATO{LONE}"}]
    r = post("/query", {"question": question, "history": history})
    assert r.status_code == 200 and r.json()["citations"]
    assert "\ufffd" in r.json()["question"]
    r = post("/query", {"question": question, "stream": True})
    assert r.status_code == 200 and "event: done" in r.text
    r = post(
        "/query", {"question": QUESTION, "backend": f"extr{LONE}", "filters": {"sources": [LONE]}}
    )
    assert r.status_code == 400 and "backend" in r.json()["detail"]
    chat = {"messages": [*history, {"role": "user", "content": question}]}
    r = post("/chat/completions", chat)
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"]
    r = post("/chat/completions", chat | {"stream": True})
    assert r.status_code == 200 and "[DONE]" in r.text
    article = {"title": f"Pier{LONE}", "text": f"The pier reopened on Friday{LONE}. " * 5}
    r = post("/articles", {"articles": [article]})
    assert r.status_code == 200, r.text


@pytest.mark.slow
@pytest.mark.server
def test_history_costs_no_more_than_its_bound(served: Server) -> None:
    """A run of capitalised words used to become a 'name' put into the question: 900 KB of it
    cost a minute of CPU and came back as the standalone question. Now only the latest turns
    within RAG_SERVER__MAX_HISTORY_CHARS are read."""
    names = " ".join(["Alpha Beta Gamma Delta"] * 40_000)  # ~900 KB, under the request limit
    history = [{"role": "user", "content": names}, {"role": "user", "content": "Who is Hegseth?"}]
    body = {"question": "What did he say about 5%?", "history": history}
    t0 = time.process_time()
    r = httpx.post(served.api + "/query", json=body, headers=HEADERS, timeout=60)
    assert r.status_code == 200
    assert len(r.json()["standalone_question"]) < 200
    assert "Hegseth" in r.json()["standalone_question"]
    assert time.process_time() - t0 < 30  # the client's own CPU: a sanity bound, not a timing


@pytest.mark.slow
@pytest.mark.server
def test_a_300_character_file_name_is_shortened_not_a_500(served: Server) -> None:
    name = "é" * 300 + ".txt"
    text = b"Pier news\n\nThe harbour pier in Elwin reopened on Friday after repairs lasting weeks."
    r = httpx.post(served.api + "/articles", files={"files": (name, text)}, headers=HEADERS)
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["status"] == "added"


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.parametrize(
    ("name", "make", "setting"),
    [
        ("flood.jsonl.gz", lambda: gzip.compress(b"\n" * (300 * MB), 9), "EXPANDED_BYTES"),
        ("line.jsonl.gz", lambda: gzip.compress(b"A" * (300 * MB), 9), "EXPANDED_BYTES"),
        ("one-line.txt", lambda: b"Title\n\n" + b"word " * MB, "RAG_INGEST__MAX_ARTICLE_CHARS"),
    ],
)
def test_an_upload_that_expands_is_refused_within_bounds(
    served: Server, name: str, make: Any, setting: str
) -> None:
    """A small .gz that expands to 300 MB (of newlines, or of one line) and a 5 MB one-line
    .txt: each a 422 naming the limit, while the server's memory stays under the ceiling."""
    data = make()
    before = rss_mb(served)
    r = httpx.post(
        served.api + "/articles", files={"files": (name, data)}, headers=HEADERS, timeout=120
    )
    assert r.status_code == 422, r.text
    assert setting in r.json()["detail"]
    assert rss_mb(served) - before < RSS_CEILING_MB


# --- in process -------------------------------------------------------------------------------


def test_upload_names_are_normalised() -> None:
    from ui.api.routes.articles import MAX_NAME_BYTES, upload_name

    long = upload_name("é" * 300 + ".jsonl.gz")
    assert long.endswith(".jsonl.gz") and len(long.encode()) <= MAX_NAME_BYTES
    assert upload_name("../../etc/passwd.txt") == "passwd.txt"
    assert upload_name(f"a{LONE}\x00b\n.md") == "a\ufffd b.md"
    assert upload_name("") == upload_name("..") == "upload.txt"


def test_repair_keeps_pairs_and_replaces_lone_surrogates() -> None:
    from rag.text.rules import repair

    assert repair("\ud83d\ude00 ok") == "😀 ok"  # a pair sent as two JSON escapes
    assert repair(f"a{LONE}b\x00c") == "a\ufffdb c"
    assert repair("plain") == "plain"


@pytest.fixture
def uvicorn_app(pipeline) -> Iterator[tuple[str, list[int]]]:  # type: ignore[no-untyped-def]
    """The API with one route that fails unexpectedly, on a real uvicorn on 127.0.0.1; yields its
    URL and the client ports of the requests it saw (one port: one connection)."""
    import uvicorn

    from tests.helpers.processes import free_port
    from ui.api import create_app

    app = create_app(pipeline, ui=False)
    ports: list[int] = []

    @app.get("/v1/broken")
    def broken(request: Any = None) -> None:
        raise RuntimeError("a bug")

    @app.middleware("http")
    async def record(request: Any, call_next: Any) -> Any:
        ports.append(request.client.port)
        return await call_next(request)

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", ports
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.mark.server
def test_an_unexpected_error_is_a_500_that_keeps_the_connection(
    uvicorn_app: tuple[str, list[int]],
) -> None:
    url, ports = uvicorn_app
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(3):
            r = client.get("/v1/broken")
            assert r.status_code == 500
            assert r.json() == {
                "detail": "internal error (RuntimeError); see the server log",
                "request_id": r.headers["x-request-id"],  # what to look for in that log
            }
            assert client.get("/v1/health").status_code == 200
    assert len(set(ports)) == 1  # six requests, one connection


def test_wrong_keys_are_rate_limited_and_docs_need_the_key(pipeline) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers.api import with_server
    from ui.api import create_app

    settings = {"api_key": SecretStr(KEY), "key_failures_per_minute": 5}
    client = TestClient(create_app(with_server(pipeline, **settings), ui=False))
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers=HEADERS).status_code == 200
    for _ in range(2):
        assert client.get("/v1/articles", headers={"X-API-Key": "guess"}).status_code == 401
    r = client.get("/v1/articles", headers={"X-API-Key": "guess"})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert "try again" in r.json()["detail"]
    assert client.get("/v1/health").status_code == 200  # health needs no key
    opened = TestClient(create_app(with_server(pipeline, **settings, open_docs=True), ui=False))
    assert opened.get("/openapi.json").status_code == 200


class CountedDeadline(Deadline):
    """A deadline that passes at its `n`-th look (a clock the test controls, not wall time)."""

    def __init__(self, n: int) -> None:
        super().__init__(5.0, "RAG_SERVER__MAX_UPLOAD_SECONDS")
        object.__setattr__(self, "looks", [n])

    def passed(self) -> bool:
        left = self.looks[0] = self.looks[0] - 1  # type: ignore[attr-defined]
        return left < 0


def test_an_upload_past_its_time_keeps_whole_batches_and_names_the_rest(
    tmp_path: Path, embed_model: Any
) -> None:
    """The deadline passes after two batches of one: those two articles are added whole, the
    changed one after them keeps its old version, the rest are not added; the store is
    consistent, and sending the rest again adds them."""
    from index.check import check
    from index.ingest import ingest
    from index.loaders import Article
    from tests.conftest import make_settings

    settings = make_settings(tmp_path / "store")

    def article(i: int, words: str) -> Article:
        text = f"The Elwin council met on day {i} and {words} about the harbour pier repairs."
        return Article(id=f"a{i}", title=f"Council {i}", paragraphs=[text], location=f"t:{i}")

    ingest([], settings, embed_model, articles=[article(3, "agreed")], progress=False)
    batch = [article(i, "argued" if i == 3 else "agreed") for i in range(1, 7)]
    report = ingest(
        [],
        settings,
        embed_model,
        articles=batch,
        progress=False,
        batch_size=1,
        deadline=CountedDeadline(2),
    )
    assert report.not_added == ["a3", "a4", "a5", "a6"]
    assert report.status == {"a1": "added", "a2": "added"} | dict.fromkeys(
        report.not_added, "not added"
    )
    assert (report.new, report.updated) == (2, 0)
    assert check(settings, embed_model).problems == 0
    from tests.helpers.chunks import kept_chunks

    by_article = {c.metadata["article_id"]: c.text for c in kept_chunks(settings)}
    assert sorted(by_article) == ["a1", "a2", "a3"] and "agreed" in by_article["a3"]
    again = ingest([], settings, embed_model, articles=batch, progress=False)
    assert (again.new, again.updated, again.unchanged) == (3, 1, 2) and not again.not_added


def test_an_upload_past_its_time_limit_is_a_422_naming_the_setting(pipeline) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers.api import with_server
    from ui.api import create_app

    client = TestClient(create_app(with_server(pipeline, max_upload_seconds=1e-9), ui=False))
    before = client.get("/v1/articles").json()["count"]
    lines = "\n".join(
        json.dumps({"title": f"Pier {i}", "text": f"The Elwin pier reopened on day {i}."})
        for i in range(50)
    )
    r = client.post("/v1/articles", files={"files": ("many.jsonl", lines.encode())})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "RAG_SERVER__MAX_UPLOAD_SECONDS" in detail and "nothing was added" in detail
    assert client.get("/v1/articles").json()["count"] == before


def test_values_of_the_wrong_type_are_refused_not_coerced(pipeline) -> None:  # type: ignore[no-untyped-def]
    """Found by schemathesis once requests carried both credentials: `"stream": 0` was read as
    false and `"as_of": 0` as 1970-01-01 (a 200 answer as of 1970)."""
    from ui.api import create_app

    client = TestClient(create_app(pipeline, ui=False))
    q = "What did Hegseth say about 5%?"
    chat = {"messages": [{"role": "user", "content": q}]}
    for path, body in [
        ("/v1/query", {"question": q, "stream": 0}),
        ("/v1/query", {"question": q, "as_of": 0}),
        ("/v1/query", {"question": q, "top_k": "5"}),
        ("/v1/query", {"question": q, "filters": {"date_to": 20250101}}),
        ("/v1/chat/completions", {**chat, "as_of": 0}),
        ("/v1/chat/completions", {**chat, "stream": "yes"}),
    ]:
        r = client.post(path, json=body)
        assert r.status_code == 422, (body, r.text)
    assert client.post("/v1/query", json={"question": q, "as_of": "2025-06-06"}).status_code == 200
