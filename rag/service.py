"""Ask a question end to end: validate it, make a follow-up standalone, retrieve, answer.

`QAService` is what the CLI, the HTTP API, the UI and the eval harness call. It owns the answer
backends (a small registry: extractive, openai, local; `auto` picks openai when a key or base URL
is set, else local when a GGUF is configured or in models/, else extractive) and times each stage.
It does not parse HTTP or print anything.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rag.answer import Answer
from rag.errors import BackendUnavailableError, BadQuestionError, ConfigError
from rag.extractive import ExtractiveAnswerer
from rag.generate import Delta, OpenAIAnswerer
from rag.retrieval import Filters, HybridRetriever
from rag.settings import Settings

BACKENDS = ("auto", "extractive", "openai", "local")
_PRONOUN = re.compile(r"\b(he|she|him|her|his|hers|they|them|their)\b", re.I)
_FOLLOW = re.compile(r"^\s*(and|what about|how about|also|and what about)\b", re.I)
# Words that point back at something said before without naming it.
_REFERS_BACK = re.compile(r"\b(it|its|this|that|these|those|then|there|the same)\b", re.I)


def resolve_backend(settings: Settings, requested: str | None = None) -> str:
    name = requested or settings.llm.backend
    if name not in BACKENDS:
        raise BadQuestionError(
            f"unknown answer backend {name!r}; choose one of {', '.join(BACKENDS)}"
        )
    if name != "auto":
        return name
    if settings.llm.api_key or settings.llm.base_url:
        return "openai"
    if settings.llm.local_model_path and Path(settings.llm.local_model_path).is_file():
        return "local"
    if sorted(Path("models").glob("*.gguf")):
        return "local"
    return "extractive"


class QAService:
    def __init__(self, settings: Settings, retriever: HybridRetriever, embed_model: Any) -> None:
        self.settings = settings
        self.retriever = retriever
        self.extractive = ExtractiveAnswerer(embed_model)
        self._answerers: dict[str, Any] = {"extractive": self.extractive}
        self._local_server: Any = None
        self._lock = threading.Lock()

    # --- backends ---------------------------------------------------------------------------
    def answerer(self, backend: str | None = None) -> Any:
        name = resolve_backend(self.settings, backend)
        with self._lock:
            if name not in self._answerers:
                self._answerers[name] = self._make(name)
            return self._answerers[name]

    def _make(self, name: str) -> Any:
        if name == "openai":
            if not (self.settings.llm.api_key or self.settings.llm.base_url):
                raise ConfigError(
                    "the openai backend needs RAG_LLM__API_KEY (or OPENAI_API_KEY), or RAG_LLM__BASE_URL "
                    "for an OpenAI-compatible server such as Ollama or llama.cpp"
                )
            return OpenAIAnswerer(self.settings.llm, self.extractive)
        if name == "local":
            from rag.llamacpp import LlamaServer, find_model

            explicit = self.settings.llm.local_model_path
            if explicit and not Path(explicit).is_file():
                raise BackendUnavailableError(
                    f"RAG_LLM__LOCAL_MODEL_PATH={explicit} is not a file: fix the path, or unset it "
                    "to use models/*.gguf (`make model-local` installs one)"
                )
            path = find_model(explicit)
            if path is None:
                raise BackendUnavailableError(
                    "no local model: run `make model-local` or set RAG_LLM__LOCAL_MODEL_PATH to a .gguf file"
                )
            self._local_server = LlamaServer(
                path,
                threads=self.settings.llm.local_threads,
                context=self.settings.llm.local_context,
            )
            url = self._local_server.start()
            cfg = self.settings.llm.model_copy(
                update={"model": self.settings.llm.model or path.stem}
            )
            return OpenAIAnswerer(cfg, self.extractive, base_url=url, name="local")
        raise BadQuestionError(f"unknown answer backend {name!r}")

    def close(self) -> None:
        if self._local_server is not None:
            self._local_server.stop()

    # --- questions --------------------------------------------------------------------------
    def validate(self, question: str) -> str:
        if not isinstance(question, str) or not question.strip():
            raise BadQuestionError("the question is empty: ask something about the articles")
        question = " ".join(question.split())
        limit = self.settings.server.max_question_chars
        if len(question) > limit:
            raise BadQuestionError(
                f"the question is {len(question)} characters long; the limit is {limit} (RAG_SERVER__MAX_QUESTION_CHARS)"
            )
        return question

    def standalone(self, question: str, history: Sequence[dict[str, str]] | None) -> str:
        """The query a follow-up question is retrieved with (see `rewrite`)."""
        return self.rewrite(question, history)[1]

    def rewrite(self, question: str, history: Sequence[dict[str, str]] | None) -> tuple[str, str]:
        """A follow-up made standalone, as (question to answer, query to retrieve with).

        Heuristic, so it needs no model: pronouns take the last person named; an elliptical
        "And … ?" carries the previous question into both; a question that still points back
        ("it", "that attack") or names nothing of its own ("By when must the core part be met?")
        searches with the previous question beside it; extraction answers it as asked, so the
        earlier question's words do not pick the answer's sentences."""
        if not history:
            return question, question
        from rag.text import names

        users = [h.get("content", "") for h in history if h.get("role") == "user"]
        earlier = " ".join(users[-2:])
        people = names(earlier)
        out = question
        if people and _PRONOUN.search(out):
            person = people[0]
            out = _PRONOUN.sub(
                lambda m: (
                    person + ("'s" if m.group(1).lower() in ("his", "her", "their", "hers") else "")
                ),
                out,
                count=1,
            )
        if not users:
            return out, out
        context = f"{out} (following up on: {users[-1]})"
        if _FOLLOW.match(question):
            return context, context
        if _REFERS_BACK.search(out) or not names(out):
            return out, context
        return out, out

    def ask(
        self,
        question: str,
        *,
        top_k: int | None = None,
        filters: Filters | None = None,
        backend: str | None = None,
        history: Sequence[dict[str, str]] | None = None,
    ) -> Answer:
        final = None
        for event in self.stream(
            question, top_k=top_k, filters=filters, backend=backend, history=history
        ):
            if isinstance(event, Answer):
                final = event
        assert final is not None
        return final

    def stream(
        self,
        question: str,
        *,
        top_k: int | None = None,
        filters: Filters | None = None,
        backend: str | None = None,
        history: Sequence[dict[str, str]] | None = None,
    ) -> Iterator[Delta | Answer]:
        t0 = time.perf_counter()
        question = self.validate(question)
        answerer = self.answerer(backend)
        asked, query = self.rewrite(question, history)
        t1 = time.perf_counter()
        passages = self.retriever.retrieve(
            query, top_k=top_k or max(self.settings.retrieval.top_k, 6), filters=filters
        )
        t2 = time.perf_counter()
        if not isinstance(answerer, ExtractiveAnswerer):
            asked = query  # a model reads "(following up on: …)" as the context it is
        if hasattr(answerer, "stream"):
            events: Iterator[Delta | Answer] = answerer.stream(asked, passages)
        else:
            events = _words(answerer.answer(asked, passages))
        for event in events:
            if isinstance(event, Answer):
                event.question = question
                if asked != question:
                    event.standalone_question = asked
                event.timings = {
                    "retrieve": t2 - t1,
                    **event.timings,
                    "total": time.perf_counter() - t0,
                }
            yield event


def _words(answer: Answer) -> Iterator[Delta | Answer]:
    """Stream an answer that was made at once, a word at a time (the UI renders the same way)."""
    for piece in re.findall(r"\S+\s*", answer.answer):
        yield Delta(piece)
    yield answer
