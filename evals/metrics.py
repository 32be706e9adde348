"""Deterministic scores for one question's retrieval and answer, and their aggregates.

Everything here is a pure function of its arguments (no model, no store, no clock), so the same
inputs always give the same numbers and each function is unit-tested:

- retrieval: hit rate and reciprocal rank at k *by article id* (llama-index's `HitRate` and `MRR`
  over the retrieved passages' article ids; a passage that folded syndicated copies counts for
  every article it stands for, `Passage.also_in`);
- answers: key-fact recall after normalisation (`normalize`: case, curly quotes and dashes,
  "5%" = "5 per cent" = "5 percent" = "five percent", number words to digits, "£4bn" = "£4
  billion", "1,000" = "1000"; a fact that starts or ends with a digit only matches on a number
  boundary, so "5%" is not found inside "3.5%" nor "2%" inside "12%"; a fact that starts with a
  letter must start a word, so "Paris" is not found inside "comparison"), and reference-answer
  token overlap (share of the reference's stemmed content words found in the answer) for sets
  without key facts;
- citations: validity (every [n] marker resolves to a citation, every citation is used, and an
  answer that does not decline cites at least once) and support: a citation supports its claim
  when its quote occurs in the cited chunk's text *and* either the claim (the answer text since the
  previous marker, with parenthetical notes dropped) is a verbatim substring of the quote or at
  least half of the claim's content words (stemmed) occur in the quote — the same 0.5 rule the
  product uses when it attaches citations (`rag.answer.SUPPORT_MIN`);
- declining: precision and recall of "declined" against "not answerable";
- latency: p50/p95 per stage from `Answer.timings`;
- RealTimeQA: whether an answer text occurs in the top-k passages, and whether an answer names the
  correct choice and none of the others.

Deliberately not here: running the pipeline, LLM judges (`evals.judges`), files and printing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from llama_index.core.evaluation.retrieval.metrics import MRR, HitRate

from rag.answering.answer import SUPPORT_MIN, overlap, without_markers
from rag.spans.features import ARTICLE
from rag.text import places
from rag.text.rules import fold, percent_signs

# --- normalisation ---------------------------------------------------------------------------------

_UNITS = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
        ]
    )
}
_TENS = {
    w: 10 * i
    for i, w in enumerate(
        ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"], 2
    )
}
_NUMWORD = re.compile(
    r"\b(?:(?P<tens>"
    + "|".join(_TENS)
    + r")(?:[\s-](?P<unit>"
    + "|".join(list(_UNITS)[1:10])
    + r"))?"
    r"|(?P<small>" + "|".join(_UNITS) + r"))\b"
)


def _number_word(m: re.Match[str]) -> str:
    if m.group("small"):
        return str(_UNITS[m.group("small")])
    return str(_TENS[m.group("tens")] + (_UNITS[m.group("unit")] if m.group("unit") else 0))


def normalize(text: str) -> str:
    """Lower-case text with typographic variants, percent spellings and number words unified."""
    t = fold(unicodedata.normalize("NFKC", text))
    t = re.sub(r"(?<=\d),(?=\d{3}\b)", "", t)  # 1,000 -> 1000
    t = _NUMWORD.sub(_number_word, t)
    t = percent_signs(t)
    t = re.sub(r"(\d)\s+%", r"\1%", t)
    t = re.sub(r"(\d)\s*bn\b", r"\1 billion", t)
    return re.sub(r"\s+", " ", t).strip()


# a person's title before the name
# ("President Joe Biden", "Gov. Ron DeSantis"), after up to two words that say of where or what
# ("Florida Gov. Ron DeSantis", "Ukrainian President Volodymyr Zelensky", "Tesla CEO Elon Musk")
_TITLE = re.compile(
    r"^(?:[\w.'’-]+\s+){0,2}?(?:President|Vice President|Prime Minister|"
    r"Chancellor|King|Queen|Prince|Princess|Pope|Governor|Gov\.|Senator|Sen\.|Representative|"
    r"Rep\.|Secretary of State|Secretary|Mayor|Judge|Justice|Chief Justice|General|Gen\.|Dr\.|"
    r"Mr\.|Mrs\.|Ms\.|Sir|Dame|Lord|Lady|Speaker|Minister|Foreign Minister|Defense Secretary|"
    r"Coach|CEO|Duke|Duchess)\s+",
    re.I,
)


def _pattern(form: str) -> re.Pattern[str]:
    # a title's quotation marks are no part of it: "The Road" is named by The Road
    norm = re.sub(r'^["\'](.+)["\']$', r"\1", normalize(form))
    pre = ""
    if norm[:1].isdigit():
        pre = r"(?<![\w])(?<!\d[.,])"  # not "3.5%" for "5%", not "12%" for "2%"
    elif norm[:1].isalpha():
        pre = r"(?<![\w])"  # a word start: not "comparison" for "Paris"
    post = r"(?!\d)(?![.,]\d)" if norm[-1:].isdigit() else ""
    return re.compile(pre + re.escape(norm) + post)


def fact_found(forms: Sequence[str], text: str) -> bool:
    """A key fact (its acceptable forms) is in the text when any form is."""
    norm = normalize(text)
    return any(f.strip() and _pattern(f).search(norm) is not None for f in forms)


def prose(answer: str) -> str:
    """An answer's words without its citation markers: "[4]" points at a source, it does not
    say "4" (read as a number, "three [4]." named both three and four)."""
    return without_markers(answer)


def key_fact_recall(key_facts: Sequence[Sequence[str]], answer: str) -> float | None:
    """Share of the key facts found in the answer (its prose, not its citation markers); None
    when there are no key facts."""
    if not key_facts:
        return None
    text = prose(answer)
    return sum(fact_found(forms, text) for forms in key_facts) / len(key_facts)


def reference_overlap(reference: str, answer: str) -> float | None:
    """Share of the reference answer's content words (stemmed) that the answer contains."""
    if not reference.strip():
        return None
    return overlap(reference, prose(answer))


# --- retrieval -------------------------------------------------------------------------------------


def ranked_article_ids(passages: Sequence[Any], expected: Iterable[str]) -> list[str]:
    """One id per passage, in rank order: an expected article the passage stands for (itself or a
    syndicated copy it folded in) if any, else its own article id."""
    want = set(expected)
    out = []
    for p in passages:
        ids = [p.article_id, *getattr(p, "also_in", [])]
        out.append(next((a for a in ids if a in want), p.article_id))
    return out


def hit_at_k(expected: Sequence[str], retrieved: Sequence[str], k: int) -> float | None:
    """1.0 when one of the first k retrieved ids is expected; None when nothing is expected."""
    if not expected:
        return None
    if not retrieved[:k]:
        return 0.0
    return float(
        HitRate().compute(expected_ids=list(expected), retrieved_ids=list(retrieved[:k])).score
    )


def reciprocal_rank(expected: Sequence[str], retrieved: Sequence[str], k: int) -> float | None:
    """1/rank of the first expected id among the first k (0 if none); None if nothing expected."""
    if not expected:
        return None
    if not retrieved[:k]:
        return 0.0
    return float(
        MRR().compute(expected_ids=list(expected), retrieved_ids=list(retrieved[:k])).score
    )


# --- citations -------------------------------------------------------------------------------------

_MARKER = re.compile(r"\[(\d+)\]")
_MARKER_RUN = re.compile(r"(?:\s*\[\d+\])+")


@dataclass
class CitationCheck:
    valid: bool
    problems: list[str] = field(default_factory=list)


def citation_validity(text: str, numbers: Sequence[int], declined: bool) -> CitationCheck:
    """Every [n] in `text` resolves to a citation number, every citation is used, numbers are
    unique, and an answer that does not decline has at least one citation."""
    problems: list[str] = []
    markers = [int(n) for n in _MARKER.findall(text)]
    known = set(numbers)
    if len(known) != len(numbers):
        problems.append("two citations share a number")
    for n in dict.fromkeys(markers):
        if n not in known:
            problems.append(f"marker [{n}] points at no citation")
    for n in numbers:
        if n not in markers:
            problems.append(f"citation [{n}] is never used in the answer")
    if not declined and text.strip() and not markers:
        problems.append("the answer cites nothing")
    return CitationCheck(valid=not problems, problems=problems)


def _drop_parentheticals(text: str) -> str:
    prev = None
    while prev != text:
        prev, text = text, re.sub(r"\([^()]*\)", " ", text)
    return text


def claims_by_marker(text: str) -> dict[int, list[str]]:
    """For each citation number, the claims it is attached to: the text since the previous run of
    markers (or the start), stripped of leading punctuation."""
    out: dict[int, list[str]] = {}
    last = 0
    for m in _MARKER_RUN.finditer(text):
        claim = text[last : m.start()].strip().lstrip(".,;:!?)]” ").strip()
        last = m.end()
        for n in dict.fromkeys(int(x) for x in _MARKER.findall(m.group(0))):
            out.setdefault(n, []).append(claim)
    return out


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", normalize(text)).strip()


def supports(claim: str, quote: str) -> bool:
    """The support heuristic: the claim is in the quote verbatim, or at least half of its content
    words are (tried with and without parenthetical notes, e.g. resolved dates)."""
    q = _squash(quote)
    for c in (claim, _drop_parentheticals(claim)):
        c = c.strip()
        if not c:
            continue
        cs = _squash(c).strip(" .,;:\"'")
        if cs and cs in q:
            return True
        if overlap(c, quote) >= SUPPORT_MIN:
            return True
    return False


@dataclass
class SupportCheck:
    score: float | None  # share of (citation, claim) pairs that are grounded and supported
    grounded: float | None  # share of citations whose quote is in the cited chunk
    problems: list[str] = field(default_factory=list)


def citation_support(
    text: str, citations: Sequence[Any], chunk_texts: Mapping[str, str]
) -> SupportCheck:
    """Check each citation's quote against its chunk's text and against the claims it backs.

    `citations` are `rag.answer.Citation`s (number, chunk_id, quote); `chunk_texts` maps chunk ids
    to their stored text. A quote made of several sentences joined by " … " must have each of
    them in the chunk."""
    if not citations:
        return SupportCheck(None, None)
    claims = claims_by_marker(text)
    problems: list[str] = []
    pairs = ok = grounded_n = 0
    for c in citations:
        chunk = chunk_texts.get(c.chunk_id)
        parts = [p for p in re.split(r"\s*…\s*", c.quote) if p.strip()] or [c.quote]
        if chunk is None:
            grounded = False
            problems.append(f"[{c.number}] cites chunk {c.chunk_id}, which is not in the index")
        else:
            ch = _squash(chunk)
            grounded = all(_squash(p) in ch for p in parts)
            if not grounded:
                problems.append(f"[{c.number}] quotes text that is not in chunk {c.chunk_id}")
        grounded_n += grounded
        for claim in claims.get(c.number, []):
            pairs += 1
            backed = supports(claim, c.quote)
            if not backed:
                problems.append(f"[{c.number}] does not support: {claim[:80]!r}")
            ok += grounded and backed
    return SupportCheck(
        score=ok / pairs if pairs else None,
        grounded=grounded_n / len(citations),
        problems=problems,
    )


# --- declining -------------------------------------------------------------------------------------


def decline_scores(pairs: Iterable[tuple[bool, bool]]) -> dict[str, float | None]:
    """From (declined, answerable) pairs: precision = unanswerable among the declined, recall =
    declined among the unanswerable, accuracy = declined == not answerable. None when undefined."""
    pairs = list(pairs)
    declined = [a for d, a in pairs if d]
    unanswerable = [d for d, a in pairs if not a]
    tp = sum(1 for a in declined if not a)
    return {
        "decline_precision": tp / len(declined) if declined else None,
        "decline_recall": tp / len(unanswerable) if unanswerable else None,
        "decline_accuracy": (sum(d == (not a) for d, a in pairs) / len(pairs)) if pairs else None,
    }


# --- latency ---------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100, linear interpolation); None for no values."""
    if not values:
        return None
    return float(np.percentile(np.asarray(values, dtype=float), q))


def latency_summary(timings: Iterable[Mapping[str, float]]) -> dict[str, dict[str, float | None]]:
    """p50 and p95 seconds per stage (retrieve, generate, total, …) over the answers."""
    stages: dict[str, list[float]] = {}
    for t in timings:
        for stage, seconds in t.items():
            stages.setdefault(stage, []).append(float(seconds))
    return {
        s: {"p50": percentile(v, 50), "p95": percentile(v, 95), "n": float(len(v))}
        for s, v in stages.items()
    }


# --- RealTimeQA ------------------------------------------------------------------------------------


def answer_in_passages(answers: Sequence[str], passages: Sequence[str], k: int) -> bool:
    """Whether an answer text occurs in one of the first k passage texts (answer-recall@k)."""
    return any(fact_found(answers, p) for p in passages[:k])


def names_choice(answer: str, choices: Sequence[str], correct: Sequence[str]) -> bool:
    """The answer contains the correct choice's text (a country: any of its names) and none of
    the other choices' (a wrong choice that only occurs inside the correct one, e.g. "Bills" in
    "Buffalo Bills", is ignored). Citation markers are not read: "[2]" names no "Two"."""
    answer = prose(answer)
    norm = normalize(answer)
    found = False
    for c in correct:
        if c.strip():
            pat = _pattern(c)
            if pat.search(norm):
                found = True
                norm = pat.sub(" ", norm)
    if not found:
        # "Joe Biden" names "President Joe Biden", "umbrella" names "An umbrella", when no
        # other choice is that name too
        for c in correct:
            bare = _TITLE.sub("", c.strip())
            titled = bare != c.strip() and len(bare.split()) >= 2
            if not titled:  # "umbrella" names "An umbrella": an article is no part of it
                bare = ARTICLE.sub("", c.strip())
                titled = bare != c.strip() and bool(bare)
            if titled and _pattern(bare).search(norm):
                others = [o for o in choices if o not in correct]
                if not any(_pattern(bare).search(normalize(o)) for o in others):
                    found = True
                    norm = _pattern(bare).sub(" ", norm)
    if not found:
        # a country is named by any of its names: "Britain" names the United Kingdom (the
        # other choices are still read by their own words only)
        codes = {code for c in correct if (code := places.country_code(c.strip()))}
        found = bool(codes & places.countries_in(answer))
    if not found:
        return False
    wrong = [c for c in choices if c.strip() and c not in correct]
    return not any(_pattern(c).search(norm) for c in wrong)


def calibration(p: np.ndarray, y: np.ndarray, bins: int = 10) -> tuple[float, list[dict[str, Any]]]:
    """Expected calibration error and the reliability table (per probability bin: how many,
    the mean probability said, how often right)."""
    table: list[dict[str, Any]] = []
    ece = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = (p >= lo) & ((p < hi) if b < bins - 1 else (p <= hi))
        n = int(inside.sum())
        if not n:
            continue
        said, right = float(p[inside].mean()), float(y[inside].mean())
        ece += n / len(p) * abs(said - right)
        table.append({"bin": f"{lo:.1f}-{hi:.1f}", "n": n, "said": said, "right": right})
    return ece, table


def confidence_summary(rated: Sequence[tuple[float, bool, bool]], questions: int) -> dict[str, Any]:
    """Of (confidence, said as sure, right) for each short answer that had a confidence, among
    `questions`: the expected calibration error, the reliability table, the share of the
    questions answered as sure and how often those were right."""
    if not rated:
        return {}
    p = np.array([c for c, _, _ in rated], dtype=float)
    y = np.array([r for _, _, r in rated], dtype=float)
    ece, table = calibration(p, y)
    sure = [r for _, s, r in rated if s]
    return {
        "confidence_ece": ece,
        "sure_share": len(sure) / questions if questions else None,
        "sure_right": sum(sure) / len(sure) if sure else None,
        "reliability": table,
    }


# --- aggregation -----------------------------------------------------------------------------------


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the defined values; None when none is defined."""
    vals = [float(v) for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None
