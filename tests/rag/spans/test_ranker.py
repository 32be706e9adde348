"""rag.spans.ranker: each candidate's named features, and the fitted model read from its JSON
that orders the candidates and says how sure the first is (no file: the miner's order)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rag.answering.extractive import ExtractiveAnswerer
from rag.spans.asks import NUMBER, ORG, PERSON
from rag.spans.ranker import RANKED, ShortAnswerModel, all_features, candidate_features
from rag.spans.types import Candidate, Sentence


def _cand(text: str, kind: str, score: float, day: str, *articles: str) -> Candidate:
    said = [Sentence(f"{text} said.", score, a, day) for a in articles]
    span = Candidate(text, kind, score, said, {id(s): score for s in said})
    span.said = {id(s): {"sentence": score, "proximity": 0.5, "head": 1.0} for s in said}
    return span


def _model(tmp_path: Path, **data: object) -> ShortAnswerModel:
    path = tmp_path / "model.json"
    path.write_text(
        json.dumps(
            {
                "intercept": 0.0,
                "calibration": [1.0, 0.0],
                "confident": 0.8,
                "reorders": True,
                **data,
            }
        )
    )
    model = ShortAnswerModel.load(path)
    assert model is not None
    return model


def _asked(pipeline: Any, question: str) -> tuple[list[Any], Any]:
    """The seeds' passages for the question, and the answer made from them without a model."""
    passages = pipeline.qa.retrieve(question).passages
    return passages, ExtractiveAnswerer(pipeline.embed_model).answer(question, passages)


def test_features_describe_a_candidate_among_the_others() -> None:
    spans = [
        _cand("Rutte", PERSON, 1.0, "2023-01-10", "a", "b"),
        _cand("Ng", PERSON, 0.25, "2023-01-01", "c"),
        _cand("12", NUMBER, 0.1, "", "d"),
    ]
    first, second, third = all_features(spans, PERSON)
    assert first["first"] == 1.0 and second["rank"] == 1.0 and second["of_top"] == 0.25
    assert first["log_articles"] > second["log_articles"]
    assert second["log_days_behind"] > first["log_days_behind"] == 0.0
    assert third["undated"] == 1.0 and third["same_kind"] == 0.0 and third["digits"] == 1.0
    assert first["said_head"] == 1.0 and first["said_proximity"] == 0.5
    assert first["asks_person"] == 1.0 and first["is_person"] == 1.0 and third["is_number"] == 1.0
    assert first["pool_share"] == 0.5 and second["pool_share"] == 0.25  # 2 and 1 of 4 sentences
    assert first["capitalised"] == 1.0 and third["capitalised"] == 0.0
    assert candidate_features(spans, 1, PERSON, pool=4) == second


def test_the_model_reads_its_file_and_a_missing_one_is_none(tmp_path: Path) -> None:
    assert ShortAnswerModel.load(tmp_path / "none.json") is None
    model = _model(tmp_path, features=["of_top"], mean=[0.5], scale=[0.25], coef=[2.0])
    assert model.probability({"of_top": 0.5}) == 0.5  # at the mean: the intercept alone
    assert model.probability({"of_top": 1.0}) > 0.95 > 0.05 > model.probability({"of_top": 0.0})
    assert 0.0 < model.probability({"of_top": 1e9}) <= 1.0  # no overflow
    rows = [{"of_top": 0.5}, {"of_top": 1.0}, {}, {"of_top": 1e9}]
    at_once = model.probabilities(rows)
    assert all(abs(a - model.probability(r)) < 1e-12 for a, r in zip(at_once, rows, strict=True))
    assert model.probabilities([]) == []


def test_with_a_model_the_answer_is_its_best_candidate_and_says_how_sure(
    pipeline, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    question = "How much has Starmer committed to spend on defence from April 2027?"
    passages, plain = _asked(pipeline, question)
    assert plain.confidence is None and not plain.confident and len(plain.candidates) >= 2
    # a model that prefers the miner's last candidate it ranks answers with it
    last = plain.candidates[:RANKED][-1].text
    reverse = _model(tmp_path, features=["rank"], mean=[0.0], scale=[1.0], coef=[3.0])
    answer = ExtractiveAnswerer(pipeline.embed_model, None, reverse).answer(question, passages)
    assert answer.candidates[0].text == last
    # (a candidate whose best sentence is not close enough to the question is never the answer)
    order = [c.text for c in plain.candidates]
    assert order.index(answer.short_answer or "") > order.index(plain.short_answer or "")
    assert answer.confidence is not None and answer.confidence > 0.5
    # one that only says how sure keeps the miner's order
    told = _model(tmp_path, features=["rank"], mean=[0.0], scale=[1.0], coef=[3.0], reorders=False)
    kept = ExtractiveAnswerer(pipeline.embed_model, None, told).answer(question, passages)
    assert kept.short_answer == plain.short_answer and kept.confidence is not None
    assert [c.text for c in kept.candidates] == [c.text for c in plain.candidates]
    # one that follows the miner keeps its answer, said as sure above the threshold
    same = _model(tmp_path, features=["first"], mean=[0.0], scale=[1.0], coef=[5.0])
    sure = ExtractiveAnswerer(pipeline.embed_model, None, same).answer(question, passages)
    assert sure.short_answer == plain.short_answer and sure.confident
    assert "features" not in sure.model_dump()["candidates"][0]  # not part of the API's answer


def test_how_sure_rescales_the_probability_by_its_calibration(tmp_path: Path) -> None:
    model = _model(tmp_path, features=[], mean=[], scale=[], coef=[])
    assert abs(model.how_sure(0.7) - 0.7) < 1e-9  # a = 1, b = 0: as it is
    sharper = _model(tmp_path, features=[], mean=[], scale=[], coef=[], calibration=[2.0, 0.0])
    assert sharper.how_sure(0.5) == 0.5 and sharper.how_sure(0.7) > 0.8
    assert sharper.how_sure(0.3) < 0.2 and 0.0 < sharper.how_sure(0.0) < 1e-9


def test_similarity_features_say_how_close_each_span_is_and_its_gap_to_the_closest() -> None:
    from rag.spans.ranker import similarity_features

    spans = [
        _cand("giraffe", "thing", 0.5, "", "a"),
        _cand("zoo", "thing", 0.9, "", "b"),
    ]
    for span in spans:
        span.features = {}
    similarity_features(spans, [0.8, 0.3], [0.1, 0.6])
    giraffe, zoo = (s.features for s in spans)
    assert giraffe["asked_similarity"] == 0.8 and giraffe["asked_similarity_gap"] == 0.0
    assert abs(zoo["asked_similarity_gap"] - 0.5) < 1e-9 and zoo["question_similarity_gap"] == 0.0
    assert giraffe["names_a_kind"] == 1.0
    similarity_features(spans, None, [0.1, 0.6])  # "who": the question names no kind
    assert giraffe["asked_similarity"] == 0.0 and giraffe["names_a_kind"] == 0.0


def test_asked_words_are_the_kind_a_which_question_names() -> None:
    from rag.spans.asks import asked_words

    assert asked_words("Which Ivy League school announced a new president?") == "Ivy League school"
    assert asked_words("Which animal escaped from the zoo?") == "animal"
    assert asked_words("Who won the election?") == ""
    assert asked_words("Which United Nations agency warned of famine?") == "United Nations agency"


def test_each_feature_is_read_against_the_other_candidates() -> None:
    from rag.spans.ranker import relative

    rows = [{"support": 0.9, "rank": 0.0}, {"support": 0.3, "rank": 1.0}, {"support": 0.6}]
    first, second, third = relative(rows)
    assert first["gap_support"] == 0.0 and round(second["gap_support"], 6) == 0.6
    assert (first["place_support"], second["place_support"], third["place_support"]) == (0, 2, 1)
    assert first["spread_support"] == 1.0 and second["spread_support"] == 0.0
    assert round(third["spread_support"], 6) == 0.5
    assert "gap_rank" not in first, "where it stands is already the rank"
    assert relative(relative(rows)) == relative(rows), "read again, the same"
    assert relative([{"support": 0.4}])[0]["spread_support"] == 1.0  # alone: the best


def test_only_a_model_fitted_to_choose_any_kind_gives_a_noun_phrase_as_the_short_answer(
    pipeline, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    question = "Which meeting took place in London before Rutte's September 2025 talks?"
    passages, plain = _asked(pipeline, question)
    others = [c.text for c in plain.candidates if not (c.features or {}).get("kind_asked")]
    assert others, "the miner offers noun phrases for a thing asked for"
    # a model that prefers what is not a name of the kind asked
    prefers = {"features": ["kind_asked"], "mean": [0.0], "scale": [1.0], "coef": [-5.0]}
    kept = _model(tmp_path, **prefers)
    answer = ExtractiveAnswerer(pipeline.embed_model, None, kept).answer(question, passages)
    assert answer.short_answer not in others
    free = _model(tmp_path, **prefers, any_kind=True)
    answer = ExtractiveAnswerer(pipeline.embed_model, None, free).answer(question, passages)
    assert answer.short_answer in others
    assert answer.answer.startswith(answer.short_answer)  # the opening names the model's choice
    # and what is quoted is what was quoted without the model (and the choice's own sentence)
    assert {c.quote for c in plain.citations} <= {c.quote for c in answer.citations}


def test_what_the_passages_say_of_a_candidate_beyond_the_sentences_mined() -> None:
    from rag.spans.ranker import passage_features

    rahm = Candidate("Jon Rahm", PERSON, 1.0, [], {})
    woods = Candidate("Tiger Woods", PERSON, 1.0, [], {})
    nobody = Candidate("Greg Norman", PERSON, 1.0, [], {})
    titles = ["Jon Rahm wins the Masters", "LIV golfers at Augusta"]
    texts = ["Jon Rahm won by four shots.", "Tiger Woods withdrew; Jon Rahm led."]
    passage_features([rahm, woods, nobody], titles, texts)
    assert rahm.features["log_passages"] > woods.features["log_passages"] > 0
    assert rahm.features["log_titles"] > 0 == woods.features["log_titles"]
    assert rahm.features["first_passage"] == 0.0 and woods.features["first_passage"] == 0.5
    assert nobody.features["first_passage"] == 1.0 and nobody.features["log_passages"] == 0.0


def test_a_candidate_that_names_who_published_or_wrote_an_article_says_so() -> None:
    from rag.spans.ranker import byline_features

    spans = [
        Candidate(t, ORG, 1.0, [], {})
        for t in ("CNN Business", "USA TODAY", "the Guardian", "Ford", "Matt McFarland", "NASA")
    ]
    byline_features(
        spans,
        ["cnn.com", "https://www.usatoday.com/story", "theguardian.com"],
        ["Matt Mcfarland", ""],
    )
    said = {s.text: s.features for s in spans}
    assert said["CNN Business"]["names_source"] == said["USA TODAY"]["names_source"] == 1.0
    assert said["the Guardian"]["names_source"] == 1.0 and said["Ford"]["names_source"] == 0.0
    assert said["Matt McFarland"]["names_author"] == 1.0 and said["Ford"]["names_author"] == 0.0
    assert said["USA TODAY"]["upper"] == said["NASA"]["upper"] == 1.0
    assert said["CNN Business"]["upper"] == 0.0
