"""The miner's vocabulary: a scored `Sentence` of a retrieved passage and a `Candidate` span
with the sentences that support it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Sentence:
    """A scored sentence of a retrieved passage, as the miner sees it."""

    text: str
    score: float
    article_id: str
    date: str = ""
    ref: Any = None  # the caller's handle for citing it


@dataclass
class Candidate:
    text: str  # verbatim, as in the sentence it was found in
    kind: str
    score: float = 0.0
    sentences: list[Sentence] = field(default_factory=list)
    # how well each sentence (by id) supports this span: its score, more where the span stands
    # among the question's words and, for "how many X", right before an X
    support: dict[int, float] = field(default_factory=dict)
    # what each sentence (by id) says of the span, by feature name (`rag.spans.candidates`)
    said: dict[int, dict[str, float]] = field(default_factory=dict)
    features: dict[str, float] = field(default_factory=dict)  # `rag.spans.ranker`'s
    probability: float | None = None  # that it is the right answer, by the fitted model

    @property
    def articles(self) -> list[str]:
        return list(dict.fromkeys(s.article_id for s in self.sentences))
