"""Cleaning on the seed articles: boilerplate out, metadata in, every story sentence kept."""

from __future__ import annotations

from datetime import date

from index.clean import clean, split_paragraphs
from tests.conftest import SEEDS


def _clean(stem: str):  # type: ignore[no-untyped-def]
    path = next(SEEDS.glob(f"{stem}_*.txt"))
    return clean(path.read_text())


def test_donation_appeal_removed_and_publisher_found() -> None:
    c = _clean("003")
    body = "\n".join(c.paragraphs)
    assert "Your support helps us" not in body
    assert "donation" not in body.lower()
    assert c.source == "The Independent"
    assert c.paragraphs[0].startswith("The head of Nato has piled further pressure")


def test_headline_list_and_labels_removed() -> None:
    c = _clean("004")
    body = "\n".join(c.paragraphs)
    for junk in (
        "RECOMMENDED",
        "Explore",
        "RelatedTRT",
        "Berlin whipping up spy mania",
        "UNRWA",
        "1 min read",
        "SOURCE:AA",
    ):
        assert junk not in body
    assert c.source == "AA"
    assert c.date == date(2025, 9, 10)
    assert (
        c.title
        == "NATO chief, UK prime minister vow stronger military backing for Ukraine after London talks"
    )
    # the story itself is all there, including the paragraph right after "RECOMMENDED"
    assert any(
        p.startswith("Earlier in the day, Rutte also held separate meetings") for p in c.paragraphs
    )
    assert c.paragraphs[-1].startswith("Rutte praised the UK's commitment")
    # the repeated headline is gone from the body
    assert all("vow stronger military backing" not in p for p in c.paragraphs)


def test_read_more_listen_and_picture_credits_removed() -> None:
    c = _clean("001")
    body = "\n".join(c.paragraphs)
    for junk in ("Read More:", "Listen to this article", "Picture: Getty", "By Alice Padgett"):
        assert junk not in body
    assert c.author == "Alice Padgett"
    assert c.date == date(2025, 6, 5)
    assert (
        c.title
        == "Keir Starmer will meet head of NATO next week after proposed defence spending hike"
    )
    assert "Speaking at a press conference on Wednesday, Mr Rutte said:" in body
    assert any("performative fantasy politics" in p for p in c.paragraphs)


def test_date_line_sharing_the_lede() -> None:
    c = _clean("000")
    assert c.date == date(2025, 6, 5)
    assert c.paragraphs[0].startswith(
        "LONDON: UK Prime Minister Keir Starmer will host NATO head Mark Rutte"
    )
    assert c.title and c.title.startswith("UK Prime Minister Keir Starmer will host NATO head")
    assert len(c.paragraphs) == 12  # nothing of the story dropped


def test_single_newline_paragraphs_and_hard_wrapped_prose() -> None:
    assert split_paragraphs("One sentence.\nTwo sentence.") == ["One sentence.", "Two sentence."]
    assert split_paragraphs("A line that wraps\nin the middle.\n\nNext.") == [
        "A line that wraps in the middle.",
        "Next.",
    ]
