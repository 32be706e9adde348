"""evals.fit_short_answer: calibration and the sure threshold on known numbers, and a ranker
fitted on one report and checked on the other, written the same way twice."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np

from evals.fit_short_answer import STRENGTHS, calibration, main, selective, threshold


def test_calibration_of_a_perfectly_and_a_badly_calibrated_model() -> None:
    p = np.array([0.05] * 20 + [0.95] * 20)
    y = np.array([0] * 19 + [1] + [1] * 19 + [0])
    ece, table = calibration(p, y)
    assert abs(ece) < 1e-9 and [row["n"] for row in table] == [20, 20]
    ece, _ = calibration(np.full(10, 0.9), np.zeros(10))
    assert abs(ece - 0.9) < 1e-9


def test_the_threshold_is_the_lowest_probability_right_often_enough() -> None:
    p = np.array([0.2, 0.5, 0.6, 0.7, 0.9, 0.95])
    y = np.array([0, 0, 1, 1, 1, 1])
    assert threshold(p, y, 0.85) == 0.6
    assert threshold(p, np.zeros(6), 0.85) == 1.0
    assert selective(p, y, 0.6, questions=8) == {
        "coverage": 0.5,
        "accuracy": 1.0,
        "answered_sure": 4,
    }


def _report(path: Path, seed: int) -> Path:
    """Questions whose right candidate has the highest "signal", which the miner put second
    as often as first: a ranker that learns the signal beats the miner's order."""
    rng = random.Random(seed)
    results = []
    for i in range(300):
        n = 4
        right_at = rng.choice([0, 1])
        feats, right = [], []
        for k in range(n):
            signal = rng.gauss(1.5 if k == right_at else 0.0, 0.7)
            feats.append({"rank": float(k), "signal": signal})
            right.append(k == right_at)
        results.append({"id": str(i), "candidate_features": feats, "candidate_right": right})
    results.append({"id": "none", "candidate_features": [], "candidate_right": []})
    path.write_text(json.dumps({"results": results}))
    return path


def test_a_ranker_is_checked_on_the_other_year_and_written_the_same_each_time(
    tmp_path: Path,
) -> None:
    a, b = _report(tmp_path / "a.json", 1), _report(tmp_path / "b.json", 2)
    out = tmp_path / "model.json"
    assert main([str(a), str(b), "--out", str(out), "--reorder"]) == 0
    model = json.loads(out.read_text())
    # each feature, and each but the rank read against the other candidates' (`relative`)
    assert model["features"] == [
        "gap_signal", "place_signal", "rank", "signal", "spread_signal"
    ]  # fmt: skip
    assert model["strength"] in STRENGTHS  # chosen by cross-validation over the questions
    coef = dict(zip(model["features"], model["coef"], strict=True))
    assert coef["signal"] > 0.5 and coef["gap_signal"] < 0  # the signal tells the right one
    for check in model["checks"]:
        assert check["candidate_recall"] > 0.99
        assert check["short_answer_right"] > check["miners_first_right"] + 0.2
        assert check["ece"] < 0.1 and 0 < check["coverage"] < 1 and check["accuracy"] >= 0.8
    first = out.read_bytes()
    main([str(a), str(b), "--out", str(out), "--reorder"])
    assert out.read_bytes() == first


def test_only_a_name_of_the_kind_asked_is_chosen_unless_any_kind(tmp_path: Path) -> None:
    a, b = _report(tmp_path / "a.json", 1), _report(tmp_path / "b.json", 2)
    data = json.loads(b.read_text())
    for n, r in enumerate(data["results"]):  # every other question's right one is of no kind
        for feats, right in zip(r["candidate_features"], r["candidate_right"], strict=True):
            feats["kind_asked"] = 0.0 if right and n % 2 else 1.0  # asked, nor is it chosen
    b.write_text(json.dumps(data))
    out = tmp_path / "model.json"
    main([str(a), str(b), "--out", str(out), "--reorder"])
    on_b = json.loads(out.read_text())["checks"][0]
    assert on_b["checked_on"] == "b.json" and on_b["short_answer_right"] < 0.55
    main([str(a), str(b), "--out", str(out), "--reorder", "--any-kind"])
    model = json.loads(out.read_text())
    assert model["any_kind"] is True and model["checks"][0]["short_answer_right"] > 0.8


def test_without_reorder_the_miners_first_stays_and_is_only_rated(tmp_path: Path) -> None:
    a, b = _report(tmp_path / "a.json", 1), _report(tmp_path / "b.json", 2)
    out = tmp_path / "model.json"
    main([str(a), str(b), "--out", str(out)])
    model = json.loads(out.read_text())
    assert model["reorders"] is False
    for check in model["checks"]:
        assert check["short_answer_right"] == check["miners_first_right"]


def test_the_miners_first_is_read_by_its_rank_whatever_order_a_report_lists(
    tmp_path: Path,
) -> None:
    a, b = _report(tmp_path / "a.json", 1), _report(tmp_path / "b.json", 2)
    out = tmp_path / "model.json"
    main([str(a), str(b), "--out", str(out)])
    listed = json.loads(out.read_text())["checks"][0]["miners_first_right"]
    data = json.loads(b.read_text())
    for r in data["results"]:  # as a model that reordered them would list them
        r["candidate_features"].reverse()
        r["candidate_right"].reverse()
    b.write_text(json.dumps(data))
    main([str(a), str(b), "--out", str(out)])
    assert json.loads(out.read_text())["checks"][0]["miners_first_right"] == listed
