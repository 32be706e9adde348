"""Asking as of a date: no article published after it is used, and a period the question names
("this week") is read against it — through the service, the HTTP API and the CLI, on the
session's seeded store. The seeds are dated 2025-06-05 (000, 001) and 2025-09-10 (004); 002 and
003 are undated (undated articles are kept whatever the as-of date)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rag.answering.answer import Answer
from rag.pipeline import Pipeline
from rag.settings import Settings
from ui.api import create_app

FRIDAY = date(2025, 6, 6)  # the day after 000 and 001 were published, before 004
THIS_WEEK = "“this week” = Monday 2 June 2025 to Friday 6 June 2025"
HOST = "Who will Starmer host in London?"
SAID = "What did Starmer say this week?"
SEPTEMBER_ARTICLE = "004_"


def published_by(d: str, as_of: date) -> bool:
    return d == "" or date.fromisoformat(d) <= as_of


def all_dates(a: Answer) -> list[str]:
    return [c.date for c in (*a.citations, *a.related)]


@pytest.fixture(scope="module")
def client(pipeline: Pipeline) -> TestClient:
    # no `with`: the lifespan would close the shared session pipeline's backends on exit
    return TestClient(create_app(pipeline, ui=False))


# --- the service ------------------------------------------------------------------------------
def test_without_as_of_the_september_article_answers(pipeline: Pipeline) -> None:
    """The control for the tests below: today, 004 (2025-09-10) is among the sources."""
    a = pipeline.qa.ask(HOST)
    assert a.as_of == date.today().isoformat()
    assert any(c.article_id.startswith(SEPTEMBER_ARTICLE) for c in a.citations)


@pytest.mark.parametrize(
    ("question", "as_of"),
    [
        (HOST, FRIDAY),
        (HOST, date(2025, 6, 4)),  # before every dated article: only undated ones remain
        ("When did Starmer host Rutte at Downing Street?", FRIDAY),
        ("What did Rutte say about sticking with 2%?", date(2025, 9, 9)),
        (SAID, FRIDAY),
    ],
)
def test_no_article_after_as_of_is_used(pipeline: Pipeline, question: str, as_of: date) -> None:
    retrieved = pipeline.qa.retrieve(question, top_k=20, as_of=as_of)
    assert retrieved.passages
    assert all(published_by(p.date, as_of) for p in retrieved.passages), [
        p.date for p in retrieved.passages
    ]
    later = pipeline.qa.retrieve(question, top_k=20, as_of=date(2026, 1, 1))
    assert any(not published_by(p.date, as_of) for p in later.passages), "the control"
    a = pipeline.qa.ask(question, as_of=as_of)
    assert a.as_of == as_of.isoformat()
    assert a.citations or a.related
    assert all(published_by(d, as_of) for d in all_dates(a)), all_dates(a)


def test_before_every_dated_article_only_undated_ones_answer(pipeline: Pipeline) -> None:
    retrieved = pipeline.qa.retrieve(HOST, top_k=20, as_of=date(2025, 6, 4))
    assert {p.date for p in retrieved.passages} == {""}
    assert {p.article_id[:3] for p in retrieved.passages} <= {"002", "003"}


def test_this_week_is_read_against_as_of(pipeline: Pipeline) -> None:
    a = pipeline.qa.ask(SAID, as_of=FRIDAY)
    assert a.as_of == "2025-06-06"
    assert a.period == THIS_WEEK
    assert not a.declined and a.citations
    assert all(published_by(c.date, FRIDAY) for c in a.citations)
    # the period's articles come first: something from the week of 2 June is cited
    assert any(
        c.date and date(2025, 6, 2) <= date.fromisoformat(c.date) <= FRIDAY for c in a.citations
    )
    assert f"(as of 2025-06-06; {THIS_WEEK})" in a.to_text()


def test_a_question_without_a_period_has_none(pipeline: Pipeline) -> None:
    a = pipeline.qa.ask(HOST, as_of=FRIDAY)
    assert a.period is None and a.as_of == "2025-06-06"


# --- the HTTP API -----------------------------------------------------------------------------
def test_query_as_of_returns_as_of_and_period(client: TestClient) -> None:
    r = client.post("/v1/query", json={"question": SAID, "as_of": "2025-06-06"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["as_of"] == "2025-06-06"
    assert body["period"] == THIS_WEEK
    assert body["citations"] and all(published_by(c["date"], FRIDAY) for c in body["citations"])


def test_query_as_of_streamed(client: TestClient) -> None:
    body = {"question": HOST, "as_of": "2025-06-06", "stream": True}
    with client.stream("POST", "/v1/query", json=body) as r:
        assert r.status_code == 200
        answers = [
            json.loads(line[6:])
            for line in r.iter_lines()
            if line.startswith("data: ") and '"as_of"' in line
        ]
    assert len(answers) == 1 and answers[0]["as_of"] == "2025-06-06"
    assert all(published_by(c["date"], FRIDAY) for c in answers[0]["citations"])


@pytest.mark.parametrize("bad", ["June", "2025-13-01", "06/06/2025"])
def test_query_bad_as_of_is_a_readable_422(client: TestClient, bad: str) -> None:
    r = client.post("/v1/query", json={"question": SAID, "as_of": bad})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail.startswith("as_of: ") and "YYYY-MM-DD" in detail, detail
    assert "Traceback" not in detail


def test_chat_completions_accepts_as_of(client: TestClient) -> None:
    messages = [{"role": "user", "content": HOST}]
    r = client.post("/v1/chat/completions", json={"messages": messages, "as_of": "2025-06-06"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["answer"]["as_of"] == "2025-06-06"
    assert body["citations"]
    assert all(published_by(c["date"], FRIDAY) for c in body["citations"])
    assert not any(c["article_id"].startswith(SEPTEMBER_ARTICLE) for c in body["citations"])
    bad = client.post("/v1/chat/completions", json={"messages": messages, "as_of": "June"})
    assert bad.status_code == 422 and "as_of" in bad.json()["detail"]


# --- the CLI ----------------------------------------------------------------------------------
def test_cli_ask_as_of_json(
    seeded: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ui.cli import main

    monkeypatch.setenv("RAG_STORE__PATH", str(seeded.store.path))
    argv = ["--env-file", "/nonexistent", "ask", SAID, "--as-of", "2025-06-06", "--json"]
    assert main([*argv, "--backend", "extractive"]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert out["as_of"] == "2025-06-06"
    assert out["period"] == THIS_WEEK
    assert out["citations"] and all(published_by(c["date"], FRIDAY) for c in out["citations"])


def test_cli_as_of_must_be_a_date(capsys: pytest.CaptureFixture[str]) -> None:
    from ui.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["--env-file", "/nonexistent", "ask", SAID, "--as-of", "nonsense"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--as-of" in err and "'nonsense' is not a date like 2025-06-05" in err, err


@pytest.mark.parametrize("boost", [False, True])
def test_the_period_a_question_names_ranks_its_articles_higher(
    seeded: Settings, embed_model: Any, boost: bool
) -> None:
    """RAG_RETRIEVAL__PERIOD_BOOST: "this week" as of 10 September puts the September talks
    first (both searches run again within the week count as two more rankings); the June
    articles, better matches for the words, still follow. Without it the June ones lead."""
    from rag.pipeline import build

    settings = seeded.model_copy(deep=True)
    settings.retrieval.period_boost = boost
    qa = build(settings, embed_model=embed_model).qa
    got = qa.retrieve("What did Starmer and Rutte discuss this week?", as_of=date(2025, 9, 10))
    dates = [p.date for p in got.passages]
    assert got.period is not None and "8 September 2025" in got.period.describe()
    if boost:
        assert dates[:3] == ["2025-09-10"] * 3 and "2025-06-05" in dates
    else:
        assert dates[0] == "2025-06-05"
    no_period = qa.retrieve("What did Starmer and Rutte discuss?", as_of=date(2025, 9, 10))
    assert no_period.period is None  # nothing to boost: the same search either way


def test_an_as_of_day_at_the_calendars_ends_is_refused_with_the_range(pipeline) -> None:  # type: ignore[no-untyped-def]
    """9999-12-31 plus "this week" is no date (it was an OverflowError, a 500 through the API):
    such a day is refused and the answer says which days can be asked as of; the last one works."""
    from datetime import date

    from rag.errors import BadQuestionError
    from rag.text.dates import AS_OF_FIRST, AS_OF_LAST

    for day in (date(9999, 12, 31), date(1, 1, 1)):
        with pytest.raises(BadQuestionError, match="out of range: ask as of a day from 1000"):
            pipeline.qa.ask("What did Starmer say this week?", as_of=day)
    for day in (AS_OF_FIRST, AS_OF_LAST):
        answer = pipeline.qa.ask("What will Starmer do next week?", as_of=day)
        assert answer.as_of == day.isoformat()
