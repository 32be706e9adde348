"""evals.fit_confidence: calibration and the sure-answer threshold on known numbers, and a fit
from two reports that is checked across them and written the same way twice."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np

from evals.fit_confidence import calibration, main, selective, threshold


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
    rng = random.Random(seed)
    results = []
    for i in range(300):
        margin = rng.random()
        right = rng.random() < margin  # the wider the margin, the likelier right
        results.append(
            {
                "id": str(i),
                "short_answer_features": {"margin": margin, "share": rng.random()},
                "scores": {"short_answer_correct": float(right)},
            }
        )
    results.append({"id": "none", "short_answer_features": None, "scores": {}})
    path.write_text(json.dumps({"results": results}))
    return path


def test_a_fit_is_checked_on_the_other_year_and_written_the_same_each_time(
    tmp_path: Path,
) -> None:
    a, b = _report(tmp_path / "a.json", 1), _report(tmp_path / "b.json", 2)
    out = tmp_path / "model.json"
    assert main([str(a), str(b), "--out", str(out)]) == 0
    model = json.loads(out.read_text())
    assert model["features"] == ["margin", "share"]
    assert model["coef"][0] > 0.5 > abs(model["coef"][1])  # margin matters, share is noise
    for check in model["checks"]:
        assert check["ece"] < 0.1 and check["short_answers"] == 300
        assert 0 < check["coverage"] < 1 and check["accuracy"] >= 0.75
    first = out.read_bytes()
    main([str(a), str(b), "--out", str(out)])
    assert out.read_bytes() == first
