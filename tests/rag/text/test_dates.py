"""rag.dates: parsing dates however articles write them, reading relative dates, and the periods
questions name ("this week", "in June") read against the date they are asked as of."""

from __future__ import annotations

from datetime import date

import pytest

from rag.text.dates import DAYS, MONTHS, Period, parse_date, parse_day, question_period, resolve


def test_parse_date_forms() -> None:
    assert parse_date("2025-06-05") == date(2025, 6, 5)
    assert parse_date("2023-01-05T10:00:00Z") == date(2023, 1, 5)
    assert parse_date("20230106") == date(2023, 1, 6)
    assert parse_date("2023/01/06") == date(2023, 1, 6)
    assert parse_date("September 10, 2025") == date(2025, 9, 10)
    assert parse_date("10 September 2025") == date(2025, 9, 10)
    assert parse_date("Wed, 10 Sep 2025 08:00:00 GMT") == date(2025, 9, 10)
    assert parse_date("next week") is None
    assert parse_date("") is None
    assert parse_date(None) is None
    assert parse_date("2025-13-45") is None


def test_parse_day_is_strict_and_says_what_it_wants() -> None:
    assert parse_day(" 2025-06-05 ") == date(2025, 6, 5)
    with pytest.raises(ValueError, match="is not a date like 2025-06-05"):
        parse_day("5 June")


def test_name_lists() -> None:
    assert len(DAYS) == 7 and DAYS[0] == "monday"
    assert len(MONTHS) == 12 and MONTHS[-1] == "december"


def test_resolve_relative_dates() -> None:
    thursday = date(2025, 6, 5)
    assert resolve("Starmer will host Rutte next Monday", thursday) == [
        ("next Monday", "Monday 9 June 2025")
    ]
    assert resolve("the government said Thursday", thursday) == [
        ("Thursday", "Thursday 5 June 2025")
    ]
    assert resolve("he spoke on Wednesday", thursday) == [("on Wednesday", "Wednesday 4 June 2025")]
    assert resolve("hosted Rutte on Tuesday", date(2025, 9, 10)) == [
        ("on Tuesday", "Tuesday 9 September 2025")
    ]
    assert resolve("an earlier visit last October", thursday) == [("last October", "October 2024")]
    assert resolve("released yesterday", thursday) == [("yesterday", "Wednesday 4 June 2025")]
    assert resolve("no dates here", thursday) == []


# --- periods a question names, read against the date it is asked as of ----------------------
FRIDAY = date(2025, 6, 6)


@pytest.mark.parametrize(
    ("question", "as_of", "expression", "start", "end"),
    [
        ("What did Starmer say this week?", FRIDAY, "this week", date(2025, 6, 2), FRIDAY),
        ("What happened last week?", FRIDAY, "last week", date(2025, 5, 26), date(2025, 6, 1)),
        ("What was agreed this month?", FRIDAY, "this month", date(2025, 6, 1), FRIDAY),
        ("What was agreed last month?", FRIDAY, "last month", date(2025, 5, 1), date(2025, 5, 31)),
        (
            "What was agreed last month?",
            date(2025, 1, 15),
            "last month",
            date(2024, 12, 1),
            date(2024, 12, 31),
        ),
        ("What did Rutte say in June?", FRIDAY, "in June", date(2025, 6, 1), FRIDAY),
        ("What did Rutte say in May?", FRIDAY, "in May", date(2025, 5, 1), date(2025, 5, 31)),
        # June asked in March: last year's June
        (
            "What did Rutte say in June?",
            date(2025, 3, 10),
            "in June",
            date(2024, 6, 1),
            date(2024, 6, 30),
        ),
        ("What happened in May 2024?", FRIDAY, "in May 2024", date(2024, 5, 1), date(2024, 5, 31)),
        ("What happened yesterday?", FRIDAY, "yesterday", date(2025, 6, 5), date(2025, 6, 5)),
        ("What did the minister announce today?", FRIDAY, "today", FRIDAY, FRIDAY),
        ("What did Healey say on Monday?", FRIDAY, "on Monday", date(2025, 6, 2), date(2025, 6, 2)),
        ("What did Healey say on Friday?", FRIDAY, "on Friday", FRIDAY, FRIDAY),
        (
            "What did Healey say last Friday?",
            FRIDAY,
            "last Friday",
            date(2025, 5, 30),
            date(2025, 5, 30),
        ),
        ("How much was spent in 2024?", FRIDAY, "in 2024", date(2024, 1, 1), date(2024, 12, 31)),
        ("How much was spent this year?", FRIDAY, "this year", date(2025, 1, 1), FRIDAY),
    ],
)
def test_question_period(
    question: str, as_of: date, expression: str, start: date, end: date
) -> None:
    assert question_period(question, as_of) == Period(expression, start, end)


@pytest.mark.parametrize(
    "question",
    [
        "Who will Starmer meet next week?",  # the future: no article is about it yet
        "What did Rutte say about defence spending?",  # no period
        "What may happen to the 3% target?",  # the verb
        "What will happen in 2030?",  # a year after as_of
    ],
)
def test_question_period_none(question: str) -> None:
    assert question_period(question, FRIDAY) is None


def test_question_period_skips_the_future_and_the_verb_for_a_later_period() -> None:
    p = question_period("What may Starmer say next week about what he said this week?", FRIDAY)
    assert p == Period("this week", date(2025, 6, 2), FRIDAY)


def test_question_period_capitalised_verb_may() -> None:
    assert question_period("May I ask what happened in June?", FRIDAY) == Period(
        "in June", date(2025, 6, 1), FRIDAY
    )


def test_period_describe() -> None:
    week = question_period("What did Starmer say this week?", FRIDAY)
    assert week is not None
    assert week.describe() == "“this week” = Monday 2 June 2025 to Friday 6 June 2025"
    day = question_period("What happened yesterday?", FRIDAY)
    assert day is not None
    assert day.describe() == "“yesterday” = Thursday 5 June 2025"
