"""Answers with citations: the extractive default, declining, dates, citation repair, and
prompt-injection text in an article."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from rag.answering.answer import Answer, check_citations, is_decline
from rag.answering.extractive import ExtractiveAnswerer
from rag.answering.generated import build_prompt
from rag.errors import BadQuestionError
from rag.schema import Passage
from tests.conftest import make_settings
from tests.helpers.chunks import kept_chunks


def _every_marker_resolves(a: Answer) -> None:
    numbers = {c.number for c in a.citations}
    assert set(a.markers()) == numbers, (a.answer, numbers)


def test_hegseth_quote_cited_from_002(pipeline) -> None:  # type: ignore[no-untyped-def]
    a = pipeline.qa.ask("What did Hegseth say about 5%?")
    assert not a.declined
    assert "almost near consensus" in a.answer
    _every_marker_resolves(a)
    assert any(
        c.article_id.startswith("002_") and "almost near consensus" in c.quote for c in a.citations
    )
    assert a.backend == "extractive" and a.model
    assert {"retrieve", "generate", "total"} <= set(a.timings)


def test_quotes_are_verbatim_from_the_cited_chunk(pipeline) -> None:  # type: ignore[no-untyped-def]
    chunks = {r.id: r.text for r in kept_chunks(pipeline.settings)}
    for q in (
        "What did Rutte say about sticking with 2%?",
        "How much will the UK put into drones?",
        "What compromise did Rutte put forward?",
    ):
        a = pipeline.qa.ask(q)
        assert a.citations, q
        for c in a.citations:
            assert c.quote in chunks[c.chunk_id], (q, c.quote)
            assert c.title and c.article_id
        _every_marker_resolves(a)


@pytest.mark.parametrize(
    "question",
    [
        "What did Emmanuel Macron say about defence spending?",
        "What did Emmanuel Macron say about the 5% target?",
        "Did Spain agree to the 5% target?",
    ],
)
def test_declines_when_the_articles_do_not_say(pipeline, question: str) -> None:  # type: ignore[no-untyped-def]
    a = pipeline.qa.ask(question)
    assert a.declined
    assert "don't" in a.answer
    assert a.citations == [] and a.markers() == []
    assert a.related, "points at the closest passage"


def test_relative_date_read_against_article_date(pipeline) -> None:  # type: ignore[no-untyped-def]
    a = pipeline.qa.ask("When will Starmer host Rutte in London?")
    assert "Monday 9 June 2025" in a.answer
    assert any(c.date == "2025-06-05" and "next Monday" in c.quote for c in a.citations)


def test_a_question_for_several_dates_reads_the_relative_ones(pipeline) -> None:  # type: ignore[no-untyped-def]
    a = pipeline.qa.ask("Starmer hosted Rutte in London in June. On what two dates?")
    assert "Monday 9 June 2025" in a.answer  # "next Monday", in an article of Thursday 5 June


def test_a_sentence_far_better_than_the_best_passages_is_quoted(pipeline) -> None:  # type: ignore[no-untyped-def]
    # the LBC article's chunk with this sentence ranks seventh: its other sentences say little
    a = pipeline.qa.ask(
        "What did LBC say Britain would be forced to commit to on defence spending?"
    )
    assert not a.declined
    assert any(
        "3.5 per cent of GDP on defence within the next decade" in c.quote for c in a.citations
    )


def test_a_region_asked_about_is_answered_by_a_place_in_it(pipeline) -> None:  # type: ignore[no-untyped-def]
    # the articles say Doha, never "the Middle East": no decline, and the Doha sentence quoted
    a = pipeline.qa.ask(
        "What did Starmer and Rutte discuss about the Middle East in their September 2025 talks?"
    )
    assert not a.declined
    assert any("Doha" in c.quote for c in a.citations)


@pytest.mark.parametrize(
    ("question", "said", "goes_on"),
    [
        (
            "What did Pete Hegseth say about a 5% commitment ahead of the Hague summit?",
            "almost near consensus",
            "not quite there yet",
        ),
        (
            "What did Starmer tell the BBC about setting a date for reaching 3% defence spending?",
            "economic conditions allow",
            "performative fantasy politics",
        ),
    ],
)
def test_a_quote_goes_on_into_the_next_sentence_that_carries_on_the_words(  # type: ignore[no-untyped-def]
    pipeline, question: str, said: str, goes_on: str
) -> None:
    a = pipeline.qa.ask(question)
    assert said in a.answer and goes_on in a.answer
    assert any(goes_on in c.quote for c in a.citations)


def test_a_next_sentence_without_he_said_is_no_part_of_the_quote() -> None:
    from rag.answering.extractive import _Cand, _goes_on

    p = Passage("c0", "a0", "T", "2025-06-05", "S", "", "", "", 1.0)
    first = _Cand("Pete Hegseth said allies were close to a deal.", p, 0, 0)
    said = _Cand("A few countries are not there yet, he said.", p, 0, 1)
    other = _Cand("The summit opens in The Hague on 24 June.", p, 0, 1)
    q = "What did Pete Hegseth say about the deal?"
    assert _goes_on(first, [first, said], q, [first]) == [said]
    assert _goes_on(first, [first, other], q, [first]) == []
    assert _goes_on(first, [first, said], "What did Rutte say about the deal?", [first]) == []


def test_bad_questions(pipeline) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BadQuestionError, match="empty"):
        pipeline.qa.ask("   ")
    with pytest.raises(BadQuestionError, match="limit"):
        pipeline.qa.ask("why " * 5000)
    with pytest.raises(BadQuestionError, match="backend"):
        pipeline.qa.ask("What did Hegseth say?", backend="gpt-17")


def _p(i: int, text: str) -> Passage:
    return Passage(f"c{i}", f"a{i}", f"T{i}", "2025-06-05", "S", "", "", text, 1.0)


def test_check_citations_repairs_llm_output() -> None:
    passages = [
        _p(
            1,
            "Hegseth said there would be almost near consensus on a 5% commitment. Other text here.",
        ),
        _p(2, "Rutte proposed 3.5% on core military spending by 2032."),
    ]
    checked = check_citations(
        "Rutte proposed 3.5% on core military spending by 2032 [2]. Hegseth expected near consensus on 5% [7].",
        passages,
    )
    assert checked.removed_markers == 1
    # the uncited second sentence is matched to source 1; sources renumbered by first use
    assert (
        checked.text
        == "Rutte proposed 3.5% on core military spending by 2032 [1]. Hegseth expected near consensus on 5% [2]."
    )
    assert [c.article_id for c in checked.citations] == ["a2", "a1"]
    assert (
        checked.citations[1].quote
        == "Hegseth said there would be almost near consensus on a 5% commitment."
    )
    unsupported = check_citations("Bananas are yellow and grow in tropical countries.", passages)
    assert unsupported.citations == [] and "[" not in unsupported.text


def test_check_citations_moves_a_marker_to_the_source_that_supports_it() -> None:
    passages = [
        _p(1, "Hegseth said there would be almost near consensus on a 5% commitment."),
        _p(2, "Rutte proposed 3.5% on core military spending by 2032."),
        _p(3, "The summit takes place in The Hague on 24 and 25 June."),
    ]
    # the model cites source 3 for Rutte's figure: source 3 shares no word with the claim
    checked = check_citations(
        "Rutte proposed 3.5% on core military spending by 2032 [3].", passages
    )
    assert checked.moved_markers == 1
    assert checked.text == "Rutte proposed 3.5% on core military spending by 2032 [1]."
    assert [c.article_id for c in checked.citations] == ["a2"]
    # a paraphrase that shares some words with its cited source is left as the model wrote it
    kept = check_citations("Hegseth expected consensus on the 5% commitment [1].", passages)
    assert kept.moved_markers == 0 and [c.article_id for c in kept.citations] == ["a1"]
    # a claim no source supports is left out (what an injected instruction makes a model write)
    none = check_citations(
        "Bananas are yellow and grow in tropical countries [2]. Rutte proposed 3.5% [2].", passages
    )
    assert none.dropped_sentences == 1 and none.text == "Rutte proposed 3.5% [1]."
    assert [c.article_id for c in none.citations] == ["a2"]
    assert kept.citations[0].note == ""


def test_decline_phrases() -> None:
    assert is_decline("The articles don't say.")
    assert is_decline("The sources do not mention Macron.")
    assert is_decline("I don't know.")
    assert not is_decline("Hegseth said the UK was going to get there [1].")


def test_injection_is_data_for_the_extractive_answerer(injected_pipeline) -> None:  # type: ignore[no-untyped-def]
    a = injected_pipeline.qa.ask("What did the council decide about parking fees?")
    assert "PWNED" not in a.answer and "Ignore previous instructions" not in a.answer
    assert a.citations and all(c.article_id == "999_injection" for c in a.citations)
    assert all("Ignore previous" not in c.quote for c in a.citations)


def test_injection_never_reaches_the_llm_prompt(injected_pipeline) -> None:  # type: ignore[no-untyped-def]
    passages = injected_pipeline.retriever.retrieve("council parking fees", top_k=3)
    assert any(
        "Ignore previous instructions" in p.text for p in passages
    )  # it is in the index as data
    prompt = "\n".join(str(m.content) for m in build_prompt("council parking fees?", passages))
    assert "Ignore previous instructions" not in prompt and "PWNED" not in prompt
    assert "removed" not in prompt  # left out, without a marker a model would repeat
    assert "untrusted text quoted from news articles" in prompt
    sources = str(build_prompt("council parking fees?", passages)[-1].content)
    assert sources.count("<source ") == sources.count("</source>") == len(passages)


def test_answer_json_round_trip(pipeline) -> None:  # type: ignore[no-untyped-def]
    a = pipeline.qa.ask("What did Hegseth say about 5%?")
    again = Answer.model_validate_json(a.model_dump_json())
    assert again == a
    assert re.search(r"\[1\]", again.to_text())


def test_auto_backend_is_extractive_without_key_or_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag.answering.backends import resolve_backend

    monkeypatch.chdir(tmp_path)  # no models/ folder here
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert resolve_backend(make_settings(tmp_path, llm={"backend": "auto"})) == "extractive"
    assert (
        resolve_backend(
            make_settings(tmp_path, llm={"backend": "auto", "base_url": "http://127.0.0.1:9/v1"})
        )
        == "openai"
    )
    # a GGUF in models/ is used when asked for, not by `auto` (it answers worse than extraction)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.gguf").write_bytes(b"GGUF")
    assert resolve_backend(make_settings(tmp_path, llm={"backend": "auto"})) == "extractive"
    assert resolve_backend(make_settings(tmp_path), "local") == "local"


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        # small models write the source's label instead of a marker, or a marker as its own sentence
        (
            "Starmer will host Rutte next Monday. Source [1].",
            "Starmer will host Rutte next Monday [1].",
        ),
        (
            "The UK spends about 2.3% of GDP, as stated in Source [2].",
            "The UK spends about 2.3% of GDP [1].",
        ),
        ("Starmer hosts Rutte in London (Source 1).", "Starmer hosts Rutte in London [1]."),
        ("Starmer hosts Rutte in London [1]. [2].", "Starmer hosts Rutte in London [1] [2]."),
        # a marker that opens the next sentence stays with it, and is checked against that sentence
        (
            "Starmer will host Rutte next Monday. [1] The UK spends about 2.3% of GDP on defence.",
            "Starmer will host Rutte next Monday [1]. [2] The UK spends about 2.3% of GDP on defence.",
        ),
    ],
)
def test_check_citations_normalises_how_models_write_markers(written: str, expected: str) -> None:
    passages = [
        _p(1, "Starmer will host Rutte in London next Monday for talks on defence."),
        _p(2, "The UK spends about 2.3% of GDP on defence."),
    ]
    assert check_citations(written, passages).text == expected


@pytest.mark.parametrize(
    ("question", "without", "with_answer"),
    [
        (
            "On what date did the fire at the Doha harbour start?",
            "The fire at the Doha harbour destroyed three warehouses and a crane.",
            "The fire at the Doha harbour started on Tuesday 9 September.",
        ),
        (
            "Who led the inquiry into the Doha harbour fire?",
            "The inquiry into the Doha harbour fire was led by the port authority's chief.",
            "The inquiry into the Doha harbour fire was led by Maria Lopez.",
        ),
        (
            "What did the harbour master say about the Doha harbour fire?",
            "The harbour master inspected the Doha harbour fire damage on Monday.",
            "The harbour master said the Doha harbour fire “was the worst in decades”.",
        ),
    ],
)
def test_extractive_answers_only_with_the_type_of_answer_asked_for(
    embed_model: Any, question: str, without: str, with_answer: str
) -> None:
    """A sentence close to the question but of the wrong type (no date for 'when', no name for
    'who', no reported speech for 'what did X say') does not answer it."""
    from rag.answering.extractive import ExtractiveAnswerer

    answerer = ExtractiveAnswerer(embed_model)
    declined = answerer.answer(question, [_p(1, without)])
    assert declined.declined, declined.answer
    answered = answerer.answer(question, [_p(1, without + " " + with_answer)])
    assert not answered.declined
    assert answered.citations[0].quote == with_answer


def test_percentages_match_however_they_are_written(pipeline) -> None:  # type: ignore[no-untyped-def]
    """'2.5%' in a question finds '2.5 per cent' in an article (the seeds write it three ways)."""
    from rag.text.rules import terms

    assert terms("2.5 per cent, 3 percent, 3.5 Percent and 5%") == ["2.5%", "3%", "3.5%", "5%"]
    assert "percentag" in terms("20 percentage points")  # not a percent
    # the only sentence on the review and 2.5 writes "2.5 per cent"; before the normalisation a
    # sentence about the review's drone money came first
    a = pipeline.qa.ask("What does the defence review assume about 2.5%?")
    assert not a.declined, a.answer
    assert (
        "It comes after the government's defence review was released yesterday, which is based on"
        " reaching 2.5 per cent of GDP on defence by 2027."
    ) in [c.quote for c in a.citations]


@pytest.mark.parametrize(
    ("question", "without", "with_figure", "short"),
    [
        (
            "What share of its budget has Norway committed to defence?",
            "Norway has committed to raise its defence spending, ministers in Oslo said on "
            "Monday. The plan for Norway's defence spending is backed by every party.",
            "Norway has committed 3.5% of its budget to defence by 2030, Oslo said.",
            "3.5% of its budget",
        ),
        (
            "How many soldiers did Norway send to the exercise?",
            "Norway sent soldiers to the exercise in the north, the army said. The soldiers "
            "Norway sent to the exercise trained with allies.",
            "Norway sent 1,200 soldiers to the exercise, the army said.",
            "1,200",
        ),
    ],
)
def test_a_question_for_a_figure_no_passage_gives_is_declined(
    embed_model: Any, question: str, without: str, with_figure: str, short: str
) -> None:
    """A figure is known by its form: when the passages about what the question names give
    none, the answer says so instead of quoting sentences close to the question."""
    from rag.answering.extractive import ExtractiveAnswerer

    answerer = ExtractiveAnswerer(embed_model)
    declined = answerer.answer(question, [_p(1, without)])
    assert declined.declined and "No passage about it gives" in declined.answer, declined.answer
    assert declined.related  # the closest passage, offered to read
    answered = answerer.answer(question, [_p(1, without + " " + with_figure)])
    assert not answered.declined and answered.short_answer == short, answered.answer


def test_a_language_model_reads_a_shared_sentence_once_under_a_short_headline(
    embed_model: Any,
) -> None:
    """Overlapping chunks and syndicated copies repeat sentences: the evidence an LLM reads
    lists each once (under the best-ranked passage that has it), and a long headline is cut."""
    from rag.answering.extractive import ExtractiveAnswerer

    shared = "Starmer has committed to spending 2.5% of GDP on defence from April 2027."
    passages = [
        _p(1, f"The talks were held in London on Monday. {shared}"),
        _p(2, f"{shared} Rutte praised the commitment."),
    ]
    passages[0].title = " ".join(["Starmer"] + ["word"] * 20)
    evidence = ExtractiveAnswerer(embed_model).evidence("How much will Starmer spend?", passages)
    listed = [s for sentences in evidence.sentences.values() for s in sentences]
    assert listed.count(shared) == 1 and shared in evidence.sentences[0]
    prompt = str(build_prompt("How much will Starmer spend?", passages, evidence)[-1].content)
    assert prompt.count(shared) == 1
    assert "Starmer word word word word word word word word word…" in prompt
    assert " ".join(["word"] * 11) not in prompt


def test_a_token_budget_keeps_the_best_sentences_and_always_the_best_one(
    embed_model: Any,
) -> None:
    """RAG_LLM__EVIDENCE_TOKENS: a local model reads ~70 prompt tokens a second, so the evidence
    stops at the budget, best sentences first; the best one is read even when it alone is over."""
    from rag.answering.extractive import ExtractiveAnswerer
    from rag.text.rules import count_tokens

    best = "Starmer has committed to spending 2.5% of GDP on defence from April 2027."
    others = [
        "Starmer said defence spending would rise again in the next parliament.",
        "The spending plans were welcomed by Nato allies meeting in Brussels.",
        "Rutte said every ally should spend more on defence.",
    ]
    passages = [_p(1, " ".join([best, *others]))]
    answerer = ExtractiveAnswerer(embed_model)
    question = "How much has Starmer committed to spend on defence?"

    def read(budget: int | None) -> list[str]:
        ev = answerer.evidence(question, passages, budget=budget)
        return [s for sentences in ev.sentences.values() for s in sentences]

    everything = read(None)
    assert best in everything and len(everything) == 4
    assert read(1) == [best]  # over budget alone, still read
    some = read(count_tokens(best) + count_tokens(others[0]) + 2)
    assert best in some and 1 < len(some) < 4
    assert sum(count_tokens(s) for s in some) <= count_tokens(best) + count_tokens(others[0]) + 2


def test_rerank_lifts_a_passage_whose_one_sentence_says_what_is_asked(embed_model) -> None:  # type: ignore[no-untyped-def]
    scattered = _p(
        0,
        "Damar Hamlin was in the news. Fans asked about the team. Doctors spoke on Monday. "
        "The play happened in the first quarter.",
    )
    answering = _p(1, "Damar Hamlin plays for the Buffalo Bills, the team said on Monday.")
    unrelated = _p(2, "Rain is expected across the region this weekend.")
    answerer = ExtractiveAnswerer(embed_model)
    question = "Which team does Damar Hamlin play for?"
    ranked = answerer.rerank(question, [scattered, unrelated, answering])
    assert [p.chunk_id for p in ranked] == ["c1", "c0", "c2"]
    # the fusion's order holds where the sentences say nothing of the question
    others = [_p(i, "Rain is expected across the region this weekend.") for i in range(3)]
    assert answerer.rerank(question, others) == others


def test_answers_read_the_reranked_candidates_when_asked(pipeline, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    question = "What did Hegseth say about 5%?"
    qa = pipeline.qa
    monkeypatch.setattr(qa.settings.retrieval, "rerank", True)
    ranked = qa.retrieve(question, top_k=3).passages
    monkeypatch.setattr(qa.settings.retrieval, "rerank", False)
    fused = qa.retrieve(question, top_k=qa.settings.retrieval.candidates).passages
    assert ranked == qa.answerers.extractive.rerank(question, fused)[:3]
    assert ranked != fused[:3], "re-ranking moves this question's passages"
    assert qa.retrieve(question, top_k=3).passages == fused[:3]


def test_an_articles_opening_sentences_weigh_a_little_more(embed_model: Any) -> None:
    """News says what happened first: the same sentence scores higher at an article's start
    (the first two sentences of its first chunk) than further in, by LEAD_BONUS."""
    from rag.answering.extractive import LEAD_BONUS, ExtractiveAnswerer

    said = "The Milwaukee Bucks became the first team to reach 50 wins this season."
    other = "Fans gathered outside the arena before the game on Sunday night."
    opening = Passage("a1:0000aaaa:0", "a1", "T", "2023-03-15", "S", "", "", f"{said} {other}", 1.0)
    later = Passage("a2:0000bbbb:3", "a2", "T", "2023-03-15", "S", "", "", f"{other} {said}", 1.0)
    assert opening.position == 0 and later.position == 3
    answerer = ExtractiveAnswerer(embed_model)
    question = "Which team was the first to reach 50 wins?"
    first, second = (
        next(c.score for c in answerer._scored(question, [p]) if c.text == said)
        for p in (opening, later)
    )
    assert first == pytest.approx(second + LEAD_BONUS)
    assert Passage("x", "a", "T", "", "", "", "", "t", 1.0).position is None


_BRIDGE = "Which company won the contract to build the new bridge?"
_SIEMENS = "Siemens won the contract to build the new bridge, the council said on Monday."
_WORDS = "The contract to build the new bridge was the largest the council has ever awarded."


def _bridge(*more: str) -> list[Passage]:
    """Passages about a bridge contract: Siemens won it, three more only share the question's
    words, then `more`."""
    texts = [
        _SIEMENS,
        _WORDS,
        "The new bridge contract was awarded after a long contest, and building starts next year.",
        "Councillors said the contract to build the new bridge would bring hundreds of jobs.",
        *more,
    ]
    return [_p(i, t) for i, t in enumerate(texts, 1)]


def test_a_sentence_naming_the_kind_asked_for_is_worth_more_as_a_quote(
    embed_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """For "which company", a sentence that names a company is worth TYPED_BONUS more when the
    quotes are chosen: one that only repeats the question's words must come closer to the best
    (here at a cut-off of 0.8, where these two sentences fall either side of it)."""
    import rag.answering.extractive as extractive

    monkeypatch.setattr(extractive, "KEEP_RATIO", 0.8)
    passages = _bridge(
        "Bechtel had also bid for the contract to build the new bridge, the council said."
    )
    answerer = extractive.ExtractiveAnswerer(embed_model)
    answer = answerer.answer(_BRIDGE, passages)
    assert answer.short_answer == "Siemens"
    assert [c.quote for c in answer.citations] == [_SIEMENS]
    monkeypatch.setattr(extractive, "TYPED_BONUS", 0.0)
    assert [c.quote for c in answerer.answer(_BRIDGE, passages).citations] == [_SIEMENS, _WORDS]


def test_a_close_contender_is_quoted_too(embed_model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A candidate of the best one's kind that is nearly as well supported (CONTENDER_RATIO)
    has its best sentence quoted, even from a passage below the quoted six: the reader sees
    what else the articles name. Further behind, or with no contenders allowed, it is not."""
    import rag.answering.extractive as extractive

    bechtel = "Bechtel won the contract to build the bridge, a rival report said on Tuesday."
    passages = _bridge(
        "Work on the new bridge will close the river road for two years, the council said.",
        "The old bridge was built in 1890 and has been closed to lorries since 2019.",
        bechtel,  # below the six passages quoted from
    )
    answerer = extractive.ExtractiveAnswerer(embed_model)
    answer = answerer.answer(_BRIDGE, passages)
    assert answer.short_answer == "Siemens"
    quotes = [c.quote for c in answer.citations]
    assert quotes[0] == _SIEMENS and quotes[-1] == bechtel
    assert answer.answer.startswith("Siemens [1]. ")
    monkeypatch.setattr(extractive, "CONTENDER_RATIO", 0.95)  # Bechtel is ~0.83 of Siemens
    assert bechtel not in [c.quote for c in answerer.answer(_BRIDGE, passages).citations]
    monkeypatch.setattr(extractive, "CONTENDER_RATIO", 0.8)
    monkeypatch.setattr(extractive, "CONTENDERS", 0)
    assert [c.quote for c in answerer.answer(_BRIDGE, passages).citations] == quotes[:-1]


def test_how_sure_in_words_and_the_choice_when_unsure() -> None:
    from rag.answering.answer import Answer, ShortCandidate

    cands = [
        ShortCandidate(text="Bills", kind="organisation", articles=3, dates=["2023-01-05"]),
        ShortCandidate(text="Bengals", kind="organisation", articles=1, dates=[]),
    ]
    base = {"question": "q", "answer": "Bills [1].", "backend": "extractive", "model": "m"}
    sure = Answer(**base, short_answer="Bills", confidence=0.91, confident=True, candidates=cands)
    assert sure.how_sure() == "sure, 0.91" and sure.choices() == ""
    unsure = Answer(**base, short_answer="Bills", confidence=0.41, candidates=cands)
    assert unsure.how_sure() == "unsure, 0.41"
    assert unsure.choices() == (
        "Not sure; the articles name: Bills (3 articles, latest 2023-01-05); Bengals (1 article)"
    )
    assert unsure.to_text().startswith("Not sure; the articles name: Bills")
    assert "(short answer: Bills; unsure, 0.41)" in unsure.to_text()
    likely = Answer(**base, short_answer="Bills", confidence=0.6, candidates=cands[:1])
    assert likely.how_sure() == "likely, 0.60" and likely.choices() == ""  # nothing to choose
    none = Answer(**base, short_answer="Bills", candidates=cands)
    assert none.how_sure() == "" and none.choices() == "" and none.to_text().startswith("Bills")
