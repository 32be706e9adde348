"""The OpenAI-compatible answerer's own checks and fallbacks, driven by a scripted LLM (fast; the
same code talks to a real llama.cpp server in test_generated_live.py and test_llamacpp.py)."""

from __future__ import annotations

from typing import Any

import httpx
import openai

from rag.answering.answer import Answer, Delta, final_answer
from rag.answering.backends import Answerers
from rag.service import QAService

QUESTION = "What did Hegseth say about 5%?"
CLAIM = (
    "Pete Hegseth said he believed there would be almost near consensus on a 5% commitment "
    "for Nato in the Hague"
)


def _passages(pipeline: Any) -> list[Any]:
    passages = pipeline.retriever.retrieve(QUESTION, top_k=6)  # what an answer reads
    assert any("almost near consensus" in p.text for p in passages)
    return passages


def _hegseth(passages: list[Any]) -> int:
    return next(i for i, p in enumerate(passages, 1) if "almost near consensus" in p.text)


def test_a_cited_answer_streams_then_comes_back_checked(pipeline, scripted) -> None:  # type: ignore[no-untyped-def]
    passages = _passages(pipeline)
    n = _hegseth(passages)
    answerer = scripted(f"{CLAIM} [{n}].")
    events = list(answerer.stream(QUESTION, passages))
    assert all(isinstance(e, Delta) for e in events[:-1]) and len(events) > 3
    answer = events[-1]
    assert isinstance(answer, Answer)
    assert answer.backend == "openai" and answer.model == "scripted" and not answer.notice
    assert answer.answer.endswith("[1].")
    assert answer.citations[0].article_id == passages[n - 1].article_id
    assert "almost near consensus" in answer.citations[0].quote
    assert answer.tokens and answer.tokens["completion"] > 0


def test_markers_to_no_source_are_removed_and_uncited_claims_get_one(pipeline, scripted) -> None:  # type: ignore[no-untyped-def]
    passages = _passages(pipeline)
    answer = final_answer(scripted(f"{CLAIM} [9].").stream(QUESTION, passages))
    assert "[9]" not in answer.answer and answer.markers() == [1]
    assert answer.notice and "1 citation(s) to no source were removed" in answer.notice
    assert answer.citations[0].article_id == passages[_hegseth(passages) - 1].article_id


def test_a_marker_on_the_wrong_source_moves_to_the_one_that_supports_it(pipeline, scripted) -> None:  # type: ignore[no-untyped-def]
    passages = _passages(pipeline)
    right = _hegseth(passages)
    wrong = next(i for i, p in enumerate(passages, 1) if "consensus" not in p.text)
    answer = final_answer(scripted(f"{CLAIM} [{wrong}].").stream(QUESTION, passages))
    assert answer.notice and "moved to the source that supports the claim" in answer.notice
    assert answer.citations[0].article_id == passages[right - 1].article_id


def test_a_server_error_falls_back_to_extraction_and_says_so(pipeline, scripted) -> None:  # type: ignore[no-untyped-def]
    passages = _passages(pipeline)
    request = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
    error = openai.APIConnectionError(request=request)
    answer = final_answer(scripted(error, fail_after=3).stream(QUESTION, passages))
    assert answer.backend == "extractive" and answer.citations
    assert answer.notice and answer.notice.startswith("the language model did not answer")
    assert "extracted from the articles instead" in answer.notice


def test_an_unusable_completion_falls_back(pipeline, scripted) -> None:  # type: ignore[no-untyped-def]
    passages = _passages(pipeline)
    for reply in ("", "ok", "the " * 40):
        answer = final_answer(scripted(reply).stream(QUESTION, passages))
        assert answer.backend == "extractive", reply
        assert answer.notice and "unusable completion" in answer.notice


def test_an_answer_that_matches_no_source_falls_back(pipeline, scripted) -> None:  # type: ignore[no-untyped-def]
    passages = _passages(pipeline)
    reply = "Quantum penguins colonised Jupiter yesterday afternoon."
    answer = final_answer(scripted(reply).stream(QUESTION, passages))
    assert answer.backend == "extractive"
    assert answer.notice and "could not be matched to the sources" in answer.notice


def test_the_model_declining_is_a_decline_with_the_closest_passage(pipeline, scripted) -> None:  # type: ignore[no-untyped-def]
    passages = _passages(pipeline)
    answer = final_answer(scripted("The articles don't say.").stream(QUESTION, passages))
    assert answer.declined and answer.backend == "openai" and not answer.citations
    assert answer.related and answer.related[0].quote


def test_a_person_no_source_mentions_is_never_sent_to_the_model(pipeline, scripted) -> None:  # type: ignore[no-untyped-def]
    passages = _passages(pipeline)
    answerer = scripted("Macron said many things [1].")
    answer = final_answer(answerer.stream("What did Emmanuel Macron say about 5%?", passages))
    assert answer.declined and answer.backend == "openai"
    assert answer.notice and "no source mentions Emmanuel Macron" in answer.notice
    assert answerer.llm.prompts == []


def test_the_service_gives_a_model_the_follow_up_context(pipeline, scripted) -> None:  # type: ignore[no-untyped-def]
    answerer = scripted(f"{CLAIM} [1].")
    answerers = Answerers(pipeline.settings, pipeline.qa.answerers.extractive)
    answerers._live["openai"] = answerer  # the scripted model stands in for a configured one
    qa = QAService(pipeline.settings, pipeline.retriever, answerers)
    history = [{"role": "user", "content": "What did Hegseth say about 5%?"}]
    events = list(qa.stream("And about the Hague?", backend="openai", history=history))
    answer = events[-1]
    assert isinstance(answer, Answer) and answer.question == "And about the Hague?"
    assert answer.standalone_question == (
        "And about the Hague? (following up on: What did Hegseth say about 5%?)"
    )
    assert "following up on: What did Hegseth say about 5%?" in answerer.llm.prompts[0]
    assert {"retrieve", "generate", "total"} <= set(answer.timings)
