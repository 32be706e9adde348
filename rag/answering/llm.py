"""The one way to build an OpenAI-compatible chat client, for answering and for the eval judges.

`make_llm(cfg)` returns llama-index's `OpenAI` for the OpenAI API (a key, no base URL) and
`OpenAILike` for any other OpenAI-compatible server (Ollama, vLLM, LM Studio, llama.cpp: its
model names are not OpenAI's, which `OpenAI` would reject). Timeouts, retries with backoff on
429/5xx, temperature and the token limit come from `LLMSettings`. It does not send anything.
"""

from __future__ import annotations

from typing import Any

from rag.settings import LLMSettings

OPENAI_DEFAULT_MODEL = "gpt-4o-mini"
SERVER_DEFAULT_MODEL = "local-model"  # llama.cpp and most servers answer whatever name is sent


def model_name(cfg: LLMSettings, base_url: str | None) -> str:
    return cfg.model or (SERVER_DEFAULT_MODEL if base_url else OPENAI_DEFAULT_MODEL)


def make_llm(
    cfg: LLMSettings,
    *,
    base_url: str | None = None,
    model: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
) -> Any:
    """A chat LLM for `cfg` (or the server at `base_url`, which overrides `cfg.base_url`)."""
    base_url = base_url or cfg.base_url
    common: dict[str, Any] = {
        "model": model or model_name(cfg, base_url),
        "api_key": cfg.api_key.get_secret_value() if cfg.api_key else "not-needed",
        "temperature": cfg.temperature if temperature is None else temperature,
        "max_tokens": max_tokens or cfg.max_tokens,
        "timeout": cfg.timeout,
        "max_retries": cfg.max_retries,
    }
    if base_url:
        from llama_index.llms.openai_like import OpenAILike

        return OpenAILike(
            api_base=base_url, is_chat_model=True, context_window=cfg.local_context, **common
        )
    from llama_index.llms.openai import OpenAI

    return OpenAI(**common)
