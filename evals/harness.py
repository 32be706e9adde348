"""Run a question set through the real pipeline and score every answer.

For each question the harness (1) runs the service's retrieval step (`QAService.retrieve`: the
follow-up made standalone from its conversation history, then retrieval) once, 10 passages deep
(retrieval metrics at k = 5 and 10, by article id), (2) answers from the first `top_k` of those
passages with `QAService.stream_from`, the same step `rag ask` takes (the answer, citations,
declining and timings are exactly what a user would get, and the passages scored are the ones
the answer was made from), (3) reads the cited chunks back from the store to check
the quotes, and (4) scores it with `evals.metrics`. The result is an `EvalRun`: one
`QuestionResult` per question plus aggregates overall and per tag, and the settings and models
used.

RealTimeQA has its own collection (`realtimeqa`, in a store folder of its own if asked), built
with `index.ingest` when empty (a `--limit` picks the articles of the first answerable questions);
only the answerable questions with at least one supporting article in the collection count, and
they get answer-recall@5/@10 (the answer text is in the top-k passages) and `choice_correct` (the
answer names the right choice and no other).

Not here: metric definitions (`evals.metrics`), LLM judges (`evals.judges`), printing and files
(`evals.report`), floors (`evals.gate`). Nothing here tunes the pipeline.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals import metrics
from evals.dataset import GoldRecord, RealTimeQA, iter_corpus
from rag.answering.answer import final_answer
from rag.answering.backends import resolve_backend
from rag.errors import RagError
from rag.pipeline import Pipeline
from rag.schema import ChunkMeta
from rag.settings import Settings, on_collection
from rag.spans.asks import expected_type
from rag.spans.ranker import RANKED
from rag.store.record import record_text
from rag.store.records import chunk_records
from rag.text.dates import parse_date

log = logging.getLogger(__name__)

KS = (5, 10)
# questions with a date are asked as of it; RAG_EVAL_UNDATED=1 asks them as of today (to measure
# what the as-of date does)
DATED = os.environ.get("RAG_EVAL_UNDATED") != "1"  # retrieval metrics are reported at these depths
ROOT = Path(__file__).resolve().parent.parent
REALTIMEQA_COLLECTION = "realtimeqa"

# per-question metrics: higher is better for all of them (latency is aggregated separately)
GOLD_METRICS = (
    *(f"hit_rate@{k}" for k in KS),
    f"mrr@{KS[-1]}",
    "key_fact_recall",
    "reference_overlap",
    "citation_validity",
    "citation_support",
    "citation_grounded",
    "decline_accuracy",
)
# short_answer_correct: the short answer alone (what a reader sees first) names the right choice
# and no other; choice_correct reads the whole answer, quotes included; candidate_recall: one of
# the spans the miner found names it (@3: one of the first three): how far a better choice among
# today's candidates could go
REALTIMEQA_METRICS = (
    *(f"answer_recall@{k}" for k in KS),
    "choice_correct",
    "short_answer_correct",
    "candidate_recall",
    "candidate_recall@3",
)
STAGES = ("retrieve", "generate", "total")
CANDIDATES_KEPT = RANKED  # candidates whose features a report keeps, for fitting a ranker

Progress = Callable[[int, int, "QuestionResult"], None]


@dataclass
class QuestionResult:
    id: str
    user_input: str
    tags: list[str]
    answerable: bool
    reference: str
    response: str = ""
    short_answer: str | None = None
    confidence: float | None = None
    confident: bool = False
    # each candidate's features (`rag.spans.ranker`) and whether it names the right choice
    candidate_features: list[dict[str, float]] = field(default_factory=list)
    candidate_right: list[bool] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)  # their texts, as shown
    declined: bool = False
    citations: list[dict[str, Any]] = field(default_factory=list)
    standalone_question: str | None = None
    retrieved: list[dict[str, Any]] = field(default_factory=list)
    reference_context_ids: list[str] = field(default_factory=list)
    scores: dict[str, float | None] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    backend: str = ""
    model: str = ""
    notice: str | None = None
    error: str | None = None
    judge: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EvalRun:
    dataset: str
    backend: str
    results: list[QuestionResult]
    aggregates: dict[str, Any]
    meta: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    judges: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "backend": self.backend,
            "meta": self.meta,
            "notes": self.notes,
            "aggregates": self.aggregates,
            "judges": self.judges,
            "results": [r.to_dict() for r in self.results],
        }


# --- one question ----------------------------------------------------------------------------------


def _chunk_texts(pipeline: Pipeline, chunk_ids: Iterable[str]) -> dict[str, str]:
    ids = sorted(set(chunk_ids))
    if not ids:
        return {}
    found = chunk_records(pipeline.store, ids, pipeline.retriever.catalogue.ledger)
    return {cid: record_text(record) for cid, record in found}


def evaluate_question(
    pipeline: Pipeline,
    rec: GoldRecord,
    *,
    expected_ids: Sequence[str] | None = None,
    backend: str | None = None,
    top_k: int | None = None,
    realtimeqa: bool = False,
) -> tuple[QuestionResult, list[Any]]:
    """Retrieve, ask and score one question; also returns the retrieved passages (for judges)."""
    qa = pipeline.qa
    expected = list(rec.reference_context_ids if expected_ids is None else expected_ids)
    res = QuestionResult(
        id=rec.id,
        user_input=rec.user_input,
        tags=[*rec.tags, f"asks:{expected_type(rec.user_input) or 'explanation'}"],
        answerable=rec.answerable,
        reference=rec.reference,
        reference_context_ids=expected,
    )
    answer_k = top_k or pipeline.settings.retrieval.answer_passages
    passages: list[Any] = []
    try:
        # one retrieval, deep enough for the metrics at k = 5 and 10; the answer is made from its
        # first answer_k passages, exactly what `rag ask` would retrieve and answer from
        # a question with a date (RealTimeQA's quiz date) is asked as of that date
        retrieved = qa.retrieve(
            rec.user_input,
            top_k=max(*KS, answer_k),
            history=rec.history,
            as_of=parse_date(rec.date) if DATED else None,
        )
        passages = retrieved.passages
        answer = final_answer(qa.stream_from(retrieved.top(answer_k), backend=backend))
    except (RagError, ValueError, OSError) as exc:
        res.error = f"{type(exc).__name__}: {exc}"
        res.problems.append(f"error: {res.error}")
        answer = None
    ranked = metrics.ranked_article_ids(passages, expected)
    res.retrieved = [
        {"article_id": p.article_id, "chunk_id": p.chunk_id, "also_in": p.also_in, "score": p.score}
        for p in passages
    ]
    s: dict[str, float | None] = {}
    for k in KS:
        s[f"hit_rate@{k}"] = metrics.hit_at_k(expected, ranked, k)
    s[f"mrr@{KS[-1]}"] = metrics.reciprocal_rank(expected, ranked, KS[-1])
    if answer is None:
        facts = rec.key_facts if rec.answerable else []
        s.update(
            key_fact_recall=0.0 if facts else None,
            reference_overlap=0.0 if rec.answerable and rec.reference else None,
            citation_validity=0.0,
            citation_support=None,
            citation_grounded=None,
            decline_accuracy=0.0,
        )
        if realtimeqa:
            s.update(
                {f"answer_recall@{k}": None for k in KS},
                choice_correct=0.0,
                short_answer_correct=0.0,
                candidate_recall=0.0,
                **{"candidate_recall@3": 0.0},
            )
        res.scores = s
        return res, passages

    res.response = answer.answer
    res.short_answer = answer.short_answer
    res.confidence = answer.confidence
    res.confident = answer.confident
    res.declined = answer.declined
    res.citations = [c.model_dump() for c in answer.citations]
    res.standalone_question = answer.standalone_question
    res.timings = dict(answer.timings)
    res.backend, res.model, res.notice = answer.backend, answer.model, answer.notice

    if rec.answerable:
        s["key_fact_recall"] = metrics.key_fact_recall(rec.key_facts, answer.answer)
        s["reference_overlap"] = metrics.reference_overlap(rec.reference, answer.answer)
    else:
        s["key_fact_recall"] = s["reference_overlap"] = None
    validity = metrics.citation_validity(
        answer.answer, [c.number for c in answer.citations], answer.declined
    )
    s["citation_validity"] = float(validity.valid)
    res.problems.extend(validity.problems)
    support = metrics.citation_support(
        answer.answer,
        answer.citations,
        _chunk_texts(pipeline, (c.chunk_id for c in answer.citations)),
    )
    s["citation_support"] = support.score
    s["citation_grounded"] = support.grounded
    res.problems.extend(support.problems)
    s["decline_accuracy"] = float(answer.declined == (not rec.answerable))
    if answer.declined and rec.answerable:
        res.problems.append("declined an answerable question")
    if not answer.declined and not rec.answerable:
        res.problems.append("answered an unanswerable question")
    if realtimeqa:
        texts = [p.text for p in passages]
        for k in KS:
            s[f"answer_recall@{k}"] = float(metrics.answer_in_passages(rec.answers, texts, k))
        s["choice_correct"] = float(
            not answer.declined and metrics.names_choice(answer.answer, rec.choices, rec.answers)
        )
        s["short_answer_correct"] = float(
            bool(answer.short_answer)
            and metrics.names_choice(answer.short_answer or "", rec.choices, rec.answers)
        )
        right = [metrics.names_choice(c.text, rec.choices, rec.answers) for c in answer.candidates]
        res.candidate_features = [c.features or {} for c in answer.candidates[:CANDIDATES_KEPT]]
        res.candidate_right = right[:CANDIDATES_KEPT]
        res.candidates = [c.text for c in answer.candidates]
        s["candidate_recall"] = float(any(right))
        s["candidate_recall@3"] = float(any(right[:3]))
    res.scores = s
    return res, passages


# --- aggregation -----------------------------------------------------------------------------------


def _aggregate(results: Sequence[QuestionResult], names: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(results), "errors": sum(1 for r in results if r.error)}
    for name in names:
        out[name] = metrics.mean(r.scores.get(name) for r in results)
    answered = [r for r in results if not r.error]
    decl = metrics.decline_scores((r.declined, r.answerable) for r in answered)
    out["decline_precision"] = decl["decline_precision"]
    out["decline_recall"] = decl["decline_recall"]
    out["declined"] = sum(1 for r in answered if r.declined)
    # only where it is known whether the short answer is right (a quiz's choices): the seeds'
    # gold answers are sentences, and counting their short answers wrong made up a calibration
    rated = [
        (r.confidence, r.confident, bool(r.scores["short_answer_correct"]))
        for r in answered
        if r.confidence is not None and r.scores.get("short_answer_correct") is not None
    ]
    out |= metrics.confidence_summary(rated, len(answered))
    lat = metrics.latency_summary(r.timings for r in answered)
    for stage in STAGES:
        for q in ("p50", "p95"):
            out[f"latency_{stage}_{q}"] = lat.get(stage, {}).get(q)
    return out


def aggregate(results: Sequence[QuestionResult], names: Sequence[str]) -> dict[str, Any]:
    """{"overall": {...}, "tags": {tag: {...}}}: means of the per-question metrics (over the
    questions where each is defined), decline precision/recall, latency p50/p95 per stage."""
    tags = sorted({t for r in results for t in r.tags})
    return {
        "overall": _aggregate(results, names),
        "tags": {t: _aggregate([r for r in results if t in r.tags], names) for t in tags},
    }


# --- metadata --------------------------------------------------------------------------------------


def git_commit(root: Path = ROOT) -> str | None:
    """The checked-out commit, read from .git without running git (None outside a checkout)."""
    git = root / ".git"
    try:
        if git.is_file():  # a worktree: "gitdir: PATH"
            git = Path(git.read_text().split(":", 1)[1].strip())
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head
        ref = head.split(":", 1)[1].strip()
        if (git / ref).is_file():
            return (git / ref).read_text().strip()
        packed = git / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split()[0]
    except (OSError, IndexError):
        return None
    return None


def run_meta(pipeline: Pipeline, backend: str, top_k: int | None) -> dict[str, Any]:
    settings = pipeline.settings
    model = str(getattr(pipeline.qa.answerer(backend), "model", ""))
    return {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "embedding_model": getattr(
            pipeline.embed_model, "model_name", type(pipeline.embed_model).__name__
        ),
        "backend": backend,
        "model": model,
        "chunk_size": settings.chunk.size,
        "chunk_overlap": settings.chunk.overlap,
        "retrieval_mode": settings.retrieval.mode,
        "top_k": top_k or settings.retrieval.answer_passages,
        "retrieval_ks": list(KS),
        "store": pipeline.store.where,
        "chunks_indexed": pipeline.store.count(),
        "settings": settings.model_dump(mode="json"),
    }


# --- whole sets ------------------------------------------------------------------------------------


def run_gold(
    pipeline: Pipeline,
    records: Sequence[GoldRecord],
    *,
    dataset: str = "seeds",
    backend: str | None = None,
    top_k: int | None = None,
    judge_llm: Any = None,
    progress: Progress | None = None,
) -> EvalRun:
    """Every question of a gold set (or a LabelledRagDataset) through the pipeline, scored."""
    name = resolve_backend(pipeline.settings, backend)
    pipeline.qa.answerer(name)  # an unavailable backend fails here, once, not per question
    results: list[QuestionResult] = []
    contexts: dict[str, list[Any]] = {}
    t0 = time.perf_counter()
    for i, rec in enumerate(records, 1):
        res, passages = evaluate_question(pipeline, rec, backend=name, top_k=top_k)
        results.append(res)
        contexts[rec.id] = passages
        if progress:
            progress(i, len(records), res)
    meta = run_meta(pipeline, name, top_k)
    meta["seconds"] = round(time.perf_counter() - t0, 2)
    meta["questions"] = len(records)
    run = EvalRun(
        dataset=dataset,
        backend=name,
        results=results,
        aggregates=aggregate(results, GOLD_METRICS),
        meta=meta,
    )
    if not any(r.reference_context_ids for r in records):
        run.notes.append("no article ids in this set: retrieval metrics are not computed")
    if judge_llm is not None:
        from evals.judges import run_judges

        run.judges = run_judges(judge_llm, records, results, contexts, top_k=meta["top_k"])
    return run


# --- RealTimeQA ------------------------------------------------------------------------------------


def realtimeqa_settings(
    settings: Settings, store_dir: Path | None, collection: str | None = None
) -> Settings:
    """The same settings on the `realtimeqa` collection, or `collection` (`rag eval
    --collection NAME`: one built from another year, say), in `store_dir` if given."""
    settings = on_collection(settings, collection or REALTIMEQA_COLLECTION)
    store = settings.store
    if store_dir is not None:
        store = store.model_copy(update={"path": Path(store_dir), "host": None})
    return settings.model_copy(update={"store": store})


def indexed_article_ids(settings: Settings) -> set[str]:
    """Article ids that have chunks in the collection (empty when there is no collection)."""
    from rag.errors import IndexMissingError
    from rag.store.chroma import Store

    try:
        store = Store(settings.store)
    except IndexMissingError:
        return set()
    return {ChunkMeta.from_metadata(r.metadata).article_id for r in store.records(documents=False)}


def build_realtimeqa_index(
    settings: Settings,
    embed_model: Any,
    rtqa: RealTimeQA,
    limit: int | None,
    *,
    say: Callable[[str], None] = print,
    progress: bool = True,
) -> set[str]:
    """Ingest the corpus (or the `limit` articles `RealTimeQA.select_articles` picks) into the
    collection when it is empty; returns the article ids indexed."""
    from index.ingest import ingest
    from index.intake import articles_from_records

    have = indexed_article_ids(settings)
    if have:
        say(
            f"using the {len(have)} articles already in collection {settings.store.collection!r} "
            f"at {settings.store.path} (use another --store to build a different one)"
        )
        return have
    ids = rtqa.select_articles(limit)
    what = f"{len(ids)} articles (--limit {limit})" if ids is not None else "the whole corpus"
    from index.collections import where

    say(f"the RealTimeQA collection is empty: ingesting {what} into {where(settings.store)} …")
    articles, problems = articles_from_records(
        (row, f"{rtqa.corpus_path}#{row.get('id')}") for row in iter_corpus(rtqa.corpus_path, ids)
    )
    if problems:
        say(f"{len(problems)} corpus rows skipped (no usable text), e.g. {problems[0].location}")
    articles.sort(key=lambda a: a.id)
    report = ingest([rtqa.corpus_path], settings, embed_model, articles=articles, progress=progress)
    say(report.summary())
    return indexed_article_ids(settings)


def run_realtimeqa(
    pipeline: Pipeline,
    rtqa: RealTimeQA,
    indexed: set[str],
    *,
    backend: str | None = None,
    top_k: int | None = None,
    max_questions: int | None = None,
    judge_llm: Any = None,
    progress: Progress | None = None,
) -> EvalRun:
    """The answerable questions whose supporting articles are indexed, scored with the gold
    metrics plus answer-recall@k and choice correctness."""
    name = resolve_backend(pipeline.settings, backend)
    pipeline.qa.answerer(name)  # an unavailable backend fails here, once, not per question
    todo = [
        (rec, [a for a in rtqa.supporting[rec.id] if a in indexed]) for rec in rtqa.answerable()
    ]
    todo = [(rec, sup) for rec, sup in todo if sup]
    if max_questions and max_questions < len(todo):  # spread evenly over the year's weeks
        step = len(todo) / max_questions
        todo = [todo[int(i * step)] for i in range(max_questions)]
    results: list[QuestionResult] = []
    contexts: dict[str, list[Any]] = {}
    t0 = time.perf_counter()
    for i, (rec, support) in enumerate(todo, 1):
        res, passages = evaluate_question(
            pipeline, rec, expected_ids=support, backend=name, top_k=top_k, realtimeqa=True
        )
        results.append(res)
        contexts[rec.id] = passages
        if progress:
            progress(i, len(todo), res)
    meta = run_meta(pipeline, name, top_k)
    meta.update(
        seconds=round(time.perf_counter() - t0, 2),
        questions=len(todo),
        articles_indexed=len(indexed),
        questions_total=len(rtqa.records),
        questions_answerable=len(rtqa.answerable()),
    )
    run = EvalRun(
        dataset=rtqa.name,
        backend=name,
        results=results,
        aggregates=aggregate(results, (*GOLD_METRICS, *REALTIMEQA_METRICS)),
        meta=meta,
        notes=[
            f"{len(todo)} of {len(rtqa.answerable())} answerable questions have a supporting "
            f"article among the {len(indexed)} indexed; only they count. Declining is not scored "
            "beyond answerable questions (every question counted here is answerable)."
        ],
    )
    if judge_llm is not None:
        from evals.judges import run_judges

        run.judges = run_judges(
            judge_llm, [r for r, _ in todo], results, contexts, top_k=meta["top_k"]
        )
    return run
