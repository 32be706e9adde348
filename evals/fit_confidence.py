"""Fit the short answer's confidence (`rag.spans.confidence`) on RealTimeQA eval reports, and
check it on the other year.

    python -m evals.fit_confidence REPORT_A.json REPORT_B.json [--out rag/spans/confidence.json]

Each report is a `rag eval --dataset realtimeqa` run's JSON (every question's short answer, the
features it was chosen with, and whether it named the right quiz choice: the gold answer is only
ever the label). A logistic regression (scikit-learn) is fitted on each year and checked on the
other: calibration (expected calibration error over ten bins, and the reliability table), and
selective accuracy (how many questions get an answer said as sure, and how often those are
right). The model written is fitted on both years; its "confident" threshold is the lowest
probability from which the answers of the fitting data are right at least TARGET of the time.
Deterministic: the same reports give the same file.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.spans.confidence import MODEL_FILE

TARGET = 0.85  # a short answer said as sure is right at least this often
BINS = 10


def _rows(report: Path) -> tuple[list[dict[str, float]], list[int]]:
    """(features, right or not) of every question that got a short answer."""
    data = json.loads(report.read_text())
    feats, labels = [], []
    for r in data["results"]:
        if r.get("short_answer_features") and not r.get("error"):
            feats.append(r["short_answer_features"])
            labels.append(int((r["scores"].get("short_answer_correct") or 0) > 0))
    return feats, labels


def _matrix(feats: Sequence[dict[str, float]], names: Sequence[str]) -> np.ndarray:
    return np.array([[f.get(n, 0.0) for n in names] for f in feats], dtype=float)


def _fit(x: np.ndarray, y: np.ndarray) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000)).fit(x, y)


def calibration(p: np.ndarray, y: np.ndarray) -> tuple[float, list[dict[str, Any]]]:
    """Expected calibration error and the reliability table (per probability bin: how many,
    the mean probability said, how often right)."""
    table: list[dict[str, Any]] = []
    ece = 0.0
    for b in range(BINS):
        lo, hi = b / BINS, (b + 1) / BINS
        inside = (p >= lo) & ((p < hi) if b < BINS - 1 else (p <= hi))
        n = int(inside.sum())
        if not n:
            continue
        said, right = float(p[inside].mean()), float(y[inside].mean())
        ece += n / len(p) * abs(said - right)
        table.append({"bin": f"{lo:.1f}-{hi:.1f}", "n": n, "said": said, "right": right})
    return ece, table


def threshold(p: np.ndarray, y: np.ndarray, target: float = TARGET) -> float:
    """The lowest probability from which the answers at or above it are right >= target."""
    for t in np.unique(np.round(p, 3)):
        sure = p >= t
        if sure.any() and y[sure].mean() >= target:
            return float(t)
    return 1.0


def selective(p: np.ndarray, y: np.ndarray, t: float, questions: int) -> dict[str, float]:
    sure = p >= t
    return {
        "coverage": float(sure.sum() / questions) if questions else 0.0,
        "accuracy": float(y[sure].mean()) if sure.any() else 0.0,
        "answered_sure": int(sure.sum()),
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("reports", nargs=2, type=Path, help="two eval reports, one per year")
    ap.add_argument("--out", type=Path, default=MODEL_FILE, help=f"default {MODEL_FILE}")
    args = ap.parse_args(argv)
    years = []
    for report in args.reports:
        feats, labels = _rows(report)
        questions = len(json.loads(report.read_text())["results"])
        years.append((report.name, feats, np.array(labels), questions))
    names = sorted({n for _, feats, _, _ in years for f in feats for n in f})
    checks = []
    for (fit_name, f_fit, y_fit, _), (check_name, f_check, y_check, q_check) in (
        (years[0], years[1]),
        (years[1], years[0]),
    ):
        model = _fit(_matrix(f_fit, names), y_fit)
        t = threshold(model.predict_proba(_matrix(f_fit, names))[:, 1], y_fit)
        p = model.predict_proba(_matrix(f_check, names))[:, 1]
        ece, table = calibration(p, y_check)
        checks.append(
            {
                "fitted_on": fit_name,
                "checked_on": check_name,
                "ece": round(ece, 4),
                "threshold": round(t, 3),
                **selective(p, y_check, t, q_check),
                "short_answers": len(y_check),
                "right": int(y_check.sum()),
                "reliability": table,
            }
        )
    x_all = _matrix([f for _, feats, _, _ in years for f in feats], names)
    y_all = np.concatenate([y for _, _, y, _ in years])
    model = _fit(x_all, y_all)
    scaler, lr = model.named_steps["standardscaler"], model.named_steps["logisticregression"]
    out = {
        "features": names,
        "mean": [round(float(v), 6) for v in scaler.mean_],
        "scale": [round(float(v), 6) for v in scaler.scale_],
        "coef": [round(float(v), 6) for v in lr.coef_[0]],
        "intercept": round(float(lr.intercept_[0]), 6),
        "confident": round(threshold(model.predict_proba(x_all)[:, 1], y_all), 3),
        "fitted_on": [name for name, *_ in years],
        "checks": checks,
    }
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    for c in checks:
        print(
            f"fitted on {c['fitted_on']}, checked on {c['checked_on']}: ECE {c['ece']:.3f}; "
            f"said as sure (p >= {c['threshold']}) for {c['coverage']:.1%} of the questions, "
            f"right {c['accuracy']:.1%} of those; {c['right']} of {c['short_answers']} short "
            "answers right"
        )
    print(f"model fitted on both years written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
