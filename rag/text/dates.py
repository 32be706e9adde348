"""Dates in text: the month and day names, parsing a date however an article or a data row writes
it, and reading relative dates ("next Monday", "on Thursday", "last week") against the date of the
article that says them. Pure functions; no guessing when there is no date to read against.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = (
    "january", "february", "march", "april", "may", "june", "july",
    "august", "september", "october", "november", "december",
)  # fmt: skip
_DAYS, _MONTHS = list(DAYS), list(MONTHS)
_EXPR = re.compile(
    r"\b(?:(next|last|this|on|since|by|until)\s+)?(" + "|".join(_DAYS) + r")\b|"
    r"\b(today|yesterday|tomorrow)\b|"
    r"\b(last|next|this)\s+(week|month|year)\b|"
    r"\b(last|next|this)\s+(" + "|".join(_MONTHS) + r")\b",
    re.I,
)
_FUTURE = re.compile(
    r"\b(will|is to|are to|to be held|is due|are due|set to|plans? to|next)\b", re.I
)
# a sentence that tells of something still to come ("Rutte will give a speech at Chatham House",
# "allies meet in The Hague later this month"), for an answer to decline what the articles only
# announce; wider than `_FUTURE`, which only decides whether a bare "Thursday" is the next one
AHEAD = re.compile(
    r"\b(?:will|shall|won['’]t|would)\b|['’]ll\b|"
    r"\b(?:set|due|expected|scheduled|poised|slated|going) to\b|"
    r"\b(?:next|later this|coming) (?:week|month|year|spring|summer|autumn|fall|winter|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b|\bupcoming\b|\bahead of\b|"
    r"\bin the (?:lead|run)[ -]up to\b|\bplans? to\b|\bon (?:track|course) to\b",
    re.I,
)


# the days a question can be asked as of: far enough from the calendar's ends that reading
# "next week" or "last year" against them stays a date (9999-12-31 + a week is none)
AS_OF_FIRST, AS_OF_LAST = date(1000, 1, 1), date(9000, 12, 31)


def check_as_of(day: date) -> date:
    """`day`, if a question can be asked as of it; else ValueError saying which days can."""
    if not AS_OF_FIRST <= day <= AS_OF_LAST:
        raise ValueError(
            f"as_of {day.isoformat()} is out of range: ask as of a day from "
            f"{AS_OF_FIRST.isoformat()} to {AS_OF_LAST.isoformat()}"
        )
    return day


def fmt(d: date) -> str:
    return f"{d.strftime('%A')} {d.day} {d.strftime('%B %Y')}"


def resolve(sentence: str, published: date) -> list[tuple[str, str]]:
    """(expression, what it means) for every relative date in the sentence."""
    out: list[tuple[str, str]] = []
    future = bool(_FUTURE.search(sentence))
    for m in _EXPR.finditer(sentence):
        expr = m.group(0)
        low = expr.lower()
        if m.group(2):
            target = _DAYS.index(m.group(2).lower())
            mod = (m.group(1) or "").lower()
            delta = (target - published.weekday()) % 7
            if mod == "next" or (mod != "last" and future and delta):
                d = published + timedelta(days=delta or 7)
            elif mod == "last":
                d = published - timedelta(days=((published.weekday() - target) % 7) or 7)
            else:  # "on Thursday", "said Thursday": the latest such day, on or before publication
                d = published - timedelta(days=(published.weekday() - target) % 7)
            out.append((expr, fmt(d)))
        elif m.group(3):
            shift = {"today": 0, "yesterday": -1, "tomorrow": 1}[low]
            out.append((expr, fmt(published + timedelta(days=shift))))
        elif m.group(5):
            mod, unit = m.group(4).lower(), m.group(5).lower()
            step = {"last": -1, "next": 1, "this": 0}[mod]
            if unit == "week":
                monday = published - timedelta(days=published.weekday()) + timedelta(weeks=step)
                out.append((expr, f"the week of {fmt(monday)}"))
            elif unit == "month":
                y, mth = divmod(published.month - 1 + step, 12)
                out.append((expr, date(published.year + y, mth + 1, 1).strftime("%B %Y")))
            else:
                out.append((expr, str(published.year + step)))
        elif m.group(7):
            mod, month = m.group(6).lower(), _MONTHS.index(m.group(7).lower()) + 1
            year = published.year
            if mod == "last" and month >= published.month:
                year -= 1
            if mod == "next" and month <= published.month:
                year += 1
            out.append((expr, f"{date(year, month, 1).strftime('%B')} {year}"))
    return out


_ISO_START = re.compile(r"^(\d{4})[-/]?(\d{2})[-/]?(\d{2})")
_FORMATS = ("%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%a, %d %b %Y %H:%M:%S %Z")


def parse_date(value: object) -> date | None:
    """ISO dates and datetimes, YYYYMMDD, YYYY/MM/DD, 'September 10, 2025', '10 September 2025'
    and RFC 822 ('Wed, 10 Sep 2025 08:00:00 GMT'); None for anything else."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    m = _ISO_START.match(text)
    if m:
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return None
    for pattern in _FORMATS:
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


def parse_day(value: str) -> date:
    """A date a person typed (CLI option, UI field): YYYY-MM-DD, else ValueError saying so."""
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a date like 2025-06-05") from None


@dataclass(frozen=True)
class Period:
    """A span of days a question refers to ("this week"), read against its as-of date."""

    expression: str
    start: date
    end: date

    def describe(self) -> str:
        if self.start == self.end:
            return f"“{self.expression}” = {fmt(self.start)}"
        return f"“{self.expression}” = {fmt(self.start)} to {fmt(self.end)}"


_QUESTION_PERIOD = re.compile(
    r"\b(?:(this|last|past|previous|next) (week|weekend|month|year)|"
    r"(today|tonight|yesterday|(?:in|on|during|since|this|last) (?:the )?past (?:few|several|\d+) days)|"
    r"(?:(in|during|this|last) )?(" + "|".join(MONTHS) + r")(?: (\d{4}))?|"
    r"(?:(on|last|this) )?(" + "|".join(DAYS) + r")|"
    r"(?:in|during) (\d{4}))\b",
    re.I,
)


def _month_end(year: int, month: int) -> date:
    y, m = divmod(month, 12)
    return date(year + y, m + 1, 1) - timedelta(days=1)


def question_period(question: str, as_of: date) -> Period | None:
    """The first relative or calendar period the question names ("this week", "last month",
    "in June", "yesterday", "on Monday", "in 2024"), as days up to `as_of`; None if it names
    none. A month or weekday without a year is the latest one on or before `as_of`."""
    for m in _QUESTION_PERIOD.finditer(question):
        expr = m.group(0)
        if m.group(2):
            mod, unit = m.group(1).lower(), m.group(2).lower()
            back = mod in ("last", "past", "previous")
            if mod == "next":
                continue  # the future: no article can be about it yet
            if unit in ("week", "weekend"):
                monday = as_of - timedelta(days=as_of.weekday())
                if back:
                    return Period(expr, monday - timedelta(days=7), monday - timedelta(days=1))
                return Period(expr, monday, as_of)
            if unit == "month":
                first = as_of.replace(day=1)
                if back:
                    prev = first - timedelta(days=1)
                    return Period(expr, prev.replace(day=1), prev)
                return Period(expr, first, as_of)
            year = as_of.year - 1 if back else as_of.year
            return Period(expr, date(year, 1, 1), min(date(year, 12, 31), as_of))
        if m.group(3):
            low = m.group(3).lower()
            if low in ("today", "tonight"):
                return Period(expr, as_of, as_of)
            if low == "yesterday":
                day = as_of - timedelta(days=1)
                return Period(expr, day, day)
            n = re.search(r"\d+", low)
            days = int(n.group(0)) if n else 7
            return Period(expr, as_of - timedelta(days=days), as_of)
        if m.group(5):
            month = MONTHS.index(m.group(5).lower()) + 1
            after = question[m.end() :].lstrip().lower()
            verb = re.match(r"(?:i|we|you|he|she|they|it|there|not|be|have|also)\b", after)
            if month == 5 and not m.group(4) and not m.group(6) and (m.group(5) == "may" or verb):
                continue  # the verb "may" ("What may happen?", "May I ask …")
            year = int(m.group(6)) if m.group(6) else as_of.year
            if not m.group(6) and (month > as_of.month or (m.group(4) or "").lower() == "last"):
                year -= 1
            end = min(_month_end(year, month), as_of)
            if end < date(year, month, 1):
                continue
            return Period(expr, date(year, month, 1), end)
        if m.group(8):
            target = DAYS.index(m.group(8).lower())
            days_back = (as_of.weekday() - target) % 7
            if (m.group(7) or "").lower() == "last" and days_back == 0:
                days_back = 7
            day = as_of - timedelta(days=days_back)
            return Period(expr, day, day)
        if m.group(9):
            year = int(m.group(9))
            if year > as_of.year:
                continue
            return Period(expr, date(year, 1, 1), min(date(year, 12, 31), as_of))
    return None
