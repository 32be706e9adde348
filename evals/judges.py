"""LLM-judged scores, reported apart from the deterministic ones: faithfulness and correctness.

llama-index's `FaithfulnessEvaluator` (is the answer supported by the passages it was given?) and
`CorrectnessEvaluator` (1–5 against the reference answer; passing at 4) with an explicit `llm=`
built by `rag.llm.make_llm`, the same client the answers use: pointed at `settings.llm.base_url`
(or the OpenAI API when only a key is set), or at the local llama.cpp server the `local` backend
starts. They run when the answer
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
from rag.answering.llm import make_llm, model_name
from rag.errors import RagError
from rag.pipeline import Pipeline

log = logging.getLogger(__name__)

JUDGE_MAX_TOKENS = 256  # a score and a short reason; RAG_LLM__MAX_TOKENS lowers it
NO_LLM = (
    "LLM judges skipped: no LLM is configured (set RAG_LLM__BASE_URL to an OpenAI-compatible "
    "server, or RAG_LLM__API_KEY, or put a GGUF model in models/ for the local backend)"
)


def judge_llm(pipeline: Pipeline, backend: str) -> tuple[Any | None, str]:
    """An LLM for the judges and a line saying which one, or (None, why not)."""
    cfg = pipeline.settings.llm
    tokens = min(JUDGE_MAX_TOKENS, cfg.max_tokens)
    if cfg.base_url or cfg.api_key:
        model = model_name(cfg, cfg.base_url)
        where = cfg.base_url or "the OpenAI API"
        return make_llm(cfg, max_tokens=tokens, temperature=0.0), f"judged by {model} at {where}"
    from rag.answering.llamacpp import find_model

    if backend == "local" or find_model(cfg.local_model_path, cfg.models_dir) is not None:
        try:
            answerer = pipeline.qa.answerer("local")
        except RagError as exc:
            return None, f"LLM judges skipped: the local model could not start ({exc})"
        base_url = getattr(answerer, "base_url", None)
        note = f"judged by the local model {answerer.model} at {base_url}"
        if backend == "local":
            note += " (the same model that answered: a lenient judge)"
        llm = make_llm(
            cfg, base_url=base_url, model=answerer.model, max_tokens=tokens, temperature=0.0
        )
        return llm, note
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
