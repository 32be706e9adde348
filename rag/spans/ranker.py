"""What is known of each candidate short answer, by name: the features a learned ranker reads.

`candidate_features(spans, i, expected)` describes the i-th mined span: how the miner scored it
and where it stands among the others, how many articles and sentences carry it, what its best
sentence says of it (`Candidate.said`: closeness to the question's words, beside the asked-for
noun or name, the counted noun, a quoted title, another year's news, a figure since changed),
how recent its articles are beside the newest, and what kind of thing it is against what was
asked. Each feature is a number; the names are the contract with the fitted model's file, which
`ShortAnswerModel` reads: the probability that a candidate is the right answer, by which the
answerer orders the candidates and says how sure the first one is.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from rag.spans.asks import COUNT, DATE, MONEY, NUMBER, ORG, PERCENT, PERSON, PLACE, THING
from rag.spans.candidates import of_kind_asked
from rag.spans.features import ARTICLE, span_words
from rag.spans.types import Candidate
from rag.text.dates import parse_date

MODEL_FILE = Path(__file__).with_name("short_answer.json")
KINDS = (PERSON, ORG, PLACE, DATE, NUMBER, MONEY, PERCENT, COUNT, THING)
SAID = (
    "sentence",
    "proximity",
    "counted",
    "head",
    "name",
    "title",
    "compound",
    "phrase",
    "kind_fits",
)
AGAINST = ("other_year", "superseded")


def _newest(spans: Sequence[Candidate]) -> date | None:
    days = [d for s in spans for x in s.sentences if (d := parse_date(x.date))]
    return max(days, default=None)


def candidate_features(
    spans: Sequence[Candidate],
    i: int,
    expected: str,
    newest: date | None = None,
    pool: int = 0,
) -> dict[str, float]:
    """The i-th span's features among `spans` (the miner's order)."""
    span = spans[i]
    top = spans[0].score or 1.0
    best = max(span.said, key=lambda k: span.support.get(k, 0.0), default=None)
    said = span.said.get(best, {}) if best is not None else {}
    newest = newest or _newest(spans)
    own = max((d for x in span.sentences if (d := parse_date(x.date))), default=None)
    behind = (newest - own).days if newest and own else 0
    out = {
        "score": span.score,
        "of_top": span.score / top,
        "rank": float(i),
        "first": float(i == 0),
        "log_articles": math.log1p(len(span.articles)),
        "log_sentences": math.log1p(len(span.sentences)),
        "log_days_behind": math.log1p(max(behind, 0)),
        "undated": float(own is None),
        "same_kind": float(span.kind == expected),
        "words": float(len(span.text.split())),
        "digits": float(any(ch.isdigit() for ch in span.text)),
        "capitalised": _capitalised(span.text),
        "pool_share": len(span.sentences) / (pool or len(span.sentences) or 1),
        "kind_asked": float(of_kind_asked(span)),  # what may be the short answer
    }
    out |= {f"said_{name}": float(said.get(name, 0.0)) for name in SAID + AGAINST}
    out |= {
        f"any_{name}": max((s.get(name, 0.0) for s in span.said.values()), default=0.0)
        for name in SAID[2:] + AGAINST
    }
    out |= {f"asks_{kind}": float(expected == kind) for kind in KINDS}
    out |= {f"is_{kind}": float(span.kind == kind) for kind in (*KINDS, "facility", "group")}
    return out


def similarity_features(
    spans: Sequence[Candidate], to_asked: Sequence[float] | None, to_question: Sequence[float]
) -> None:
    """Add to each span's features how close its words are, in the embedding model's space, to
    what the question asks for ("which animal": a giraffe is closer than a zoo; None when the
    question names no kind) and to the question itself (a span that only repeats the question
    answers nothing), each also as the gap to the closest candidate."""
    for name, values in (("asked", to_asked), ("question", to_question)):
        if values is None:
            values = [0.0] * len(spans)
        top = max(values, default=0.0)
        for span, value in zip(spans, values, strict=True):
            span.features[f"{name}_similarity"] = float(value)
            span.features[f"{name}_similarity_gap"] = float(top - value)
    for span in spans:
        span.features["names_a_kind"] = float(to_asked is not None)


def passage_features(
    spans: Sequence[Candidate], titles: Sequence[str], texts: Sequence[str]
) -> None:
    """Add to each span's features what the retrieved passages (best first) say of it beyond the
    sentences mined: how many name it anywhere, how many titles name it (a headline names what
    the story is about), and how far down the first passage that names it stands (0: the best
    one; 1: none)."""
    count = len(texts) or 1
    for span in spans:
        where = [k for k, text in enumerate(texts) if span.text in text]
        span.features["log_passages"] = math.log1p(len(where))
        span.features["log_titles"] = math.log1p(sum(span.text in t for t in titles))
        span.features["first_passage"] = (where[0] if where else count) / count


def byline_features(
    spans: Sequence[Candidate], sources: Sequence[str], authors: Sequence[str]
) -> None:
    """Add to each span's features whether it names who published or wrote a retrieved article
    rather than what the article tells: its source ("CNN", "USA TODAY" of cnn.com and
    usatoday.com, "CNN Business"), or one of its authors; and whether it is written in
    capitals ("WASHINGTON" of a dateline)."""
    sites = {_site(s) for s in sources} - {""}
    writers = [set(span_words(a)) for a in authors if a.strip()]
    for span in spans:
        form = "".join(span_words(ARTICLE.sub("", span.text)))
        span.features["names_source"] = float(
            len(form) >= 3 and any(form.startswith(s) or s.endswith(form) for s in sites)
        )
        words = set(span_words(span.text))
        span.features["names_author"] = float(
            bool(words) and any(words <= w or w <= words for w in writers if w)
        )
        letters = [ch for ch in span.text if ch.isalpha()]
        span.features["upper"] = float(len(letters) >= 4 and all(ch.isupper() for ch in letters))


def _site(source: str) -> str:
    """The name of a source's web site: 'usatoday' of 'www.usatoday.com' (or of its URL)."""
    host = source.lower().split("//")[-1].split("/")[0]
    return "".join(ch for ch in host.removeprefix("www.").split(".")[0] if ch.isalnum())


RANKED = 20  # the first candidates (in the miner's order) the model weighs against each other
_RELATIVE = ("gap_", "place_", "spread_")  # prefixes of the features read against the others'
_NOT_RELATIVE = ("asks_", "is_", "rank", "first", "names_a_kind")


def relative(rows: Sequence[dict[str, float]]) -> list[dict[str, float]]:
    """Each candidate's features with how each stands against the other candidates' of the same
    question: `gap_x`, its distance below the best value of x; `place_x`, how many candidates
    have more of x (at most 5); `spread_x`, where it lies between the lowest and the highest
    (0 to 1). A support of 0.3 is much where the best is 0.31 and little where it is 0.9: what
    a candidate has counts against what its rivals have. Pure: the same rows give the same
    result, in the product and in the fitting script (which reads the rows a report kept)."""
    base = [{n: v for n, v in row.items() if not n.startswith(_RELATIVE)} for row in rows]
    names = sorted({n for row in base for n in row if not n.startswith(_NOT_RELATIVE)})
    out = [dict(row) for row in base]
    if not out or not names:
        return out
    x = np.array([[row.get(n, 0.0) for n in names] for row in base], dtype=float)
    top, low = x.max(axis=0), x.min(axis=0)
    width = top - low
    gap = top - x
    place = np.minimum((x[None, :, :] > x[:, None, :]).sum(axis=1), 5)
    spread = np.divide(x - low, width, out=np.ones_like(x), where=width > 0)
    for k, row in enumerate(out):
        row.update(zip([f"gap_{n}" for n in names], gap[k].tolist(), strict=True))
        row.update(zip([f"place_{n}" for n in names], place[k].astype(float).tolist(), strict=True))
        row.update(zip([f"spread_{n}" for n in names], spread[k].tolist(), strict=True))
    return out


def all_features(spans: Sequence[Candidate], expected: str) -> list[dict[str, float]]:
    newest = _newest(spans)
    pool = len({id(x) for s in spans for x in s.sentences})
    return [candidate_features(spans, i, expected, newest, pool) for i in range(len(spans))]


def _capitalised(text: str) -> float:
    """The share of the span's words written with a capital ("German Shepherd" 1, "vinyl
    chloride" 0): a name, or a common noun."""
    words = [w for w in text.split() if w[:1].isalpha()]
    return sum(w[0].isupper() for w in words) / len(words) if words else 0.0


@dataclass(frozen=True)
class ShortAnswerModel:
    """A logistic regression over `candidate_features`: how likely each candidate is the right
        answer. Its coefficients are a small JSON file (`rag/spans/short_answer.json`) fitted by
        `evals/fit_short_answer.py` on development questions; the product only multiplies and adds.
        `how_sure` rescales the first candidate's probability to how often such a short answer is
    right; `confident` is the value of it from which the answer is said as sure."""

    names: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    calibration: tuple[float, float]  # a, b: how sure = sigmoid(a * logit(probability) + b)
    confident: float
    reorders: bool  # the model chooses the short answer; else the miner's first stays
    any_kind: bool = False  # it may choose a noun phrase or a name of another kind too

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> ShortAnswerModel | None:
        """The fitted model, or None when there is none (the miner's order stands, and no
        confidence is given)."""
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
            calibration=(float(data["calibration"][0]), float(data["calibration"][1])),
            confident=float(data["confident"]),
            reorders=bool(data.get("reorders", False)),
            any_kind=bool(data.get("any_kind", False)),
        )

    def probability(self, values: dict[str, float]) -> float:
        return self.probabilities([values])[0]

    def probabilities(self, rows: Sequence[dict[str, float]]) -> list[float]:
        """`probability` of each row, at once."""
        if not rows:
            return []
        x = np.array([[row.get(n, 0.0) for n in self.names] for row in rows], dtype=float)
        scale = np.array([s or 1.0 for s in self.scale])
        z = self.intercept + ((x - np.array(self.mean)) / scale) @ np.array(self.coef)
        return [_sigmoid(float(v)) for v in np.atleast_1d(z)]

    def how_sure(self, probability: float) -> float:
        """How often a first candidate of this probability is right (calibrated on questions
        the ranker was not fitted on)."""
        p = min(max(probability, 1e-6), 1 - 1e-6)
        a, b = self.calibration
        return _sigmoid(a * math.log(p / (1 - p)) + b)


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))
