"""Every setting of the product, read once from the environment and `.env`.

One pydantic-settings class with nested sections: `RAG_LLM__BACKEND=openai` sets `llm.backend`.
A bad value fails at start-up with a message naming the variable (see `load()`). This module only
reads and validates; it builds nothing (that is `rag.pipeline`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.errors import ConfigError

# the names a setting, a command-line option and a request may use, each spelled once
RetrievalMode = Literal["hybrid", "dense", "bm25"]
RETRIEVAL_MODES: tuple[str, ...] = get_args(RetrievalMode)
AnswerBackend = Literal["auto", "extractive", "openai", "local"]
ANSWER_BACKENDS: tuple[str, ...] = get_args(AnswerBackend)


class StoreSettings(BaseModel):
    path: Path = Field(
        Path("store"), description="Folder of the embedded Chroma and ingestion state"
    )
    collection: str = Field("news", pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,61}[a-zA-Z0-9]$")
    host: str | None = Field(None, description="Chroma server host; unset = embedded Chroma")
    url: SecretStr | None = Field(
        None,
        description="a PostgreSQL server for the books every machine shares (the ledger, the "
        "writers' lock): postgresql://user:password@host:5432/db; unset = files in `path`",
    )
    port: int = Field(8000, ge=1, le=65535)
    keyword_ef_search: int = Field(
        0,
        ge=0,
        le=1000,
        description="the server store's keyword search: 0 = exact BM25, every chunk scored "
        "(time grows with the archive); 1-1000 = through an HNSW index (made by the first "
        "command that asks for it, kept up by every write after), weighing this many "
        "candidates: faster on a large archive, a little less exact",
    )
    min_free_mb: int = Field(
        100,
        ge=0,
        description="ingest refuses (nothing written) when the store's disk has less free space",
    )

    @field_validator("url", mode="before")
    @classmethod
    def _a_postgres_url(cls, value: object) -> object:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if text is None or (isinstance(text, str) and not text.strip()):
            return None
        if not isinstance(text, str) or not text.startswith(("postgresql://", "postgres://")):
            raise ValueError(
                "not a PostgreSQL URL: give one like "
                "postgresql://user:password@host:5432/news (or unset for the embedded store)"
            )
        return text


class EmbedSettings(BaseModel):
    backend: Literal["local", "openai"] = "local"
    model: str = Field("", description="'' = the backend's default model")
    base_url: str | None = None
    api_key: SecretStr | None = None
    batch_size: int = Field(32, ge=1, le=2048)
    threads: int = Field(0, ge=0, le=64, description="onnxruntime threads; 0 = all cores")
    models_dir: Path = Field(
        Path("models"),
        description="where the local static embedding model is kept (distilled once)",
    )


class ChunkSettings(BaseModel):
    # MiniLM sees at most 256 word pieces; 180 tiktoken tokens plus the title stay below it.
    size: int = Field(180, ge=32, le=8192)
    overlap: int = Field(30, ge=0, le=1024)

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunkSettings:
        if self.overlap >= self.size:
            raise ValueError("chunk overlap must be smaller than chunk size")
        return self


class IngestSettings(BaseModel):
    """What one file or article may make ingestion read (`rag ingest` and uploads alike), and
    what `rag ingest` starts after it."""

    max_article_chars: int = Field(1_000_000, ge=1000, description="the longest article")
    max_line_chars: int = Field(5_000_000, ge=1000, description="the longest line of a .jsonl")
    max_records: int = Field(1_000_000, ge=1, description="articles in one file")
    max_expanded_bytes: int = Field(
        4_000_000_000, ge=1000, description="what one file may expand to when decompressed"
    )
    tag_entities: Literal["ingest", "asked", "off"] = Field(
        "ingest",
        description="when the named entities of new sentences (which short answers read) are "
        "tagged into the entity table: `ingest`, as part of `rag ingest`, while it writes, so "
        "that the store it leaves answers at full speed (after an upload or a fetch, by a "
        "separate process: `rag entities`); `asked`, when a question first needs them (the "
        "ingest ends sooner, the first answers over a passage wait for its tagging); both keep "
        "what a question tagged. `off`: nothing kept, answers tag while asked (true and false "
        "are read as ingest and off)",
    )

    @field_validator("tag_entities", mode="before")
    @classmethod
    def _tagging_said_as_yes_or_no(cls, value: Any) -> Any:
        """The switch this setting was: true is `ingest`, false `off`."""
        if isinstance(value, bool):
            return "ingest" if value else "off"
        if isinstance(value, str) and value.strip().lower() in {"true", "1", "yes", "on"}:
            return "ingest"
        if isinstance(value, str) and value.strip().lower() in {"false", "0", "no"}:
            return "off"
        return value

    tag_processes: int = Field(
        2,
        ge=1,
        le=64,
        description="processes tagging named entities during `rag ingest` (each about 300 MB; "
        "the machine's cores: the writing takes about a third of one)",
    )


class FetchSettings(BaseModel):
    """How pages and feeds are fetched (`rag ingest URL`, `--urls`, feeds, `{"urls": [...]}`)."""

    timeout: float = Field(20.0, gt=0, description="seconds for one page: connect and read")
    max_bytes: int = Field(10_000_000, ge=1000, description="the largest page or feed read")
    concurrency: int = Field(4, ge=1, le=32, description="pages fetched at once")
    max_redirects: int = Field(5, ge=0, le=20, description="redirects followed for one URL")
    retry_after: float = Field(
        3600, ge=0, description="seconds before a URL that failed is fetched again (--refresh: now)"
    )
    private_urls: bool = Field(
        False,
        description="let API clients ({'urls': [...]}) fetch loopback, private and link-local "
        "addresses (`rag ingest` always may)",
    )
    user_agent: str = Field(
        "news-rag/0.1 (a question-answering index of news articles; +https://example.org/news-rag)",
        description="the User-Agent sent with every request",
    )


class RetrievalSettings(BaseModel):
    mode: RetrievalMode = "hybrid"
    top_k: int = Field(5, ge=1, le=100, description="passages `rag search` shows")
    answer_passages: int = Field(
        20,
        ge=1,
        le=50,
        description="passages an answer is made from (ask, the API, the UI, evals): the "
        "extractive answer quotes the best 6 and mines the short answer from all of them (20: "
        "more passages to mine find more answers and decline fewer questions)",
    )
    periods: bool = Field(
        False,
        description="a period the question names ('this week') puts its articles first "
        "(off by default: leaving the other articles out lowered retrieval)",
    )
    period_boost: bool = Field(
        True,
        description="a period the question names ('this week') ranks its articles higher: both "
        "searches run again within it and count as two more rankings in the fusion (on by "
        "default: it improved answers on both RealTimeQA evaluation years)",
    )
    rerank: bool = Field(
        False,
        description="the fused candidates are ordered again by their rank and their best "
        "sentence's closeness to the question (as the extractive answer scores sentences) before "
        "the answer's passages are taken. Off by default: it finds more answer-bearing passages "
        "but answered one RealTimeQA evaluation year worse",
    )
    fusion: Literal["rrf", "relative"] = Field(
        "rrf",
        description="how hybrid retrieval fuses the dense and BM25 rankings: 'rrf' (reciprocal "
        "rank) or 'relative' (each side's scores scaled to 0-1 and weighted by dense_weight). "
        "rrf by default: relative scored about the same on RealTimeQA but lost the quote "
        "'What did Hegseth say about 5%?' asks for on the seeds",
    )
    dense_weight: float = Field(
        0.35,
        ge=0,
        le=1,
        description="relative fusion only: the dense side's weight, BM25 has the rest",
    )
    rrf_dense_weight: float | None = Field(
        None,
        ge=0,
        le=4,
        description="reciprocal rank fusion only: what a dense rank's vote counts, BM25's "
        "counting 1; unset: 0.8 with the static embedding (its dense ranking is the weaker, so "
        "BM25 is trusted a little more), 1 with MiniLM or OpenAI embeddings (0.8 hurt MiniLM)",
    )
    search_named_weight: float = Field(
        1.0,
        ge=0,
        le=4,
        description="`rag search` (hybrid mode): the fused passages that speak of the names in "
        "the question ('Hegseth') count as one more ranking, each of its votes weighing this "
        "much (0: off). Answers keep the fused order: on RealTimeQA it raised mrr@10 on both "
        "years but the answers on one only",
    )
    candidates: int = Field(
        30,
        ge=1,
        le=1000,
        description="passages each retriever proposes (at least as many as are asked for); 60 "
        "found more on one RealTimeQA evaluation year but answered the other worse",
    )
    rebuild_inline_max: int = Field(
        20_000,
        ge=0,
        description="after an ingest, a store of up to this many chunks rebuilds its BM25 index "
        "before answering; a bigger one answers at once from the saved index (new chunks found by "
        "the dense search until then) while a separate process rebuilds it",
    )


class LLMSettings(BaseModel):
    backend: AnswerBackend = "auto"
    model: str = Field("", description="'' = the backend's default model")
    base_url: str | None = None
    api_key: SecretStr | None = None
    timeout: float = Field(60.0, gt=0, le=3600)
    max_retries: int = Field(2, ge=0, le=10)
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(400, ge=1, le=32768)
    evidence_tokens: int = Field(
        160,
        ge=1,
        le=32768,
        description="how much of the articles a model reads: their best sentences up to about "
        "this many tokens (the best one always); prompt reading is most of a local model's time",
    )
    local_model_path: Path | None = None
    models_dir: Path = Field(
        Path("models"), description="where `auto` and `local` look for *.gguf when no path is set"
    )
    local_threads: int = Field(2, ge=1, le=64)
    local_context: int = Field(4096, ge=512, le=131072)


class ServerSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(7860, ge=1, le=65535)
    api_key: SecretStr | None = None
    cors_origins: list[str] = Field(default_factory=list)
    max_question_chars: int = Field(2000, ge=10, le=100_000)
    max_upload_bytes: int = Field(20_000_000, ge=1000, description="a POST /v1/articles body")
    max_upload_expanded_bytes: int = Field(
        200_000_000, ge=1000, description="what an uploaded file may expand to (a .gz)"
    )
    max_upload_records: int = Field(20_000, ge=1, description="articles in one uploaded file")
    max_upload_seconds: float = Field(
        300,
        gt=0,
        description="reading and indexing one upload; past it, what is not yet added is not (422)",
    )
    max_request_bytes: int = Field(
        1_000_000, ge=1000, description="any other /v1 request body (a question, a chat)"
    )
    max_history_chars: int = Field(
        20_000, ge=0, description="earlier turns sent with a question, all together"
    )
    open_docs: bool = Field(
        False, description="with an API key set, serve /docs, /redoc and /openapi.json without it"
    )
    key_failures_per_minute: int = Field(
        30, ge=1, description="wrong API keys one address may send per minute before a 429"
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses of reverse proxies whose X-Forwarded-For names the client (none "
        "by default: a client cannot choose the address its wrong keys are counted under)",
    )
    answers_at_once: int = Field(
        0,
        ge=0,
        le=256,
        description="questions searched and answered extractively at the same time in one "
        "process, the others waiting their turn (0: the machine's cores)",
    )
    answer_processes: int | None = Field(
        None,
        ge=0,
        le=64,
        description="processes that make extractive answers from the passages the server finds "
        "(unset: one per core beyond the first; 0: the server answers itself, on one core)",
    )
    collection_idle_seconds: float = Field(
        600.0,
        ge=30,
        description="a collection other than the default one, unused this long, is closed by "
        "`rag serve` (its indexes let go) and opened again when next asked",
    )
    max_open_collections: int = Field(
        10,
        ge=1,
        description="collections other than the default one `rag serve` keeps open at once; "
        "past it the least recently used idle one is closed",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RAG_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    store: StoreSettings = Field(default_factory=StoreSettings)
    embed: EmbedSettings = Field(default_factory=EmbedSettings)
    chunk: ChunkSettings = Field(default_factory=ChunkSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    fetch: FetchSettings = Field(default_factory=FetchSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)


def _env_name(loc: tuple[int | str, ...]) -> str:
    return "RAG_" + "__".join(str(p).upper() for p in loc if not isinstance(p, int))


def load(env_file: str | Path | None = ".env", **overrides: object) -> Settings:
    """Read the settings; a bad value raises ConfigError naming the variable to fix."""
    try:
        settings = Settings(_env_file=env_file, **overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = [f"{_env_name(e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("invalid settings:\n  " + "\n  ".join(lines)) from None
    # the conventional variable works too, for both OpenAI clients
    key = os.environ.get("OPENAI_API_KEY")
    if key:
        if settings.llm.api_key is None:
            settings.llm.api_key = SecretStr(key)
        if settings.embed.api_key is None:
            settings.embed.api_key = SecretStr(key)
    return settings


def on_collection(settings: Settings, name: str | None) -> Settings:
    """The same settings on collection `name` (`--collection`; None: as configured), the name
    checked as RAG_STORE__COLLECTION's is."""
    if name is None or name == settings.store.collection:
        return settings
    try:
        store = StoreSettings.model_validate(settings.store.model_dump() | {"collection": name})
    except ValidationError:
        raise ConfigError(
            f"{name!r} is no collection name: 3-63 letters, digits, '.', '_' or '-', starting "
            "and ending with a letter or digit"
        ) from None
    return settings.model_copy(update={"store": store})
