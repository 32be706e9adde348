"""The HTTP API's routes in-process: `TestClient(create_app(pipeline, ui=False))` on the session's
seeded store (read-only) or, for writes, on a fresh store in tmp_path.

OpenAI responses are parsed with the `openai` package's own types, as its client would. The same
endpoints against a real `rag serve` process (and the official client) are
tests/ui/test_rag_serve.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openai.types import Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import SecretStr

from rag.pipeline import Pipeline
from tests.conftest import SEEDS, make_settings, sse_events
from tests.helpers.api import with_server
from ui.api import create_app
from ui.api.deps import default_pipeline

QUESTION = "What did Hegseth say about 5%?"
FACT = "almost near consensus"
KEY = "k-123"


@pytest.fixture(scope="module")
def client(pipeline: Pipeline) -> TestClient:
    # no `with`: the lifespan would close the shared session pipeline's backends on exit
    return TestClient(create_app(pipeline, ui=False))


@pytest.fixture(scope="module")
def keyed(pipeline: Pipeline) -> TestClient:
    return TestClient(create_app(with_server(pipeline, api_key=SecretStr(KEY)), ui=False))


def openai_chunks(lines: Iterator[str]) -> tuple[list[ChatCompletionChunk], bool]:
    """The stream's chunks, parsed as the openai client would, and whether [DONE] ended it."""
    chunks, done = [], False
    for line in lines:
        if not line.startswith("data: "):
            continue
        if line == "data: [DONE]":
            done = True
            continue
        chunks.append(ChatCompletionChunk.model_validate(json.loads(line[6:])))
    return chunks, done


# --- questions ------------------------------------------------------------------------------
def test_query_answers_with_citations(client: TestClient) -> None:
    r = client.post("/v1/query", json={"question": QUESTION})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert FACT in answer["answer"]
    assert answer["citations"] and answer["citations"][0]["number"] == 1
    assert answer["backend"] == "extractive"


def test_query_streams_token_answer_done(client: TestClient) -> None:
    with client.stream("POST", "/v1/query", json={"question": QUESTION, "stream": True}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-cache"
        events = sse_events(r.iter_lines())
    names = [name for name, _ in events]
    assert names.count("token") > 3
    assert names[-2:] == ["answer", "done"]
    streamed = "".join(data["text"] for name, data in events if name == "token")
    assert streamed.strip() == events[-2][1]["answer"]


def test_query_filters_can_leave_nothing(client: TestClient) -> None:
    body = {"question": QUESTION, "top_k": 3, "filters": {"date_from": "2030-01-01"}}
    r = client.post("/v1/query", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["declined"] is True and r.json()["citations"] == []


# --- OpenAI-compatible ----------------------------------------------------------------------
def test_chat_completion_parses_as_openai_type(client: TestClient) -> None:
    body = {"model": "anything", "messages": [{"role": "user", "content": QUESTION}]}
    r = client.post("/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    completion = ChatCompletion.model_validate(r.json())
    assert completion.object == "chat.completion" and completion.model == "news-rag"
    content = completion.choices[0].message.content or ""
    assert FACT in content and "\n\nSources:\n[1] " in content
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    extra = completion.model_extra or {}
    assert extra["citations"][0]["number"] == 1
    assert extra["answer"]["answer"] in content
    # only what was set is sent: no nulls for OpenAI options we never fill
    assert set(r.json()) == {
        "id",
        "object",
        "created",
        "model",
        "choices",
        "usage",
        "citations",
        "answer",
    }
    assert set(r.json()["choices"][0]["message"]) == {"role", "content"}


def test_chat_completion_streamed_as_openai_chunks(client: TestClient) -> None:
    plain = client.post(
        "/v1/chat/completions", json={"messages": [{"role": "user", "content": QUESTION}]}
    ).json()
    body = {"stream": True, "messages": [{"role": "user", "content": QUESTION}]}
    with client.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.status_code == 200
        chunks, done = openai_chunks(r.iter_lines())
    assert done
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chunks}) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == plain["choices"][0]["message"]["content"]
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.usage is not None and last.usage.completion_tokens > 0
    assert (last.model_extra or {})["citations"] == plain["citations"]
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])


def test_chat_follow_up_strips_our_sources_from_history(client: TestClient) -> None:
    first = client.post(
        "/v1/chat/completions", json={"messages": [{"role": "user", "content": QUESTION}]}
    ).json()
    messages = [
        {"role": "system", "content": "Answer from the articles."},
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": first["choices"][0]["message"]["content"]},
        {"role": "user", "content": "And what did he say about the UK?"},
    ]
    r = client.post("/v1/chat/completions", json={"messages": messages})
    assert r.status_code == 200, r.text
    answer = r.json()["answer"]
    assert answer["question"] == "And what did he say about the UK?"
    assert "Hegseth" in (answer["standalone_question"] or "")


def test_models_list_and_card(client: TestClient) -> None:
    listed = client.get("/v1/models").json()
    assert listed["object"] == "list"
    # the models are the collections (one here); a name that is none is the default's
    assert [Model.model_validate(m).id for m in listed["data"]] == ["news"]
    card = Model.model_validate(client.get("/v1/models/gpt-4o").json())
    assert card.id == "gpt-4o" and card.owned_by == "news-rag"


# --- status and articles --------------------------------------------------------------------
def test_health(client: TestClient, pipeline: Pipeline) -> None:
    health = client.get("/v1/health").json()
    assert health["status"] == "ok"
    assert health["articles"] == 5 and health["chunks"] == pipeline.catalogue.size
    assert health["embedding_model"] and health["version"]
    assert health["answer_backend"] == "extractive"


def test_articles_list(client: TestClient) -> None:
    listed = client.get("/v1/articles").json()
    assert listed["count"] == len(listed["articles"]) == 5
    assert {a["article_id"] for a in listed["articles"]} == {p.stem for p in SEEDS.glob("*.txt")}
    assert all(a["chunks"] >= 1 for a in listed["articles"])


def test_openapi_lists_every_path_once(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert list(paths) == [
        "/v1/query",
        "/v1/chat/completions",
        "/v1/models",
        "/v1/models/{model_id}",
        "/v1/health",
        "/v1/metrics",
        "/v1/articles",
        "/v1/articles/{article_id}",
        "/v1/feeds",
        "/v1/collections",
        "/v1/feedback",
        "/v1/collections/{collection}/query",
        "/v1/collections/{collection}/chat/completions",
        "/v1/collections/{collection}/articles",
        "/v1/collections/{collection}/articles/{article_id}",
        "/v1/collections/{collection}/feeds",
        "/v1/collections/{collection}/keys",
        "/v1/collections/{collection}/keys/{key_id}",
        "/v1/collections/{collection}/feedback",
    ]
    assert set(paths["/v1/articles"]) == {"get", "post"}
    assert set(paths["/v1/articles/{article_id}"]) == {"delete"}
    upload = paths["/v1/articles"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(upload)


def test_a_router_works_alone(pipeline: Pipeline) -> None:
    """A route needs only its dependency (here overridden), nothing else of the app."""
    from ui.api.routes import health

    app = FastAPI()
    app.include_router(health.router, prefix="/v1")
    app.dependency_overrides[default_pipeline] = lambda: pipeline
    assert TestClient(app).get("/v1/health").json()["articles"] == 5


# --- adding articles (a fresh store: these tests write) -------------------------------------
NEW_ARTICLE = {
    "title": "Baltic hydrogen pipeline opens between Klaipeda and Riga",
    "text": (
        "The Baltic hydrogen pipeline between Klaipeda and Riga opened on Tuesday, the "
        "Lithuanian energy ministry said.\n\n"
        "Energy minister Rasa Vilkaite said the pipeline would carry 2.4 million tonnes of "
        "hydrogen a year by 2030, enough to supply the region's steelworks."
    ),
    "url": "https://example.org/energy/baltic-hydrogen",
    "published": "2025-06-10",
    "source": "example.org",
    "authors": ["Jonas Petraitis"],
}


@pytest.fixture(scope="module")
def writable(tmp_path_factory: pytest.TempPathFactory, embed_model: Any) -> Iterator[TestClient]:
    from index.ingest import ingest
    from rag.pipeline import build

    settings = make_settings(tmp_path_factory.mktemp("api-writes") / "store")
    ingest([next(iter(sorted(SEEDS.glob("*.txt"))))], settings, embed_model, progress=False)
    with TestClient(create_app(build(settings, embed_model=embed_model), ui=False)) as client:
        yield client  # the lifespan closes this pipeline's backends at the end


def test_add_json_article_then_ask_about_it(writable: TestClient) -> None:
    r = writable.post("/v1/articles", json={"articles": [NEW_ARTICLE]})
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["new"] == 1 and report["chunks_added"] >= 1 and report["problems"] == []
    assert report["article_ids"] == [report["article_ids"][0]] and report["summary"]
    assert report["results"] == [{"id": report["article_ids"][0], "status": "added"}]
    again = writable.post("/v1/articles", json={"articles": [NEW_ARTICLE]}).json()
    assert again["unchanged"] == 1 and again["chunks_added"] == 0

    answer = writable.post(
        "/v1/query", json={"question": "How much hydrogen will the Baltic pipeline carry?"}
    ).json()
    assert "2.4 million tonnes" in answer["answer"]
    assert answer["citations"][0]["source"] == "example.org"
    titles = [a["title"] for a in writable.get("/v1/articles").json()["articles"]]
    assert NEW_ARTICLE["title"] in titles


def test_upload_files_get_upload_locations(writable: TestClient) -> None:
    md = (
        b"---\ntitle: Reykjavik opens Arctic seed archive\ndate: 2025-05-02\n---\n\n"
        b"The Arctic seed archive in Reykjavik opened its doors on Friday, holding 480,000 "
        b"seed samples from 61 countries.\n"
    )
    rows = b'{"title": "T", "text": "Body of a row."}\nnot json\n'
    files = [("files", ("seed-archive.md", md)), ("files", ("rows.jsonl", rows))]
    r = writable.post("/v1/articles", files=files)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["new"] == 2
    assert report["problems"] == [
        {"location": "upload:rows.jsonl:2", "message": report["problems"][0]["message"]}
    ]
    assert "not valid JSON" in report["problems"][0]["message"]
    answer = writable.post(
        "/v1/query", json={"question": "How many seed samples does the Arctic archive hold?"}
    ).json()
    assert "480,000" in answer["answer"]
    assert answer["citations"][0]["location"] == "upload:seed-archive.md"


def test_an_upload_of_10000_files_is_refused_whole_and_says_the_limit(
    writable: TestClient,
) -> None:
    """10,000 files in one upload (more parts than any form should have): refused before any
    is read, with the limit in the reply, and nothing of it indexed."""
    before = writable.get("/v1/articles").json()["count"]
    files = [
        ("files", (f"f{i}.txt", f"Title {i}\n\nBody {i} of the flood.".encode()))
        for i in range(10_000)
    ]
    r = writable.post("/v1/articles", files=files)
    assert r.status_code == 422, r.status_code
    assert "at most 1000 files" in r.json()["detail"], r.text
    assert writable.get("/v1/articles").json()["count"] == before
    assert writable.get("/v1/health").status_code == 200


def test_a_body_nested_too_deeply_is_a_422(writable: TestClient) -> None:
    body = '{"articles": ' + "[" * 100_000 + "]" * 100_000 + "}"
    r = writable.post("/v1/articles", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422 and "nested too deeply" in r.json()["detail"]


def test_unreadable_articles_are_422_with_reasons(writable: TestClient) -> None:
    r = writable.post("/v1/articles", json={"articles": [{"title": "No body"}]})
    assert r.status_code == 422 and "text" in r.json()["detail"]
    r = writable.post("/v1/articles", json={"articles": [{**NEW_ARTICLE, "published": "someday"}]})
    assert r.status_code == 422 and "2025-06-05" in r.json()["detail"]
    r = writable.post("/v1/articles", files={"files": ("empty.md", b"   \n")})
    assert r.status_code == 422
    assert r.json()["detail"].startswith("no article could be read: upload:empty.md: ")
    r = writable.post("/v1/articles", files={"note": (None, "a form field, no file")})
    assert r.status_code == 422 and "no file in the upload" in r.json()["detail"]


def test_unsupported_uploads_are_415(writable: TestClient) -> None:
    r = writable.post("/v1/articles", files={"files": ("scan.pdf", b"%PDF-1.4")})
    assert r.status_code == 415
    assert "scan.pdf" in r.json()["detail"] and ".jsonl.gz" in r.json()["detail"]
    r = writable.post("/v1/articles", content=b"plain", headers={"content-type": "text/plain"})
    assert r.status_code == 415


# --- the body limit -------------------------------------------------------------------------
def test_content_length_over_the_limit_is_413(pipeline: Pipeline) -> None:
    limits = {"max_upload_bytes": 1000, "max_request_bytes": 1000}
    small = TestClient(create_app(with_server(pipeline, **limits), ui=False))
    r = small.post("/v1/articles", files={"files": ("long.txt", b"word " * 400)})
    assert r.status_code == 413
    assert "RAG_SERVER__MAX_UPLOAD_BYTES" in r.json()["detail"] and "bytes)" in r.json()["detail"]
    r = small.post("/v1/query", json={"question": "why " * 300})
    assert r.status_code == 413  # every /v1/ body, not only uploads: with its own limit
    assert "RAG_SERVER__MAX_REQUEST_BYTES" in r.json()["detail"]


def test_body_without_length_is_counted_as_it_arrives(pipeline: Pipeline) -> None:
    small = TestClient(create_app(with_server(pipeline, max_upload_bytes=1000), ui=False))

    def body() -> Iterator[bytes]:  # a generator: sent chunked, with no Content-Length
        yield b'{"articles": ['
        for _ in range(20):
            yield b'{"title": "t", "text": "' + b"x" * 100 + b'"},'
        yield b"]}"

    r = small.post("/v1/articles", content=body(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert "RAG_SERVER__MAX_UPLOAD_BYTES" in r.json()["detail"]


# --- the API key ----------------------------------------------------------------------------
def test_api_key_required_except_health(keyed: TestClient) -> None:
    assert keyed.get("/v1/health").status_code == 200
    for r in (
        keyed.post("/v1/query", json={"question": QUESTION}),
        keyed.post("/v1/query", json={"question": QUESTION}, headers={"X-API-Key": "wrong"}),
        keyed.get("/v1/articles", headers={"Authorization": "Bearer wrong"}),
        keyed.get("/v1/models"),
        keyed.get("/v1/models/news-rag"),
        keyed.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]}),
        keyed.post("/v1/articles", json={"articles": [NEW_ARTICLE]}),
    ):
        assert r.status_code == 401
        assert "X-API-Key" in r.json()["detail"]
        assert r.headers["www-authenticate"] == "Bearer"


def test_api_key_accepted_as_bearer_or_header(keyed: TestClient) -> None:
    bearer = {"Authorization": f"Bearer {KEY}"}
    r = keyed.post("/v1/query", json={"question": QUESTION}, headers=bearer)
    assert r.status_code == 200 and FACT in r.json()["answer"]
    assert keyed.get("/v1/articles", headers={"X-API-Key": KEY}).status_code == 200
    assert keyed.get("/v1/models", headers=bearer).status_code == 200


def test_the_key_is_taken_from_no_other_place(keyed: TestClient) -> None:
    """A key in the URL (logged by every proxy), a cookie or Basic auth is not the key: 401,
    the same reply as none."""
    import base64

    basic = base64.b64encode(f"user:{KEY}".encode()).decode()
    for r in (
        keyed.get("/v1/articles", params={"api_key": KEY}),
        keyed.get("/v1/articles", params={"key": KEY, "X-API-Key": KEY}),
        keyed.get("/v1/articles", headers={"Cookie": f"api_key={KEY}; X-API-Key={KEY}"}),
        keyed.get("/v1/articles", headers={"Authorization": f"Basic {basic}"}),
        keyed.get("/v1/articles", headers={"Authorization": KEY}),
    ):
        assert r.status_code == 401, r.request.url
        assert "X-API-Key" in r.json()["detail"]


def test_no_key_configured_means_open(client: TestClient) -> None:
    assert client.get("/v1/articles").status_code == 200
    assert client.get("/v1/collections/news/articles").status_code == 200
    assert client.get("/openapi.json").status_code == 200


def test_key_shows_in_the_docs(keyed: TestClient) -> None:
    assert keyed.get("/openapi.json").status_code == 401  # the schema, too, needs the key
    spec = keyed.get("/openapi.json", headers={"X-API-Key": KEY}).json()
    assert set(spec["components"]["securitySchemes"]) == {"HTTPBearer", "APIKeyHeader"}
    assert "security" not in spec["paths"]["/v1/health"]["get"]
    assert "needs a key" in spec["info"]["description"]


# --- bad requests: a 4xx whose detail says what to do ---------------------------------------
@pytest.mark.parametrize(
    ("body", "status", "hint"),
    [
        ({"question": "   "}, 400, "empty"),
        ({"question": "", "stream": True}, 400, "empty"),
        ({"question": QUESTION, "backend": "gpt-9"}, 400, "choose one of"),
        ({"question": QUESTION, "backend": "openai"}, 503, "RAG_LLM__API_KEY"),
        ({"question": QUESTION, "filters": {"date_from": "2025-02-30"}}, 422, "YYYY-MM-DD"),
        (
            {"question": QUESTION, "filters": {"date_from": "2025-06-10", "date_to": "2025-06-01"}},
            422,
            "date_from is after date_to; swap them",
        ),
        ({"question": QUESTION, "filters": {"when": "June"}}, 422, "filters.when"),
        ({"question": QUESTION, "top_k": 0}, 422, "top_k: "),
        ({"top_k": 3}, 422, "question: this field is required"),
        ({"question": "What happened this week?", "as_of": "9999-12-31"}, 422, "out of range"),
        ({"question": "What happened last week?", "as_of": "0001-01-01"}, 422, "out of range"),
    ],
)
def test_bad_query_is_a_readable_4xx(
    client: TestClient, body: dict[str, Any], status: int, hint: str
) -> None:
    r = client.post("/v1/query", json=body)
    assert r.status_code == status, r.text
    assert hint in r.json()["detail"]


def test_malformed_json_and_chat_without_user(client: TestClient) -> None:
    r = client.post(
        "/v1/query", content=b'{"question": "What', headers={"content-type": "application/json"}
    )
    assert r.status_code == 422 and "not valid JSON" in r.json()["detail"]
    assert r.json()["errors"][0]["type"] == "json_invalid"
    r = client.post("/v1/chat/completions", json={"messages": [{"role": "system", "content": "x"}]})
    assert r.status_code == 400 and "role 'user'" in r.json()["detail"]
    r = client.post("/v1/chat/completions", json={"messages": []})
    assert r.status_code == 422 and r.json()["detail"].startswith("messages: ")


class FailingQA:
    """The real service, except that `ask` fails at once and `stream` after its answer."""

    def __init__(self, qa: Any) -> None:
        self.qa = qa

    def validate(self, question: str) -> str:
        return str(self.qa.validate(question))

    def answerer(self, backend: str | None = None) -> Any:
        return self.qa.answerer(backend)

    def ask(self, *args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("secret internals")

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        yield from self.qa.stream(*args, **kwargs)
        raise RuntimeError("secret internals")


@pytest.fixture(scope="module")
def failing(pipeline: Pipeline) -> TestClient:
    app = create_app(replace(pipeline, qa=FailingQA(pipeline.qa)), ui=False)
    return TestClient(app, raise_server_exceptions=False)


def test_unexpected_errors_are_500_without_a_trace(failing: TestClient) -> None:
    r = failing.post("/v1/query", json={"question": QUESTION})
    assert r.status_code == 500
    assert r.json() == {
        "detail": "internal error (ZeroDivisionError); see the server log",
        "request_id": r.headers["x-request-id"],  # what to look for in that log
    }


def test_stream_failure_is_reported_in_band(failing: TestClient) -> None:
    with failing.stream("POST", "/v1/query", json={"question": QUESTION, "stream": True}) as r:
        events = sse_events(r.iter_lines())
    assert [name for name, _ in events][-3:] == ["answer", "error", "done"]
    assert "secret" not in json.dumps(events[-2][1])
    body = {"stream": True, "messages": [{"role": "user", "content": QUESTION}]}
    with failing.stream("POST", "/v1/chat/completions", json=body) as r:
        lines = [line for line in r.iter_lines() if line.startswith("data: ")]
    assert json.loads(lines[-2][6:])["error"]["type"] == "server_error"
    assert lines[-1] == "data: [DONE]"


def test_upload_paths_never_leak(writable: TestClient, tmp_path: Path) -> None:
    """A problem in an uploaded file names the upload, not the server's temporary folder."""
    r = writable.post("/v1/articles", files={"files": ("bad.json", b"[1, 2")})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert "upload:bad.json" in detail and "rag-upload-" not in detail


def test_an_upload_never_silently_replaces_an_indexed_article(writable: TestClient) -> None:
    seed = next(iter(sorted(SEEDS.glob("*.txt"))))  # the article the fixture indexed
    before = writable.post("/v1/query", json={"question": "What did Rutte say?"}).json()
    forged = ("files", (seed.name, b"Title: Forged\n\nThe forged text says nothing true at all."))
    r = writable.post("/v1/articles", files=[forged])
    assert r.status_code == 409, r.text
    assert seed.stem in r.json()["detail"] and "replace=true" in r.json()["detail"]
    after = writable.post("/v1/query", json={"question": "What did Rutte say?"}).json()
    assert after["answer"] == before["answer"]
    # beside a new article, the forged one alone is refused; the new one is added
    mixed = writable.post(
        "/v1/articles",
        files=[forged, ("files", ("harbour.txt", b"Harbour\n\nThe harbour of Elwin reopened."))],
    )
    assert mixed.status_code == 200, mixed.text
    assert mixed.json()["results"] == [
        {"id": seed.stem, "status": "refused"},
        {"id": "harbour", "status": "added"},
    ]
    assert "refused: already indexed with other text" in mixed.json()["problems"][0]["message"]
    # the same text from another place is no conflict (only its location is updated)
    same = writable.post("/v1/articles", files=[("files", (seed.name, seed.read_bytes()))])
    assert same.status_code == 200, same.text
    # replacing is an explicit choice
    replaced = writable.post("/v1/articles?replace=true", files=[forged])
    assert replaced.status_code == 200 and replaced.json()["updated"] == 1
    assert replaced.json()["results"] == [{"id": seed.stem, "status": "changed"}]
    restored = writable.post(
        "/v1/articles?replace=true", files=[("files", (seed.name, seed.read_bytes()))]
    )
    assert restored.json()["updated"] == 1


@pytest.mark.slow
def test_the_ui_login_counts_its_misses_against_the_key_limit(pipeline: Pipeline) -> None:
    """The web UI's login takes the key as its password: a client that keeps guessing is told to
    wait (429, Retry-After) like one guessing API keys, instead of trying hundreds a second."""
    app = create_app(
        with_server(pipeline, api_key=SecretStr(KEY), key_failures_per_minute=3), ui=True
    )
    ui = TestClient(app)
    for _ in range(3):
        miss = ui.post("/login", data={"username": "me", "password": "guess"})
        assert miss.status_code == 400, miss.text
    again = ui.post("/login", data={"username": "me", "password": "guess"})
    assert again.status_code == 429 and int(again.headers["Retry-After"]) > 0
    right = ui.post("/login", data={"username": "me", "password": KEY})
    assert right.status_code == 429  # until the minute is over, from this address
    other = TestClient(app, client=("10.0.0.2", 50000))  # another address logs in at once
    assert other.post("/login", data={"username": "me", "password": KEY}).status_code == 200


@pytest.mark.slow
def test_guesses_from_an_address_do_not_lock_out_its_users_with_an_unguessable_key(
    pipeline: Pipeline,
) -> None:
    """Someone behind the same address guessing keys made the right key refused too (issue 39,
    finding 4). With a key no guessing can find (20+ characters), the right key gets through,
    by header and by the UI login, while the guesses are still told to wait; a short key (the
    test above) keeps the address refused, since there the right guess must not be told apart."""
    strong = "Hq3xV9-mLr2Tz8Kw5Bn1Yc7"
    app = create_app(
        with_server(pipeline, api_key=SecretStr(strong), key_failures_per_minute=3), ui=True
    )
    shared = TestClient(app)
    for _ in range(3):
        assert shared.get("/v1/articles", headers={"X-API-Key": "guess"}).status_code == 401
    assert shared.get("/v1/articles", headers={"X-API-Key": "guess"}).status_code == 429
    assert shared.post("/login", data={"username": "me", "password": "guess"}).status_code == 429
    assert shared.get("/v1/articles", headers={"X-API-Key": strong}).status_code == 200
    bearer = {"Authorization": f"Bearer {strong}"}
    assert shared.post("/v1/query", json={"question": QUESTION}, headers=bearer).status_code == 200
    assert shared.post("/login", data={"username": "me", "password": strong}).status_code == 200
    # and the guesses are still refused, uncounted beyond the limit
    assert shared.get("/v1/articles", headers={"X-API-Key": strong[:-1]}).status_code == 429


@pytest.mark.parametrize(
    "body",
    [b'{"question": "\xff\xfe what?"}', b'{"question": "x", "top_k": ' + b"9" * 5000 + b"}"],
)
def test_a_body_that_cannot_be_decoded_is_a_422(client: TestClient, body: bytes) -> None:
    """Invalid UTF-8, or a number of thousands of digits: the README's 422 for malformed JSON,
    with what to send (FastAPI answered 400); other errors keep their own status."""
    r = client.post("/v1/query", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422 and "not valid JSON" in r.json()["detail"], r.text
    other = client.post("/v1/articles", content=b"x", headers={"content-type": "text/plain"})
    assert other.status_code == 415 and "multipart/form-data" in other.json()["detail"]


def test_health_answers_while_every_worker_thread_is_held(pipeline: Pipeline) -> None:
    """Questions are answered on the server's worker threads; a burst of them held every one,
    and /v1/health waited behind them (6.6 s behind 300 streamed questions: issue 39, finding
    11). With every worker thread taken, health still answers, and a question waits its turn."""
    import asyncio

    import anyio.to_thread
    import httpx

    app = create_app(with_server(pipeline))

    async def probe() -> tuple[int, bool]:
        limiter = anyio.to_thread.current_default_thread_limiter()
        holders = [object() for _ in range(int(limiter.total_tokens))]
        for holder in holders:  # what a burst of answers does to the pool
            await limiter.acquire_on_behalf_of(holder)
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://rag") as client:
                # a deadlock guard, not a latency bound: before, this never returned
                health = await asyncio.wait_for(client.get("/v1/health"), 60)
                question = asyncio.ensure_future(
                    client.post("/v1/query", json={"question": QUESTION})
                )
                await asyncio.sleep(0.5)
                waiting = not question.done()
                question.cancel()
                return health.status_code, waiting
        finally:
            for holder in holders:
                limiter.release_on_behalf_of(holder)

    status, question_waited = asyncio.run(probe())
    assert status == 200
    assert question_waited  # the pool really was full: a question could not start


def test_deleting_an_unknown_article_does_not_refresh_the_index(
    writable: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A delete of an id that is not indexed changed nothing, yet made the server take a new
    snapshot of the index (issue 39, finding 9: refreshes piled up under writes)."""
    pipeline = writable.app.state.pipeline  # type: ignore[attr-defined]
    refreshes = []
    monkeypatch.setattr(pipeline, "refresh", lambda: refreshes.append(1))
    r = writable.delete("/v1/articles/no-such-article")
    assert r.status_code == 404 and "GET /v1/articles" in r.json()["detail"]
    assert refreshes == []


def test_uploads_leave_no_store_clients_behind(writable: TestClient) -> None:
    """Each write opened Chroma clients (the writer's, the refreshed search's) that kept their
    threads and open files until a collection of cycles came round: a server taking uploads
    grew to 79 threads and 168 open files (issue 39, finding 9). A replaced store is let go
    once no search is on it, and a writer's own client when the write ends."""
    import os

    def threads() -> int:
        return len(os.listdir("/proc/self/task"))

    def files() -> int:
        return len(os.listdir("/proc/self/fd"))

    writable.post("/v1/query", json={"question": "What did Rutte say?"})
    before = threads(), files()
    for n in range(6):
        article = {"id": f"bound-{n}", "title": f"Harbour note {n}", "text": f"Harbour {n} opened."}
        r = writable.post("/v1/articles", json={"articles": [article]})
        assert r.status_code == 200, r.text
        assert writable.post("/v1/query", json={"question": f"Harbour {n}?"}).status_code == 200
    after = threads(), files()
    assert after[0] - before[0] <= 8, (before, after)  # a client's worth, not one per write
    assert after[1] - before[1] <= 12, (before, after)
