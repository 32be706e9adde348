"""LLM-judged scores, reported apart from the deterministic ones: faithfulness and correctness.

llama-index's `FaithfulnessEvaluator` (is the answer supported by the passages it was given?) and
`CorrectnessEvaluator` (1–5 against the reference answer; passing at 4) with an explicit `llm=`:
an `OpenAILike` client pointed at `settings.llm.base_url` (or the OpenAI API when only a key is
set), or at the local llama.cpp server the `local` backend starts. They run when the answer
backend is an LLM or `--judge` is given; with no LLM to be had they are skipped with a note.

These scores depend on the judging model and are not deterministic: they never feed the CI gate
and are not in `evals.metrics`. Declined answers are not judged (nothing to judge).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from evals import metrics
from evals.dataset import GoldRecord
from rag.errors import RagError
from rag.pipeline import Pipeline

log = logging.getLogger(__name__)

JUDGE_MAX_TOKENS = 256  # a score and a short reason; RAG_LLM__MAX_TOKENS lowers it
NO_LLM = (
    "LLM judges skipped: no LLM is configured (set RAG_LLM__BASE_URL to an OpenAI-compatible "
    "server, or RAG_LLM__API_KEY, or put a GGUF model in models/ for the local backend)"
)


def _openai_like(base_url: str | None, model: str, api_key: str, settings: Any) -> Any:
    from llama_index.llms.openai_like import OpenAILike

    kwargs: dict[str, Any] = {}
    if base_url:
        kwargs["api_base"] = base_url
    return OpenAILike(
        model=model,
        api_key=api_key,
        is_chat_model=True,
        temperature=0.0,
        max_tokens=min(JUDGE_MAX_TOKENS, settings.max_tokens),
        timeout=settings.timeout,
        max_retries=settings.max_retries,
        context_window=settings.local_context,
        **kwargs,
    )


def judge_llm(pipeline: Pipeline, backend: str) -> tuple[Any | None, str]:
    """An LLM for the judges and a line saying which one, or (None, why not)."""
    cfg = pipeline.settings.llm
    key = cfg.api_key.get_secret_value() if cfg.api_key else "not-needed"
    if cfg.base_url or cfg.api_key:
        model = cfg.model or ("local-model" if cfg.base_url else "gpt-4o-mini")
        where = cfg.base_url or "the OpenAI API"
        return _openai_like(cfg.base_url, model, key, cfg), f"judged by {model} at {where}"
    from rag.llamacpp import find_model

    if backend == "local" or find_model(cfg.local_model_path) is not None:
        try:
            answerer = pipeline.qa.answerer("local")
        except RagError as exc:
            return None, f"LLM judges skipped: the local model could not start ({exc})"
        note = f"judged by the local model {answerer.model} at {answerer.base_url}"
        if backend == "local":
            note += " (the same model that answered: a lenient judge)"
        return _openai_like(answerer.base_url, answerer.model, "not-needed", cfg), note
    return None, NO_LLM


def run_judges(
    llm: Any,
    records: Sequence[GoldRecord],
    results: Sequence[Any],
    contexts: Mapping[str, Sequence[Any]],
    *,
    top_k: int,
) -> dict[str, Any]:
    """Judge each non-declined answer; fills `result.judge` and returns the summary.

    Faithfulness is judged against the passages the answer was made from (the first `top_k`
    retrieved for the standalone question); correctness against the reference answer."""
    from llama_index.core.evaluation import CorrectnessEvaluator, FaithfulnessEvaluator

    faith = FaithfulnessEvaluator(llm=llm)
    correct = CorrectnessEvaluator(llm=llm)
    by_id = {r.id: r for r in records}
    errors = 0
    for res in results:
        rec = by_id.get(res.id)
        if rec is None or res.error or res.declined or not res.response:
            continue
        passages = [p.text for p in contexts.get(res.id, [])[:top_k]]
        try:
            f = faith.evaluate(query=rec.user_input, response=res.response, contexts=passages)
            res.judge["faithfulness"] = 1.0 if f.passing else 0.0
            res.judge["faithfulness_feedback"] = (f.feedback or "")[:500]
        except Exception as exc:  # a judge that times out or answers nonsense costs one score
            errors += 1
            res.judge["faithfulness_error"] = str(exc)[:200]
        if rec.answerable and rec.reference:
            try:
                c = correct.evaluate(
                    query=rec.user_input, response=res.response, reference=rec.reference
                )
                res.judge["correctness"] = c.score
                res.judge["correctness_feedback"] = (c.feedback or "")[:500]
                if c.score is None:
                    errors += 1
                    res.judge["correctness_error"] = "the judge's reply had no score"
            except Exception as exc:
                errors += 1
                res.judge["correctness_error"] = str(exc)[:200]
    faith_scores = [r.judge.get("faithfulness") for r in results]
    corr_scores = [r.judge.get("correctness") for r in results]
    return {
        "faithfulness": metrics.mean(faith_scores),
        "correctness": metrics.mean(corr_scores),
        "correctness_pass_rate": metrics.mean(
            None if s is None else float(s >= 4.0) for s in corr_scores
        ),
        "judged": sum(1 for s in faith_scores if s is not None),
        "errors": errors,
    }
