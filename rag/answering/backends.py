"""The answer backends behind one interface, and the registry every face of the product reads.

An `Answerer` has a `name`, a `model` and a `stream(question, passages)` that yields `Delta`s as
the answer is written and ends with the checked `Answer`. The registry (`REGISTRY`) maps each
backend's name to a one-line description and a factory. The names are spelled once, in
`rag.settings.AnswerBackend`, which the settings' validation, the CLI's choices, the API's schema
and the UI's radio buttons read: a new backend is a name there and an entry here (a name
without an entry, or an entry without a name, fails at import). `auto` picks openai when a key or base URL is set, else extractive
(the local model answers worse than extraction on the seeds gold set, so it is used only when
asked for: RAG_LLM__BACKEND=local).

`Answerers` holds the backends one pipeline has started (lazily: the local model only starts when
first asked for) and stops them on `close()`. This module does not retrieve.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rag.answering.answer import Answer, Delta
from rag.answering.extractive import ExtractiveAnswerer
from rag.errors import BackendUnavailableError, BadQuestionError, ConfigError
from rag.schema import Passage
from rag.settings import ANSWER_BACKENDS, Settings


class Answerer(Protocol):
    """What the service needs of a backend."""

    name: str
    model: str
    # a model reads a follow-up with the earlier question beside it ("… (following up on: …)");
    # extraction answers the question as asked, so earlier words do not pick its sentences
    reads_followup_context: bool

    def stream(self, question: str, passages: Sequence[Passage]) -> Iterator[Delta | Answer]:
        """`Delta`s as the answer is written, then the final `Answer`."""
        ...

    def close(self) -> None:
        """Stop whatever the backend started (a model server); idempotent."""
        ...


Factory = Callable[[Settings, ExtractiveAnswerer], Answerer]


@dataclass(frozen=True)
class Backend:
    help: str
    make: Factory


def _extractive(_: Settings, extractive: ExtractiveAnswerer) -> Answerer:
    return extractive


def _openai(settings: Settings, extractive: ExtractiveAnswerer) -> Answerer:
    from rag.answering.generated import OpenAIAnswerer

    if not (settings.llm.api_key or settings.llm.base_url):
        raise ConfigError(
            "the openai backend needs RAG_LLM__API_KEY (or OPENAI_API_KEY), or RAG_LLM__BASE_URL "
            "for an OpenAI-compatible server such as Ollama or llama.cpp"
        )
    return OpenAIAnswerer(settings.llm, extractive)


def _local(settings: Settings, extractive: ExtractiveAnswerer) -> Answerer:
    from rag.answering.generated import OpenAIAnswerer
    from rag.answering.llamacpp import LlamaServer, find_model

    cfg = settings.llm
    explicit = cfg.local_model_path
    if explicit and not Path(explicit).is_file():
        raise BackendUnavailableError(
            f"RAG_LLM__LOCAL_MODEL_PATH={explicit} is not a file: fix the path, or unset it "
            f"to use {cfg.models_dir}/*.gguf (`make model-local` installs one)"
        )
    path = find_model(explicit, cfg.models_dir)
    if path is None:
        raise BackendUnavailableError(
            "no local model: run `make model-local` or set RAG_LLM__LOCAL_MODEL_PATH to a .gguf file"
        )
    server = LlamaServer(path, threads=cfg.local_threads, context=cfg.local_context)
    url = server.start()
    model_cfg = cfg.model_copy(update={"model": cfg.model or path.stem})
    return OpenAIAnswerer(model_cfg, extractive, base_url=url, name="local", server=server)


REGISTRY: dict[str, Backend] = {
    "extractive": Backend("no model: quotes and cites the passages' best sentences", _extractive),
    "openai": Backend("OpenAI, or any OpenAI-compatible server (RAG_LLM__BASE_URL)", _openai),
    "local": Backend("a GGUF model run by llama.cpp on this machine", _local),
}
AUTO = "auto"
BACKENDS = ANSWER_BACKENDS
if set(BACKENDS) != {AUTO, *REGISTRY}:
    raise ImportError(f"rag.settings.AnswerBackend {BACKENDS} and REGISTRY {[*REGISTRY]} differ")


def resolve_backend(settings: Settings, requested: str | None = None) -> str:
    """The backend a request gets: the one asked for, or what `auto` picks from the settings."""
    name = requested or settings.llm.backend
    if name not in BACKENDS:
        raise BadQuestionError(
            f"unknown answer backend {name!r}; choose one of {', '.join(BACKENDS)}"
        )
    if name != AUTO:
        return name
    cfg = settings.llm
    if cfg.api_key or cfg.base_url:
        return "openai"
    # The local model is chosen only when asked for: on the seeds gold set it answers worse than
    # extraction (README, "Evals"), so `auto` does not pick it just because a GGUF is present.
    return "extractive"


class Answerers:
    """The backends of one pipeline, each started on first use and kept; thread-safe."""

    def __init__(self, settings: Settings, extractive: ExtractiveAnswerer) -> None:
        self.settings = settings
        self.extractive = extractive
        self._live: dict[str, Answerer] = {"extractive": extractive}
        self._lock = threading.Lock()

    def get(self, backend: str | None = None) -> Answerer:
        """The answerer for `backend` (None: the configured one); starts it if need be."""
        name = resolve_backend(self.settings, backend)
        with self._lock:
            if name not in self._live:
                self._live[name] = REGISTRY[name].make(self.settings, self.extractive)
            return self._live[name]

    def close(self) -> None:
        with self._lock:
            live = list(self._live.values())
        for answerer in live:
            answerer.close()
