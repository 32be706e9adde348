"""rag.spans.confidence: the short answer's features, and the fitted model's probability read
from its JSON (no model file: no confidence)."""

from __future__ import annotations

import json
from pathlib import Path

from rag.spans.asks import NUMBER, PERSON
from rag.spans.confidence import ConfidenceModel, features
from rag.spans.types import Candidate, Sentence


def _cand(text: str, kind: str, score: float, *articles: str) -> Candidate:
    said = [Sentence(f"{text} said.", score, a) for a in articles]
    return Candidate(text, kind, score, said, {id(s): score for s in said})


def test_features_say_how_far_ahead_the_short_answer_is() -> None:
    ahead = features(
        [_cand("Rutte", PERSON, 1.0, "a", "b"), _cand("Ng", PERSON, 0.25, "c")], PERSON
    )
    close = features([_cand("Rutte", PERSON, 1.0, "a"), _cand("Ng", PERSON, 0.9, "c")], PERSON)
    assert ahead["margin"] == 0.75 and abs(close["margin"] - 0.1) < 1e-9
    assert ahead["share"] == 0.8 and ahead["same_kind"] == 1.0 and ahead["asks_person"] == 1.0
    assert ahead["log_articles"] > close["log_articles"]
    alone = features([_cand("12", NUMBER, 0.5, "a")], PERSON)
    assert alone["margin"] == 1.0 and alone["same_kind"] == 0.0


def test_the_model_reads_its_file_and_a_missing_one_is_none(tmp_path: Path) -> None:
    assert ConfidenceModel.load(tmp_path / "none.json") is None
    path = tmp_path / "confidence.json"
    path.write_text(
        json.dumps(
            {
                "features": ["margin"],
                "mean": [0.5],
                "scale": [0.25],
                "coef": [2.0],
                "intercept": 0.0,
                "confident": 0.8,
            }
        )
    )
    model = ConfidenceModel.load(path)
    assert model is not None
    assert model.probability({"margin": 0.5}) == 0.5  # at the mean: the intercept alone
    assert model.probability({"margin": 1.0}) > 0.95 > 0.05 > model.probability({"margin": 0.0})


def test_an_answer_carries_its_confidence_when_there_is_a_model(pipeline, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from rag.answering.extractive import ExtractiveAnswerer

    path = tmp_path / "confidence.json"
    path.write_text(
        json.dumps(
            {
                "features": ["margin"],
                "mean": [0.0],
                "scale": [1.0],
                "coef": [0.0],
                "intercept": 2.0,
                "confident": 0.8,
            }
        )
    )
    question = "How much has Starmer committed to spend on defence from April 2027?"
    retrieved = pipeline.qa.retrieve(question)
    plain = ExtractiveAnswerer(pipeline.embed_model).answer(question, retrieved.passages)
    sure = ExtractiveAnswerer(pipeline.embed_model, None, ConfidenceModel.load(path))
    answer = sure.answer(question, retrieved.passages)
    assert answer.short_answer and answer.short_answer == plain.short_answer
    assert plain.confidence is None and not plain.confident
    assert answer.confidence == 0.881 and answer.confident  # 1 / (1 + e^-2)
    assert answer.short_answer_features and "margin" in answer.short_answer_features
    assert "short_answer_features" not in answer.model_dump()  # not part of the API's answer
    assert answer.candidates and answer.candidates[0].text == answer.short_answer
