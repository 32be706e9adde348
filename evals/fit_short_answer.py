"""Fit the short answer's ranker (`rag.spans.ranker.ShortAnswerModel`) on RealTimeQA eval
reports, and check it on the other year.

    python -m evals.fit_short_answer REPORT_A.json REPORT_B.json [--out rag/spans/short_answer.json]

Each report is a `rag eval --dataset realtimeqa` run's JSON: for every question, the features of
its first candidates (`rag.spans.ranker.candidate_features`) and whether each names the right
quiz choice (the gold answer is only ever the label: no choice, source or date is a feature).
Each candidate's features are read against the other candidates' of its question
(`rag.spans.ranker.relative`), as the product reads them. A logistic regression over candidates
(scikit-learn's LogisticRegressionCV: its strength chosen by cross-validation over the fitting
data's questions) is fitted on each year and checked on the other, question by question: with
`--reorder` the candidate it rates highest is the short answer (with `--any-kind` among all the
candidates, else among the names of the kind asked, as the product gives them). Its
probability, rescaled by a Platt calibration fitted on out-of-fold choices of the fitting year
(five folds of its questions: data the ranker was not fitted on), is the confidence. Reported: short answers right (against the miner's first
candidate), calibration (expected calibration error over ten bins, and the reliability table),
and selective accuracy (the share of questions whose answer is said as sure, and how often those
are right). The file written is fitted on both years; its "confident" threshold is the lowest
probability from which the fitting data's short answers are right at least TARGET of the time.
Deterministic: the same reports give the same file.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evals.metrics import calibration
from rag.spans.ranker import MODEL_FILE, relative

TARGET = 0.85  # a short answer said as sure is right at least this often
FOLDS = 5


@dataclass
class Year:
    name: str
    questions: int  # all the questions of the report
    candidates: list[list[dict[str, float]]]  # per question with candidates
    right: list[list[bool]]


def load(report: Path) -> Year:
    data = json.loads(report.read_text())
    cands, right = [], []
    for r in data["results"]:
        if r.get("candidate_features") and not r.get("error"):
            # each read against the others, as the product reads them (`relative`)
            cands.append(relative(r["candidate_features"]))
            right.append(r["candidate_right"])
    return Year(report.name, len(data["results"]), cands, right)


def _matrix(rows: Sequence[dict[str, float]], names: Sequence[str]) -> np.ndarray:
    return np.array([[row.get(n, 0.0) for n in names] for row in rows], dtype=float)


# the regularisation strengths tried; the one whose held-out log loss is best is kept
STRENGTHS = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


def fit(years: Sequence[Year], names: Sequence[str]) -> Any:
    """The logistic regression, its strength chosen by cross-validation over the questions
    (scikit-learn's LogisticRegressionCV; a question's candidates are never split between folds,
    so no question is both fitted and checked)."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rows = [c for y in years for q in y.candidates for c in q]
    labels = np.array([int(r) for y in years for q in y.right for r in q])
    groups = np.array([n for n, q in enumerate(q for y in years for q in y.candidates) for _ in q])
    x = _matrix(rows, names)
    folds = list(GroupKFold(FOLDS).split(x, labels, groups))
    lr = LogisticRegressionCV(
        Cs=list(STRENGTHS),
        cv=folds,
        scoring="neg_log_loss",
        max_iter=3000,
        l1_ratios=(0.0,),  # plain L2 (scikit-learn 1.10 asks for it to be said)
        use_legacy_attributes=False,
    )
    return make_pipeline(StandardScaler(), lr).fit(x, labels)


def choose(
    model: Any, year: Year, names: Sequence[str], reorder: bool, any_kind: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Per question with a candidate that may be the short answer: the chosen candidate's
    probability, and whether it is right. `reorder`: the model chooses (else the miner's first
    stays the short answer, and the model only says how likely it is right); `any_kind`: any
    candidate may be chosen (else only a name of the kind asked, as the product gives)."""
    p, y = [], []
    for cands, right in zip(year.candidates, year.right, strict=True):
        allowed = np.array([any_kind or c.get("kind_asked", 1.0) > 0 for c in cands])
        if not allowed.any():
            continue  # no short answer, and no confidence to give
        probs = model.predict_proba(_matrix(cands, names))[:, 1]
        # the first of equals in the miner's order (a report lists the candidates in the order
        # the product's model gave them; each keeps its place in the miner's order, "rank")
        miners = np.array([c.get("rank", k) for k, c in enumerate(cands)], dtype=float)
        if reorder:
            best = int(np.lexsort((miners, -np.where(allowed, probs, -1.0)))[0])
        else:
            best = int(np.argmin(np.where(allowed, miners, np.inf)))
        p.append(float(probs[best]))
        y.append(int(right[best]))
    return np.array(p), np.array(y)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def platt(
    years: Sequence[Year], names: Sequence[str], reorder: bool, any_kind: bool = False
) -> tuple[float, float]:
    """(a, b) so that sigmoid(a * logit(p) + b) is how often a chosen candidate of probability
    p is right, from choices made by rankers fitted on the other folds' questions."""
    from sklearn.linear_model import LogisticRegression

    p_out, y_out = [], []
    for fold in range(FOLDS):
        rest = [_part(y, fold, keep=False) for y in years]
        held = [_part(y, fold, keep=True) for y in years]
        model = fit(rest, names)
        for year in held:
            p, y = choose(model, year, names, reorder, any_kind)
            p_out.append(p)
            y_out.append(y)
    x = _logit(np.concatenate(p_out)).reshape(-1, 1)
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(x, np.concatenate(y_out))
    return float(lr.coef_[0][0]), float(lr.intercept_[0])


def _part(year: Year, fold: int, *, keep: bool) -> Year:
    """The year's questions in (keep) or out of the fold (every FOLDS-th question)."""
    pick = [(i % FOLDS == fold) == keep for i in range(len(year.candidates))]
    cands = [c for c, k in zip(year.candidates, pick, strict=True) if k]
    right = [r for r, k in zip(year.right, pick, strict=True) if k]
    return Year(year.name, len(cands), cands, right)


def calibrated(p: np.ndarray, ab: tuple[float, float]) -> np.ndarray:
    a, b = ab
    return np.asarray(1.0 / (1.0 + np.exp(-(a * _logit(p) + b))))


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


def check(
    fitted: Year, checked: Year, names: Sequence[str], reorder: bool, any_kind: bool = False
) -> dict[str, Any]:
    model, ab = fit([fitted], names), platt([fitted], names, reorder, any_kind)
    p_fit, y_fit = choose(model, fitted, names, reorder, any_kind)
    t = threshold(calibrated(p_fit, ab), y_fit)
    p, y = choose(model, checked, names, reorder, any_kind)
    p = calibrated(p, ab)
    ece, table = calibration(p, y)
    _, first_right = choose(model, checked, names, False, any_kind)
    first = int(first_right.sum())
    return {
        "fitted_on": fitted.name,
        "checked_on": checked.name,
        "questions": checked.questions,
        "short_answer_right": round(float(y.sum()) / checked.questions, 4),
        "miners_first_right": round(first / checked.questions, 4),
        "candidate_recall": round(sum(any(r) for r in checked.right) / checked.questions, 4),
        "ece": round(ece, 4),
        "threshold": round(t, 3),
        **selective(p, y, t, checked.questions),
        "reliability": table,
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("reports", nargs=2, type=Path, help="two eval reports, one per year")
    ap.add_argument("--out", type=Path, default=MODEL_FILE, help=f"default {MODEL_FILE}")
    ap.add_argument(
        "--reorder",
        action="store_true",
        help="the model chooses the short answer among the candidates (default: the miner's "
        "first stays, and the model says how likely it is right)",
    )
    ap.add_argument(
        "--any-kind",
        action="store_true",
        help="with --reorder: the model may choose a noun phrase or a name of another kind than "
        "asked (default: only a name of the kind asked is ever the short answer)",
    )
    ap.add_argument(
        "--first-only",
        action="store_true",
        help="write the model fitted on the first report alone (to measure the second year "
        "with a model that never saw it); default: fitted on both",
    )
    args = ap.parse_args(argv)
    years = [load(r) for r in args.reports]
    names = sorted({n for y in years for q in y.candidates for c in q for n in c})
    checks = [
        check(years[0], years[1], names, args.reorder, args.any_kind),
        check(years[1], years[0], names, args.reorder, args.any_kind),
    ]
    fitted = years[:1] if args.first_only else years
    model, ab = fit(fitted, names), platt(fitted, names, args.reorder, args.any_kind)
    p_all, y_all = zip(
        *(choose(model, y, names, args.reorder, args.any_kind) for y in fitted), strict=True
    )
    scaler, lr = model.named_steps["standardscaler"], model.named_steps["logisticregressioncv"]
    out = {
        "features": names,
        "mean": [round(float(v), 6) for v in scaler.mean_],
        "scale": [round(float(v), 6) for v in scaler.scale_],
        "coef": [round(float(v), 6) for v in lr.coef_[0]],
        "intercept": round(float(lr.intercept_[0]), 6),
        "strength": float(np.ravel(lr.C_)[0]),  # the regularisation the cross-validation chose
        "calibration": [round(ab[0], 6), round(ab[1], 6)],
        "reorders": args.reorder,
        "any_kind": args.any_kind,
        "confident": round(
            threshold(calibrated(np.concatenate(p_all), ab), np.concatenate(y_all)), 3
        ),
        "fitted_on": [y.name for y in fitted],
        "checks": checks,
    }
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    for c in checks:
        print(
            f"fitted on {c['fitted_on']}, checked on {c['checked_on']} ({c['questions']} "
            f"questions): short answer right {c['short_answer_right']:.3f} (the miner's first "
            f"{c['miners_first_right']:.3f}, candidate recall {c['candidate_recall']:.3f}); "
            f"ECE {c['ece']:.3f}; said as sure (p >= {c['threshold']}) for "
            f"{c['coverage']:.1%} of the questions, right {c['accuracy']:.1%} of those"
        )
    print(f"model fitted on {', '.join(y.name for y in fitted)} written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
