"""The HTTP API against a real `rag serve` process on 127.0.0.1 (seed articles, extractive answers).

Two servers per module, started together: an open one on a copy of the session's seeded store
(these tests add articles), and one with an API key and a small upload limit that starts from no
index at all and so ingests the seeds/ folder of its working directory first.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rag.settings import Settings
from tests.conftest import ROOT, SEEDS, sse_events
from tests.helpers.processes import free_port
from tests.helpers.server import QUESTION, Server, launch, post, stop, wait_ready

pytestmark = pytest.mark.server  # every test here starts `rag serve` (the module's two or its own)

API_KEY = "test-key-123"


@pytest.fixture(scope="module")
def servers(
    seeded: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    open_server = launch(seeded, tmp_path_factory.mktemp("open"))
    keyed = launch(
        seeded,
        tmp_path_factory.mktemp("keyed"),
        empty=True,
        RAG_SERVER__API_KEY=API_KEY,
        RAG_SERVER__MAX_UPLOAD_BYTES="2000",
        RAG_SERVER__CORS_ORIGINS='["http://app.example"]',
    )
    try:
        wait_ready(open_server)
        wait_ready(keyed)
        yield open_server, keyed
    finally:
        stop(open_server)
        stop(keyed)


@pytest.fixture(scope="module")
def server(servers: tuple[Server, Server]) -> Server:
    return servers[0]


@pytest.fixture(scope="module")
def keyed(servers: tuple[Server, Server]) -> Server:
    return servers[1]


def assert_cited(answer: dict[str, Any]) -> None:
    numbers = {c["number"] for c in answer["citations"]}
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", answer["answer"])}
    assert markers, answer["answer"]
    assert markers <= numbers, f"markers {markers} without citations {numbers}"


# --- questions ------------------------------------------------------------------------------
@pytest.mark.slow
def test_query_answers_with_citations(server: Server) -> None:
    r = post(server, "/query", {"question": QUESTION})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert "almost near consensus" in answer["answer"]
    assert_cited(answer)
    assert any(
        c["article_id"].startswith("002_") and "almost near consensus" in c["quote"]
        for c in answer["citations"]
    )
    assert answer["declined"] is False
    assert answer["backend"] == "extractive"
    assert answer["timings"]["total"] > 0


@pytest.mark.slow
def test_query_streams_server_sent_events(server: Server) -> None:
    with httpx.stream(
        "POST", server.api + "/query", json={"question": QUESTION, "stream": True}, timeout=60
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = sse_events(r.iter_lines())
    names = [name for name, _ in events]
    assert names.count("token") > 3
    assert names[-2:] == ["answer", "done"]
    answer = events[-2][1]
    streamed = "".join(data["text"] for name, data in events if name == "token")
    assert streamed.strip() == answer["answer"]
    assert "almost near consensus" in answer["answer"]
    assert_cited(answer)


@pytest.mark.slow
def test_query_filters_and_top_k(server: Server) -> None:
    r = post(
        server,
        "/query",
        {"question": QUESTION, "top_k": 3, "filters": {"date_from": "2030-01-01"}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["declined"] is True  # no article is that recent
    assert r.json()["citations"] == []


@pytest.mark.slow
def test_openai_client_plain_and_streamed(server: Server) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=server.api, api_key="unused", max_retries=0)
    messages: Any = [{"role": "user", "content": QUESTION}]
    resp = client.chat.completions.create(model="news-rag", messages=messages)
    content = resp.choices[0].message.content or ""
    assert "almost near consensus" in content
    assert "Sources:" in content and "[1]" in content
    citations = (resp.model_extra or {})["citations"]
    assert citations and citations[0]["number"] == 1
    assert resp.choices[0].finish_reason == "stop"

    stream = client.chat.completions.create(model="gpt-4o", messages=messages, stream=True)
    pieces, last = [], None
    for chunk in stream:
        last = chunk
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
    assert len(pieces) > 3
    assert "".join(pieces) == content
    assert last is not None and last.choices[0].finish_reason == "stop"
    assert (last.model_extra or {})["citations"] == citations


@pytest.mark.slow
def test_follow_up_question_uses_history(server: Server) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=server.api, api_key="unused", max_retries=0)
    first = client.chat.completions.create(
        model="news-rag", messages=[{"role": "user", "content": QUESTION}]
    )
    messages: Any = [
        {"role": "system", "content": "Answer from the articles."},
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": "And what did he say about the UK?"},
    ]
    resp = client.chat.completions.create(model="news-rag", messages=messages)
    answer = (resp.model_extra or {})["answer"]
    assert answer["question"] == "And what did he say about the UK?"
    assert "Hegseth" in (answer["standalone_question"] or "")
    assert (resp.model_extra or {})["citations"]
    text = resp.choices[0].message.content or ""
    assert "going to get there" in text or "UK" in text


@pytest.mark.slow
def test_models_and_health(server: Server) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=server.api, api_key="unused", max_retries=0)
    assert [m.id for m in client.models.list()] == ["news"]  # the collections
    health = httpx.get(server.api + "/health").json()
    assert health["status"] == "ok"
    assert health["articles"] >= 5
    assert health["chunks"] >= health["articles"]
    assert health["embedding_model"]
    assert health["answer_backend"] == "extractive"


@pytest.mark.slow
def test_serve_prints_urls_and_seeds_an_empty_index(server: Server, keyed: Server) -> None:
    port = server.url.rsplit(":", 1)[1]
    assert f"http://127.0.0.1:{port}/" in server.output()
    assert "ingesting" not in server.output()  # its index was there already
    out = keyed.output()
    assert "the index is empty: ingesting" in out and "5 new" in out
    assert "API key required" in out
    assert httpx.get(keyed.api + "/health").json()["articles"] == 5


@pytest.mark.slow
def test_openapi_docs(server: Server) -> None:
    assert httpx.get(server.url + "/docs").status_code == 200
    paths = httpx.get(server.url + "/openapi.json").json()["paths"]
    for path in ("/v1/query", "/v1/chat/completions", "/v1/articles", "/v1/health"):
        assert path in paths


# --- bad input: a 4xx that says what to do --------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(
    ("body", "status", "hint"),
    [
        ({"question": "   "}, 400, "empty"),
        ({"question": "why " * 12_500}, 400, "RAG_SERVER__MAX_QUESTION_CHARS"),
        ({"question": QUESTION, "backend": "gpt-9"}, 400, "choose one of"),
        ({"question": QUESTION, "filters": {"date_from": "2025-02-30"}}, 422, "YYYY-MM-DD"),
        ({"question": QUESTION, "filters": "June"}, 422, "filters"),
        (
            {"question": QUESTION, "filters": {"date_from": "2025-06-10", "date_to": "2025-06-01"}},
            422,
            "swap",
        ),
        ({"question": QUESTION, "top_k": 0}, 422, "top_k"),
        ({"top_k": 3}, 422, "question: this field is required"),
        ({"question": QUESTION, "backend": "openai"}, 503, "RAG_LLM__API_KEY"),
        ({"question": "", "stream": True}, 400, "empty"),
    ],
)
def test_bad_query_gets_helpful_4xx(
    server: Server, body: dict[str, Any], status: int, hint: str
) -> None:
    r = post(server, "/query", body)
    assert r.status_code == status, r.text
    assert hint in r.json()["detail"]


@pytest.mark.slow
def test_malformed_json_is_422(server: Server) -> None:
    r = httpx.post(
        server.api + "/query",
        content=b'{"question": "What did',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422
    assert "not valid JSON" in r.json()["detail"]


@pytest.mark.slow
def test_chat_without_user_message_is_400(server: Server) -> None:
    r = post(server, "/chat/completions", {"messages": [{"role": "system", "content": "hi"}]})
    assert r.status_code == 400
    assert "user" in r.json()["detail"]
    r = post(server, "/chat/completions", {"model": "news-rag", "messages": []})
    assert r.status_code == 422


@pytest.mark.slow
def test_oversize_upload_is_413(keyed: Server) -> None:
    headers = {"X-API-Key": API_KEY}
    big = ("Paragraph of a long article. " * 200).encode()
    r = httpx.post(keyed.api + "/articles", files={"files": ("long.txt", big)}, headers=headers)
    assert r.status_code == 413
    assert "RAG_SERVER__MAX_UPLOAD_BYTES" in r.json()["detail"]


@pytest.mark.slow
def test_unsupported_upload_is_415(server: Server) -> None:
    r = httpx.post(server.api + "/articles", files={"files": ("scan.pdf", b"%PDF-1.4")})
    assert r.status_code == 415
    assert ".txt" in r.json()["detail"]


# --- auth -----------------------------------------------------------------------------------
@pytest.mark.slow
def test_api_key_protects_everything_but_health(keyed: Server, server: Server) -> None:
    body = {"question": QUESTION}
    assert httpx.get(keyed.api + "/health").status_code == 200
    for r in (
        post(keyed, "/query", body),
        post(keyed, "/query", body, headers={"Authorization": "Bearer wrong"}),
        httpx.get(keyed.api + "/articles"),
        httpx.get(keyed.api + "/models"),
        post(keyed, "/chat/completions", {"messages": [{"role": "user", "content": QUESTION}]}),
    ):
        assert r.status_code == 401
        assert "X-API-Key" in r.json()["detail"]
    ok = post(keyed, "/query", body, headers={"Authorization": f"Bearer {API_KEY}"})
    assert ok.status_code == 200
    assert "almost near consensus" in ok.json()["answer"]
    assert httpx.get(keyed.api + "/articles", headers={"X-API-Key": API_KEY}).status_code == 200
    # the openai client sends the key as a bearer token
    from openai import OpenAI

    client = OpenAI(base_url=keyed.api, api_key=API_KEY, max_retries=0)
    assert [m.id for m in client.models.list()] == ["news"]  # the collections
    # without a key configured, no key is needed
    assert httpx.get(server.api + "/articles").status_code == 200


@pytest.mark.slow
def test_cors_allows_only_the_configured_origins(keyed: Server, server: Server) -> None:
    """RAG_SERVER__CORS_ORIGINS: a browser page on a listed origin may call the API (the preflight
    needs no key); other origins, and a server without the setting, get no CORS headers."""
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-api-key",
    }
    ok = httpx.options(keyed.api + "/query", headers={"Origin": "http://app.example", **preflight})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "http://app.example"
    assert "x-api-key" in ok.headers["access-control-allow-headers"].lower()
    r = post(keyed, "/query", {"question": QUESTION}, headers={"Origin": "http://app.example"})
    assert r.status_code == 401  # CORS is not authentication
    assert r.headers["access-control-allow-origin"] == "http://app.example"
    other = httpx.options(
        keyed.api + "/query", headers={"Origin": "http://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in other.headers
    plain = httpx.get(server.api + "/health", headers={"Origin": "http://app.example"})
    assert "access-control-allow-origin" not in plain.headers


@pytest.mark.slow
def test_api_key_guards_the_web_ui(keyed: Server, server: Server) -> None:
    """With a key, Gradio's login (any user name, the key as password) stands before the UI."""
    assert httpx.get(keyed.url + "/config").status_code == 401
    bad = httpx.post(keyed.url + "/login", data={"username": "me", "password": "nope"})
    assert bad.status_code >= 400
    with httpx.Client(base_url=keyed.url) as browser:
        login = browser.post("/login", data={"username": "me", "password": API_KEY})
        assert login.status_code == 200
        assert browser.get("/config").status_code == 200
    assert httpx.get(server.url + "/config").status_code == 200  # no key: the UI is open


# --- adding articles ------------------------------------------------------------------------
NEW_ARTICLE = {
    "title": "Baltic hydrogen pipeline opens between Klaipeda and Riga",
    "text": (
        "The Baltic hydrogen pipeline between Klaipeda and Riga opened on Tuesday, the "
        "Lithuanian energy ministry said.\n\n"
        "Energy minister Rasa Vilkaite said the pipeline would carry 2.4 million tonnes of "
        "hydrogen a year by 2030, enough to supply the region's steelworks.\n\n"
        "The project cost 1.1 billion euros and was partly paid for by the European Union."
    ),
    "url": "https://example.org/energy/baltic-hydrogen",
    "published": "2025-06-10",
    "source": "example.org",
    "authors": ["Jonas Petraitis"],
}


@pytest.mark.slow
def test_add_json_article_then_ask_about_it(server: Server) -> None:
    r = post(server, "/articles", {"articles": [NEW_ARTICLE]})
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["new"] == 1 and report["chunks_added"] >= 1
    assert report["problems"] == []

    again = post(server, "/articles", {"articles": [NEW_ARTICLE]}).json()
    assert again["new"] == 0 and again["unchanged"] == 1 and again["chunks_added"] == 0

    answer = post(
        server, "/query", {"question": "How much hydrogen will the Baltic pipeline carry?"}
    ).json()
    assert "2.4 million tonnes" in answer["answer"]
    assert answer["citations"][0]["title"] == NEW_ARTICLE["title"]
    assert answer["citations"][0]["source"] == "example.org"

    listed = httpx.get(server.api + "/articles").json()
    titles = [a["title"] for a in listed["articles"]]
    assert NEW_ARTICLE["title"] in titles
    assert listed["count"] == len(titles)


@pytest.mark.slow
def test_upload_markdown_file(server: Server) -> None:
    md = (
        b"---\ntitle: Reykjavik opens Arctic seed archive\ndate: 2025-05-02\n"
        b"source: example.is\n---\n\n"
        b"The Arctic seed archive in Reykjavik opened its doors on Friday, holding 480,000 "
        b"seed samples from 61 countries.\n\n"
        b"Curator Helga Jonsdottir said the archive would double its capacity by 2028.\n"
    )
    r = httpx.post(server.api + "/articles", files={"files": ("seed-archive.md", md)}, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["new"] == 1
    answer = post(
        server, "/query", {"question": "How many seed samples does the Arctic archive hold?"}
    ).json()
    assert "480,000" in answer["answer"]
    assert answer["citations"][0]["location"] == "upload:seed-archive.md"


@pytest.mark.slow
def test_bad_article_bodies(server: Server) -> None:
    r = post(server, "/articles", {"articles": [{"title": "No body"}]})
    assert r.status_code == 422
    assert "text" in r.json()["detail"]
    r = post(server, "/articles", {"articles": [{**NEW_ARTICLE, "published": "someday"}]})
    assert r.status_code == 422
    assert "2025-06-05" in r.json()["detail"]
    r = httpx.post(
        server.api + "/articles", content=b"plain", headers={"content-type": "text/plain"}
    )
    assert r.status_code == 415


@pytest.mark.slow
def test_serve_on_a_lost_store_says_so_instead_of_serving_the_demo(
    seeded: Settings, tmp_path: Path
) -> None:
    """Finding 6: the vector store deleted (its ledger still there) made `rag serve` re-seed and
    serve the demo articles as if the archive were new."""
    shutil.copytree(seeded.store.path, tmp_path / "store")
    shutil.rmtree(tmp_path / "store" / "chroma")
    shutil.copytree(SEEDS, tmp_path / "seeds")  # there to be (wrongly) ingested
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    environ.update(RAG_STORE__PATH=str(tmp_path / "store"), PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "ui.cli", "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "records 5 articles: run `rag check --repair`" in done.stderr
    assert "ingesting" not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
@pytest.mark.server
def test_a_forwarded_for_header_does_not_reset_the_wrong_key_count(
    seeded: Settings, tmp_path: Path
) -> None:
    """Wrong keys are counted by the address the connection comes from: a client that names
    another address in X-Forwarded-For each time still gets its 429 (uvicorn believed the
    header from 127.0.0.1 by default; trusted proxies are now a setting, none by default)."""
    server = launch(
        seeded,
        tmp_path,
        RAG_SERVER__API_KEY=API_KEY,
        RAG_SERVER__KEY_FAILURES_PER_MINUTE="3",
    )
    try:
        wait_ready(server)
        codes = [
            httpx.post(
                server.api + "/query",
                json={"question": QUESTION},
                headers={"X-API-Key": "guess", "X-Forwarded-For": f"203.0.113.{n}"},
                timeout=30,
            ).status_code
            for n in range(5)
        ]
        assert codes == [401, 401, 401, 429, 429], server.output()
    finally:
        stop(server)


# --- what an operator sees -----------------------------------------------------------------
def _metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of a Prometheus text page (0 when it is not there)."""
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            head, _, value = line.rpartition(" ")
            if all(f'{k}="{v}"' in head for k, v in labels.items()):
                return float(value)
    return 0.0


def test_metrics_count_requests_answers_and_articles_behind_the_key(keyed: Server) -> None:
    """`/v1/metrics` (issue 39): requests and latency by route, method and status (a refused key
    included), answers by backend and outcome, articles written, the index size; Prometheus'
    text format, behind the key."""
    auth = {"Authorization": f"Bearer {API_KEY}"}
    assert httpx.get(keyed.api + "/metrics", timeout=30).status_code == 401
    before = httpx.get(keyed.api + "/metrics", headers=auth, timeout=30).text
    asked = httpx.post(keyed.api + "/query", json={"question": QUESTION}, headers=auth, timeout=60)
    declined = httpx.post(
        keyed.api + "/query",
        json={"question": "What did Emmanuel Macron say about defence spending?"},
        headers=auth,
        timeout=60,
    )
    assert asked.status_code == declined.status_code == 200 and declined.json()["declined"]
    wrong = httpx.post(keyed.api + "/query", json={"question": QUESTION}, timeout=30)
    assert wrong.status_code == 401
    page = httpx.get(keyed.api + "/metrics", headers=auth, timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    after = page.text

    def grew(name: str, **labels: str) -> float:
        return _metric(after, name, **labels) - _metric(before, name, **labels)

    query = {"route": "/v1/query", "method": "POST"}
    assert grew("rag_http_requests_total", **query, status="200") == 2
    assert grew("rag_http_requests_total", **query, status="401") == 1
    assert grew("rag_http_request_seconds_count", **query) == 3
    assert grew("rag_answers_total", backend="extractive", outcome="answered") == 1
    assert grew("rag_answers_total", backend="extractive", outcome="declined") == 1
    articles = httpx.get(keyed.api + "/health", timeout=30).json()["articles"]
    assert _metric(after, "rag_index_articles") == articles > 0


def test_every_reply_and_error_carries_a_request_id_and_so_do_log_lines(keyed: Server) -> None:
    """A request id (issue 39): every response's `X-Request-ID`, the same id as `request_id` in
    its error body, whoever answered it (the key check, a limit, a route); a client's own id
    is kept when it is safe, replaced when not, and the server's log line says so under the id."""
    auth = {"Authorization": f"Bearer {API_KEY}"}
    ok = httpx.get(keyed.api + "/health", timeout=30)
    assert len(ok.headers["x-request-id"]) == 32
    refused = httpx.get(keyed.api + "/articles", timeout=30)  # the key check's 401
    too_big = httpx.post(  # the body limit's 413
        keyed.api + "/articles", content=b"x" * 5000, headers=auth, timeout=30
    )
    bad = httpx.post(keyed.api + "/query", json={"question": ""}, headers=auth, timeout=30)
    for reply in (refused, too_big, bad):
        assert reply.status_code in (400, 401, 413), reply.text
        assert reply.json()["request_id"] == reply.headers["x-request-id"], reply.text
    mine = httpx.get(keyed.api + "/health", headers={"X-Request-ID": "trace-42.a"}, timeout=30)
    assert mine.headers["x-request-id"] == "trace-42.a"
    forged = httpx.get(
        keyed.api + "/health", headers={"X-Request-ID": "x" * 65 + " forged"}, timeout=30
    )
    new = forged.headers["x-request-id"]
    assert new != "x" * 65 + " forged" and len(new) == 32
    # a server error is logged under its request's id (an answer backend that cannot start)
    failed = httpx.post(
        keyed.api + "/query",
        json={"question": QUESTION, "backend": "openai"},
        headers={**auth, "X-Request-ID": "trace-503"},
        timeout=30,
    )
    assert failed.status_code == 503 and failed.json()["request_id"] == "trace-503"
    line = "WARNING [trace-503] ui.api.observe: POST /v1/query 503"
    deadline = time.time() + 10  # the line is written as the reply goes out, maybe just after
    while line not in keyed.log.read_text() and time.time() < deadline:
        time.sleep(0.1)
    assert line in keyed.log.read_text()
