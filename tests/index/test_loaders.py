"""Loaders: every supported format, and what each kind of bad file gets (a reported problem)."""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from index.loaders import Article, LoadProblem, discover, load
from tests.conftest import SEEDS


def _all(path: Path) -> list[Article | LoadProblem]:
    return list(load(path))


def test_seed_txt_metadata() -> None:
    (art,) = _all(next(SEEDS.glob("001_*.txt")))
    assert isinstance(art, Article)
    assert art.id == "001_529e3f3e4383d2b0"
    assert art.author == "Alice Padgett"
    assert art.date == date(2025, 6, 5)
    assert art.location.endswith("001_529e3f3e4383d2b0.txt")


def test_markdown_with_front_matter(tmp_path: Path) -> None:
    f = tmp_path / "story.md"
    f.write_text(
        "---\ntitle: Budget vote passes\ndate: 2025-03-02\nauthor: Jo Reporter\nsource: Example Times\n---\n"
        "# Ignored heading\n\nThe **budget** passed by [ten votes](http://x).\n\n- A list item sentence.\n"
    )
    (art,) = _all(f)
    assert isinstance(art, Article)
    assert (art.title, art.date, art.author, art.source) == (
        "Budget vote passes",
        date(2025, 3, 2),
        "Jo Reporter",
        "Example Times",
    )
    assert "The budget passed by ten votes." in art.paragraphs


def test_html_meta_and_skipped_chrome(tmp_path: Path) -> None:
    f = tmp_path / "page.html"
    f.write_text(
        "<html><head><title>T</title><meta property='og:title' content='Council approves park'>"
        "<meta name='author' content='Sam Lee'><meta property='article:published_time' content='2024-05-01T09:00:00Z'>"
        "<meta property='og:site_name' content='City Paper'><script>var x=1;</script></head><body>"
        "<nav>Home | News</nav><h1>Council approves park</h1><p>The council approved the park on Monday.</p>"
        "<p>Work starts in June.</p><footer>Copyright</footer></body></html>"
    )
    (art,) = _all(f)
    assert isinstance(art, Article)
    assert art.title == "Council approves park"
    assert (art.author, art.source, art.date) == ("Sam Lee", "City Paper", date(2024, 5, 1))
    assert art.paragraphs == ["The council approved the park on Monday.", "Work starts in June."]


def test_jsonl_bad_lines_cost_only_themselves(tmp_path: Path) -> None:
    f = tmp_path / "rows.jsonl"
    rows = [
        json.dumps(
            {
                "id": "a1",
                "title": "First",
                "text": "Alpha happened today.",
                "url": "https://www.example.com/a",
                "authors": ["X Y"],
                "published": "2023-01-02",
            }
        ),
        "{not json",
        json.dumps({"title": "No text"}),
        json.dumps([1, 2]),
        json.dumps({"title": "Second", "body": "Beta happened.", "source": "Wire"}),
    ]
    f.write_text("\n".join(rows) + "\n")
    items = _all(f)
    arts = [i for i in items if isinstance(i, Article)]
    probs = [i for i in items if isinstance(i, LoadProblem)]
    assert [a.title for a in arts] == ["First", "Second"]
    assert (
        arts[0].source == "example.com"
        and arts[0].author == "X Y"
        and arts[0].date == date(2023, 1, 2)
    )
    assert arts[1].source == "Wire" and arts[1].id.startswith("a-")
    assert [p.location.rsplit(":", 1)[1] for p in probs] == ["2", "3", "4"]
    assert "not valid JSON" in probs[0].message


def test_gzipped_jsonl(tmp_path: Path) -> None:
    f = tmp_path / "rows.jsonl.gz"
    with gzip.open(f, "wt") as fh:
        fh.write(json.dumps({"id": "g1", "title": "Zipped", "text": "It was compressed."}) + "\n")
    (art,) = _all(f)
    assert isinstance(art, Article) and art.id == "g1"


def test_bad_files_are_reported_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02 binary")
    (tmp_path / "corrupt.jsonl.gz").write_bytes(b"not gzip at all")
    (tmp_path / "notes.pdf").write_bytes(b"%PDF")
    files, problems = discover([tmp_path, tmp_path / "missing.txt", tmp_path / "notes.pdf"])
    assert sorted(f.name for f in files) == ["binary.txt", "corrupt.jsonl.gz", "empty.txt"]
    assert {p.message.split(";")[0] for p in problems} == {
        "no such file or folder",
        "unsupported file type",
    }
    results = {f.name: list(load(f)) for f in files}
    assert all(len(r) == 1 and isinstance(r[0], LoadProblem) for r in results.values())
    assert "no article text" in results["empty.txt"][0].message  # type: ignore[union-attr]
    assert "binary" in results["binary.txt"][0].message  # type: ignore[union-attr]


# --- bounds (issue "Hostile clients") ---------------------------------------------------------


def _naive(text: str, line_chars: int) -> list[tuple[int, str | None]]:
    return [
        (n, None if len(line) > line_chars else line)
        for n, line in enumerate(text.split("\n"), 1)
        if line.strip() or len(line) > line_chars
    ]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a",
        "a\nb\n",
        "\n\n\nx\n\n y \n",
        "short\n" + "L" * 50 + "\nafter\n",
        "L" * 50,
        "\n" * 10_000 + "end",
        "x\n" + ("y" * 45 + "\n") * 3 + "z" * 41 + "\nlast",
    ],
)
def test_bounded_lines_is_split_lines_without_blanks(text: str) -> None:
    import io

    from index import loaders
    from index.loaders import Limits, bounded_lines

    limits = Limits(line_chars=40)
    for block in (1, 7, 64, 1 << 20):
        loaders.BLOCK = block
        try:
            assert list(bounded_lines(io.StringIO(text), limits)) == _naive(text, 40), block
        finally:
            loaders.BLOCK = 1 << 20


def test_a_file_is_read_within_its_limits(tmp_path: Path) -> None:
    """A .jsonl.gz that expands past the limit stops with a problem naming the setting (the
    records before it are kept); a line past the longest is skipped; records past the count are
    not read; an article past the longest is refused; each problem names its setting."""
    import gzip

    from index.loaders import Limits, load

    good = json.dumps({"id": "ok", "title": "Pier", "text": "The pier reopened on Friday."})
    bomb = tmp_path / "bomb.jsonl.gz"
    bomb.write_bytes(gzip.compress((good + "\n" + "\n" * 3_000_000).encode()))
    limits = Limits(expanded_bytes=1_000_000)
    items = list(load(bomb, limits))
    assert [i.id for i in items if isinstance(i, Article)] == ["ok"]
    assert "RAG_INGEST__MAX_EXPANDED_BYTES" in items[-1].message  # type: ignore[union-attr]

    mixed = tmp_path / "mixed.jsonl"
    long = json.dumps({"title": "Long", "text": "word " * 100})
    mixed.write_text("\n".join([good, long, good.replace('"ok"', '"ok2"'), good]) + "\n")
    items = list(load(mixed, Limits(line_chars=200, records=2)))
    problems = [i.message for i in items if isinstance(i, LoadProblem)]
    assert [i.id for i in items if isinstance(i, Article)] == ["ok", "ok2"]
    assert "RAG_INGEST__MAX_LINE_CHARS" in problems[0] and "RAG_INGEST__MAX_RECORDS" in problems[1]

    big = tmp_path / "big.txt"
    big.write_text("Title\n\n" + "A long sentence of the article. " * 100)
    (problem,) = load(big, Limits(article_chars=1000))
    assert isinstance(problem, LoadProblem) and "RAG_INGEST__MAX_ARTICLE_CHARS" in problem.message


def test_a_deeply_nested_line_costs_only_itself(tmp_path: Path) -> None:
    """A JSON line nested past the parser's depth (it was a RecursionError that stopped the whole
    ingest) is one problem; the articles around it are read."""
    deep = '{"title": "x", "text": ' + "[" * 100_000 + "]" * 100_000 + "}"
    good = [json.dumps({"title": t, "text": f"{t} happened today."}) for t in ("One", "Two")]
    f = tmp_path / "rows.jsonl"
    f.write_text("\n".join([good[0], deep, good[1]]) + "\n")
    items = _all(f)
    assert [i.title for i in items if isinstance(i, Article)] == ["One", "Two"]
    (prob,) = [i for i in items if isinstance(i, LoadProblem)]
    assert prob.location.endswith(":2") and "nested too deeply" in prob.message
    whole = tmp_path / "deep.json"
    whole.write_text("[" * 100_000 + "]" * 100_000)
    (only,) = _all(whole)
    assert isinstance(only, LoadProblem) and "nested too deeply" in only.message


def test_a_page_of_200000_nested_divs_is_one_outcome_and_the_next_page_is_read(
    tmp_path: Path,
) -> None:
    """200,000 nested <div>s around a sentence (past every parser's depth): the page is read
    or refused as one problem, never a crash that stops the folder, and the page beside it is
    read as usual."""
    deep = tmp_path / "deep.html"
    deep.write_text(
        "<html><head><title>Deep</title></head><body>"
        + "<div>" * 200_000
        + "<p>The council met on Tuesday to approve the budget.</p>"
        + "</div>" * 200_000
        + "</body></html>"
    )
    fine = tmp_path / "fine.html"
    fine.write_text(
        "<html><head><title>Fine</title></head><body><article><p>"
        + "The mayor opened the new library on Monday morning. " * 5
        + "</p></article></body></html>"
    )
    (deep_out,) = _all(deep)
    assert isinstance(deep_out, (Article, LoadProblem))
    if isinstance(deep_out, LoadProblem):
        assert deep_out.message, "a refusal says why"
    (fine_out,) = _all(fine)
    assert isinstance(fine_out, Article) and "new library" in fine_out.text


def test_a_flood_of_blank_lines_is_counted_not_searched(monkeypatch: pytest.MonkeyPatch) -> None:
    """A small gzip that inflates to hundreds of MB of blank lines cost the server seconds of
    CPU (the line regex stepped through them a character at a time: issue 39, finding 10). A
    block of blank lines is now only counted: the regex reads none of it, and the lines around
    it keep their numbers."""
    import io
    import re

    from index import loaders
    from index.loaders import Limits, bounded_lines

    searched = 0
    real_compile = re.compile

    class Counting:
        def __init__(self, pattern: re.Pattern[str]) -> None:
            self.pattern = pattern

        def finditer(self, text: str, pos: int = 0) -> Any:
            nonlocal searched
            searched += len(text) - pos
            return self.pattern.finditer(text, pos)

    monkeypatch.setattr(loaders.re, "compile", lambda *a, **k: Counting(real_compile(*a, **k)))
    flood = "first\n" + "\n" * 20_000_000 + "   \n" * 2_000_000 + "last\n"
    got = list(bounded_lines(io.StringIO(flood), Limits(line_chars=2_000_000)))
    assert got == [(1, "first"), (22_000_002, "last")]
    assert searched < 3 * loaders.BLOCK  # the blocks holding text only, of 28 MB
