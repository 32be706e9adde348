"""One server, three collections, keys scoped to each: every route of the OpenAPI document tried
with every key, on every collection.

A key for one collection gets 404 on another's routes (the same reply as a collection that does
not exist), 403 on its own when its scope is too small, and no reply to it ever carries another
collection's article. The server's key opens everything; no key, or a wrong one, gets 401.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from index.collections import delete_collection
from index.ingest import ingest
from rag.errors import RagError
from rag.pipeline import Pipeline, build
from rag.settings import Settings, on_collection
from rag.store.keys import SCOPES, KeyRing
from rag.store.layout import Layout
from tests.conftest import SEEDS, make_settings
from ui.api import create_app
from ui.served import Served

SERVER_KEY = "the-servers-own-key-of-some-length"
QUESTION = "What did the inquiry find about the bridge?"
# each collection's articles carry a word no other's do (and no question asks about)
PRIVATE = {"politics": "Kestrelwood", "private": "Bittersalt"}
ARTICLES = {
    "politics": {
        "id": "pol-kestrelwood-bridge",
        "title": "Inquiry into the Kestrelwood bridge reports",
        "text": "The inquiry into the Kestrelwood bridge found that the council ignored three "
        "warnings about corrosion before the bridge closed in March.\n\nThe report names "
        "the transport committee.",
    },
    "private": {
        "id": "priv-bittersalt-inquiry",
        "title": "Bittersalt: what the inquiry found",
        "text": "The Bittersalt inquiry found that the bridge contractor had paid two "
        "inspectors to sign off the welds.\n\nThe findings are not yet published.",
    },
}
COLLECTIONS = ("news", "politics", "private")  # news (the default) holds the seeds

# what each operation needs: a scope of the collection it is about; "any" key at all (it lists
# what the key may see); "server": the server's key; "open": nothing
NEEDS = {
    ("POST", "/v1/query"): "read",
    ("POST", "/v1/chat/completions"): "read",
    ("GET", "/v1/models"): "any",
    ("GET", "/v1/models/{model_id}"): "read",
    ("GET", "/v1/health"): "open",
    ("GET", "/v1/metrics"): "server",
    ("GET", "/v1/articles"): "read",
    ("POST", "/v1/articles"): "write",
    ("DELETE", "/v1/articles/{article_id}"): "write",
    ("GET", "/v1/collections"): "any",
    ("GET", "/v1/feeds"): "read",
    ("POST", "/v1/feeds"): "write",
    ("DELETE", "/v1/feeds"): "write",
    ("GET", "/v1/collections/{collection}/feeds"): "read",
    ("POST", "/v1/collections/{collection}/feeds"): "write",
    ("DELETE", "/v1/collections/{collection}/feeds"): "write",
    ("POST", "/v1/feedback"): "read",
    ("GET", "/v1/feedback"): "admin",
    ("POST", "/v1/collections/{collection}/feedback"): "read",
    ("GET", "/v1/collections/{collection}/feedback"): "admin",
    ("POST", "/v1/collections/{collection}/query"): "read",
    ("POST", "/v1/collections/{collection}/chat/completions"): "read",
    ("GET", "/v1/collections/{collection}/articles"): "read",
    ("POST", "/v1/collections/{collection}/articles"): "write",
    ("DELETE", "/v1/collections/{collection}/articles/{article_id}"): "write",
    ("GET", "/v1/collections/{collection}/keys"): "admin",
    ("POST", "/v1/collections/{collection}/keys"): "admin",
    ("DELETE", "/v1/collections/{collection}/keys/{key_id}"): "admin",
}


class World:
    def __init__(self, settings: Settings, pipeline: Pipeline, keys: dict[tuple[str, str], str]):
        self.settings, self.pipeline, self.keys = settings, pipeline, keys
        self.seed_ids = {p.stem for p in SEEDS.glob("*.txt")}
        self.client = TestClient(create_app(pipeline, ui=False))
        self.added = itertools.count()

    def secrets_of(self, collection: str) -> set[str]:
        """What only `collection`'s articles contain."""
        if collection == "news":
            return self.seed_ids
        return {PRIVATE[collection], ARTICLES[collection]["id"]}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, embed_model) -> Iterator[World]:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("collections")
    settings = make_settings(
        root / "store",
        server={"api_key": SecretStr(SERVER_KEY), "key_failures_per_minute": 100_000},
    )
    ingest([SEEDS], settings, embed_model, progress=False)
    for name, article in ARTICLES.items():
        path = root / f"{name}.jsonl"
        path.write_text(json.dumps(article) + "\n")
        ingest([path], on_collection(settings, name), embed_model, progress=False)
    ring = KeyRing(Layout.of(settings).keys)
    keys = {(c, s): ring.create(c, s, f"{s} key of {c}")[1] for c in COLLECTIONS for s in SCOPES}
    pipeline = build(settings, embed_model=embed_model)
    world = World(settings, pipeline, keys)
    yield world
    world.client.app.state.served.close()  # type: ignore[attr-defined]


def request(world: World, method: str, path: str, target: str, key: str | None) -> httpx.Response:
    """`method path` about collection `target` with a body it takes (a new article for a write,
    a question for a read), with `key`."""
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    url = path.replace("{collection}", target).replace("{model_id}", target)
    url = url.replace("{article_id}", "no-such-article").replace("{key_id}", "key_nope")
    body: dict[str, Any] | None = None
    if path.endswith("/query"):
        body = {"question": QUESTION}
    elif path.endswith("/chat/completions"):
        body = {"model": target, "messages": [{"role": "user", "content": QUESTION}]}
    elif path.endswith("/articles") and method == "POST":
        n = next(world.added)
        word = PRIVATE.get(target, "harbour")
        body = {
            "articles": [
                {
                    "id": f"added-{target}-{n}",
                    "title": f"{word} note {n}",
                    "text": f"A short note number {n} about the {word} harbour.",
                }
            ]
        }
    elif path.endswith("/keys") and method == "POST":
        body = {"scope": "read", "label": "made in a test"}
    elif path.endswith("/feeds") and method == "POST":
        body = {"url": f"https://example.org/{target}/feed.xml", "read_now": False}
    elif path.endswith("/feeds") and method == "DELETE":
        url += "?url=https://example.org/never-followed"
    elif path.endswith("/feedback") and method == "POST":
        answer = {"question": QUESTION, "answer": "-", "backend": "extractive", "model": "-"}
        body = {"answer": answer, "verdict": "down", "expected": "three warnings"}
    return world.client.request(method, url, json=body, headers=headers)


def expected(need: str, target: str, key: tuple[str, str] | None) -> int | None:
    """The status a caller with `key` ((collection, scope); None: the server's key) gets, or
    None when the route is allowed (and answers for itself)."""
    if need == "open" or (key is None and target in COLLECTIONS):
        return None
    if key is None:
        return 404  # the server's key, a collection that does not exist
    if need == "any":
        return None
    if need == "server":
        return 403
    own, scope = key
    if own != target:
        return 404
    return 403 if SCOPES.index(scope) < SCOPES.index(need) else None


BY_MODEL = ("/v1/chat/completions", "/v1/models/{model_id}")


def asked(path: str, target: str, key: tuple[str, str] | None) -> str:
    """The collection a request about `target` asks: on the OpenAI routes the model names it
    when it is one the key may read, and the default collection answers any other name (an
    OpenAI client sends `gpt-4o`), so a hidden collection and a missing one look the same."""
    if path not in BY_MODEL:
        return target
    visible = target in COLLECTIONS and (key is None or key[0] == target)
    return target if visible else "news"


ALLOWED = {  # what an allowed call of each kind answers
    "DELETE /articles/{article_id}": (404, "no article"),
    "DELETE /keys/{key_id}": (404, "no key"),
    "POST /keys": (201, "nrk_"),
    "POST /feedback": (201, '"exported":true'),
    "POST /feeds": (201, "feed.xml"),
    "DELETE /feeds": (404, "follows no feed"),
}


def test_every_operation_of_the_spec_is_in_the_table(world: World) -> None:
    spec = world.client.get("/openapi.json", headers={"X-API-Key": SERVER_KEY}).json()
    operations = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert operations == set(NEEDS)


@pytest.mark.slow
def test_every_route_with_every_key_on_every_collection(world: World) -> None:
    callers: list[tuple[str, tuple[str, str] | None]] = [
        (secret, key) for key, secret in world.keys.items()
    ] + [(SERVER_KEY, None)]
    tried = 0
    for (method, path), need in NEEDS.items():
        about_one = "{collection}" in path or path in BY_MODEL
        targets = (*COLLECTIONS, "nowhere") if about_one else ("news",)
        for target, (secret, key) in itertools.product(targets, callers):
            got = request(world, method, path, target, secret)
            tried += 1
            what = f"{method} {path} on {target} with {key or 'the server key'}"
            status = expected(need, asked(path, target, key), key)
            if status is not None:
                assert got.status_code == status, f"{what}: {got.status_code} {got.text[:300]}"
                if status == 404:  # the same reply whether the collection exists or not
                    assert "no collection" in got.text or "no model" in got.text, what
            else:
                tail = next(
                    (
                        v
                        for k, v in ALLOWED.items()
                        if path.endswith(k.split(" ")[1]) and method == k.split(" ")[0]
                    ),
                    None,
                )
                want, text = tail or (None, "")
                if want is None:
                    assert 200 <= got.status_code < 300, (
                        f"{what}: {got.status_code} {got.text[:300]}"
                    )
                else:
                    assert got.status_code == want and text in got.text, f"{what}: {got.text[:300]}"
            if key is not None:  # nothing of another collection in any reply
                for other in COLLECTIONS:
                    if other != key[0]:
                        leaked = [s for s in world.secrets_of(other) if s in got.text]
                        assert not leaked, f"{what} shows {other}'s {leaked}"
    assert tried == 730  # 10 callers (3 x 3 keys and the server key) x 73 calls


def test_no_key_or_a_wrong_one_is_a_401_everywhere_but_health(world: World) -> None:
    for (method, path), need in NEEDS.items():
        for key in (None, "nrk_" + "x" * 43, "wrong"):
            got = request(world, method, path, "politics", key)
            assert got.status_code == (200 if need == "open" else 401), (method, path, key)


def test_a_read_key_lists_and_asks_only_its_own_collection(world: World) -> None:
    headers = {"X-API-Key": world.keys[("politics", "read")]}
    models = world.client.get("/v1/models", headers=headers).json()
    assert [m["id"] for m in models["data"]] == ["politics"]
    listed = world.client.get("/v1/collections", headers=headers).json()
    assert listed == {
        "default": None,
        "collections": [{"name": "politics", "default": False, "scope": "read"}],
    }
    chat = {"model": "politics", "messages": [{"role": "user", "content": QUESTION}]}
    got = world.client.post("/v1/chat/completions", json=chat, headers=headers)
    assert got.status_code == 200 and "corrosion" in got.text and "Bittersalt" not in got.text
    # the default collection's routes are another collection's to this key
    assert world.client.get("/v1/articles", headers=headers).status_code == 404
    answer = world.client.post(
        "/v1/collections/politics/query", json={"question": QUESTION}, headers=headers
    ).json()
    assert {c["article_id"] for c in answer["citations"]} == {ARTICLES["politics"]["id"]}


def test_a_write_key_adds_an_article_its_collection_then_answers_from(world: World) -> None:
    headers = {"X-API-Key": world.keys[("private", "write")]}
    article = {
        "id": "priv-ferry",
        "title": "Ferry tender",
        "text": "The Bittersalt ferry "
        "tender was won by Norrvik Lines, the port authority said on Monday.",
    }
    got = world.client.post(
        "/v1/collections/private/articles", json={"articles": [article]}, headers=headers
    )
    assert got.status_code == 200 and got.json()["results"][0]["status"] == "added"
    asked = {"question": "Who won the ferry tender?"}
    answer = world.client.post("/v1/collections/private/query", json=asked, headers=headers)
    assert "Norrvik" in answer.json()["answer"]
    for other in ("news", "politics"):  # not there, whoever asks
        server = {"X-API-Key": SERVER_KEY}
        elsewhere = world.client.post(f"/v1/collections/{other}/query", json=asked, headers=server)
        assert "Norrvik" not in elsewhere.text


def test_an_admin_key_manages_its_collections_keys_and_a_revoked_key_opens_nothing(
    world: World,
) -> None:
    admin = {"X-API-Key": world.keys[("politics", "admin")]}
    made = world.client.post(
        "/v1/collections/politics/keys", json={"scope": "write", "label": "a script"}, headers=admin
    )
    assert made.status_code == 201
    new = made.json()
    assert new["collection"] == "politics" and new["scope"] == "write"
    listed = world.client.get("/v1/collections/politics/keys", headers=admin).json()["keys"]
    assert new["id"] in {k["id"] for k in listed} and all("key" not in k for k in listed)
    assert {k["collection"] for k in listed} == {"politics"}
    assert new["key"] not in Layout.of(world.settings).keys.read_bytes().decode("latin-1")
    use = {"X-API-Key": new["key"]}
    assert world.client.get("/v1/collections/politics/articles", headers=use).status_code == 200
    # another collection's admin cannot touch it, and learns nothing of it
    other = {"X-API-Key": world.keys[("private", "admin")]}
    gone = world.client.delete(f"/v1/collections/politics/keys/{new['id']}", headers=other)
    assert gone.status_code == 404
    gone = world.client.delete(f"/v1/collections/politics/keys/{new['id']}", headers=admin)
    assert gone.status_code == 200
    assert world.client.get("/v1/collections/politics/articles", headers=use).status_code == 401


def test_a_collection_opens_on_first_use_and_closes_when_idle(world: World) -> None:
    served: Served = world.client.app.state.served  # type: ignore[attr-defined]
    server = {"X-API-Key": SERVER_KEY}
    world.client.get("/v1/collections/private/articles", headers=server)
    assert "private" in served.open_names()
    import time

    def gauge() -> str:
        text = world.client.get("/v1/metrics", headers=server).text
        return next(line for line in text.splitlines() if line.startswith("rag_open_collections "))

    assert gauge() == f"rag_open_collections {float(len(served.open_names()))}"
    closed = served.close_idle(now=time.monotonic() + served.idle_seconds + 1)
    assert "private" in closed and "private" not in served.open_names()
    assert gauge() == "rag_open_collections 0.0"
    again = world.client.get("/v1/collections/private/articles", headers=server)
    assert again.status_code == 200 and "private" in served.open_names()


def test_a_deleted_collection_is_answered_as_none_and_its_keys_are_gone(
    tmp_path: Path, embed_model
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path / "store", server={"api_key": SecretStr(SERVER_KEY)})
    ingest([SEEDS], settings, embed_model, progress=False)
    path = tmp_path / "desk.jsonl"
    path.write_text(json.dumps(ARTICLES["politics"]) + "\n")
    ingest([path], on_collection(settings, "desk"), embed_model, progress=False)
    ring = KeyRing(Layout.of(settings).keys)
    _, key = ring.create("desk", "read")
    pipeline = build(settings, embed_model=embed_model)
    client = TestClient(create_app(pipeline, ui=False))
    headers = {"X-API-Key": key}
    assert client.get("/v1/collections/desk/articles", headers=headers).status_code == 200
    delete_collection(settings, "desk")
    assert ring.list() == []
    # the last key revoked does not open the server: the key file says keys are used here
    assert client.get("/v1/collections/desk/articles", headers=headers).status_code == 401
    assert client.get("/v1/articles").status_code == 401
    served: Served = client.app.state.served  # type: ignore[attr-defined]
    import time

    from ui.served import NAMES_FRESH_SECONDS

    time.sleep(NAMES_FRESH_SECONDS)  # the server reads the list of collections again by then
    server = {"X-API-Key": SERVER_KEY}
    assert client.get("/v1/collections/desk/articles", headers=server).status_code == 404
    assert "desk" not in served.open_names()
    served.close()


def test_a_collections_own_backend_is_used_for_it_alone(tmp_path: Path, embed_model) -> None:  # type: ignore[no-untyped-def]
    """`rag collections set NAME --backend`: the collection's own answer backend, over the
    server's; the other collections keep the server's."""
    from index.collections import list_collections, own_settings, set_own_settings
    from rag.errors import ConfigError

    settings = make_settings(tmp_path / "store")
    ingest([SEEDS], settings, embed_model, progress=False)
    path = tmp_path / "desk.jsonl"
    path.write_text(json.dumps(ARTICLES["politics"]) + "\n")
    ingest([path], on_collection(settings, "desk"), embed_model, progress=False)
    assert set_own_settings(settings, "desk", backend="openai") == {"backend": "openai"}
    with pytest.raises(ConfigError, match="no answer backend"):
        set_own_settings(settings, "desk", backend="gpt")
    with pytest.raises(RagError, match="no collection 'nowhere'"):
        set_own_settings(settings, "nowhere", backend="extractive")
    assert own_settings(on_collection(settings, "desk")) == {"backend": "openai"}
    assert {c.name: c.own for c in list_collections(settings)} == {
        "desk": {"backend": "openai"},
        "news": {},
    }
    client = TestClient(create_app(build(settings, embed_model=embed_model), ui=False))
    asked = {"question": QUESTION}
    desk = client.post("/v1/collections/desk/query", json=asked)
    assert desk.status_code == 503 and "openai" in desk.text.lower()  # no OpenAI configured
    assert client.post("/v1/query", json=asked).status_code == 200  # the server's: extractive
    assert set_own_settings(settings, "desk", backend=None) == {}
    client.app.state.served.close()  # type: ignore[attr-defined]
