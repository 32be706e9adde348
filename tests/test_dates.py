"""rag.dates: parsing dates however articles write them, and reading relative dates."""

from __future__ import annotations

from datetime import date

import pytest

from rag.dates import DAYS, MONTHS, parse_date, parse_day, resolve


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
