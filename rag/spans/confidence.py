"""How sure the short answer is: a probability that it is right, from what the miner saw.

`features(spans, expected)` describes the chosen span against the others: its support, how far
ahead of the next candidate it is, how many articles name it, how many candidates there were,
and what kind of thing was asked for. `ConfidenceModel` turns those into a probability with a
logistic regression whose coefficients are a small JSON file (`rag/spans/confidence.json`),
fitted by `evals/fit_confidence.py` on development questions (scikit-learn; the product itself
only multiplies and adds). Without the file, no confidence is given. Nothing here chooses the
short answer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.spans.asks import COUNT, DATE, MONEY, NUMBER, ORG, PERCENT, PERSON, PLACE, THING
from rag.spans.types import Candidate

MODEL_FILE = Path(__file__).with_name("confidence.json")
KINDS = (PERSON, ORG, PLACE, DATE, NUMBER, MONEY, PERCENT, COUNT, THING)


def _support(span: Candidate) -> float:
    return max(span.support.values(), default=0.0)


def features(spans: Sequence[Candidate], expected: str) -> dict[str, float]:
    """What is known of the first span (the short answer) beside the others, by name."""
    top = spans[0]
    second = spans[1].score if len(spans) > 1 else 0.0
    total = sum(s.score for s in spans) or 1.0
    out = {
        "score": top.score,
        "margin": (top.score - second) / top.score if top.score > 0 else 0.0,
        "share": top.score / total,
        "log_articles": math.log1p(len(top.articles)),
        "log_candidates": math.log1p(len(spans)),
        "best_sentence": _support(top),
        "same_kind": float(top.kind == expected),
        "words": float(len(top.text.split())),
    }
    out |= {f"asks_{kind}": float(expected == kind) for kind in KINDS}
    return out


@dataclass(frozen=True)
class ConfidenceModel:
    names: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    confident: float  # the probability from which an answer is said as sure

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> ConfidenceModel | None:
        """The fitted model, or None when there is none."""
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        return cls(
            names=tuple(data["features"]),
            mean=tuple(data["mean"]),
            scale=tuple(data["scale"]),
            coef=tuple(data["coef"]),
            intercept=float(data["intercept"]),
            confident=float(data["confident"]),
        )

    def probability(self, values: dict[str, float]) -> float:
        z = self.intercept + sum(
            c * (values.get(n, 0.0) - m) / (s or 1.0)
            for n, m, s, c in zip(self.names, self.mean, self.scale, self.coef, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-z))
