"""What readers say of answers (`rag.store.feedback`), and the test questions it becomes:
`rag feedback export` writes a gold file that `rag eval --dataset FILE` runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evals.dataset import gold_record, load_gold
from rag.pipeline import Pipeline
from rag.settings import Settings
from rag.store.feedback import Feedback, FeedbackBook
from rag.store.layout import Layout

QUESTION = "What did Hegseth say about 5%?"


def answer(pipeline: Pipeline, question: str = QUESTION) -> dict[str, Any]:
    from datetime import date

    return pipeline.qa.ask(question, backend="extractive", as_of=date(2025, 6, 10)).model_dump(
        mode="json"
    )


def test_each_kind_of_feedback_becomes_the_test_it_means(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    given = answer(pipeline)
    book = FeedbackBook(tmp_path / "feedback.sqlite3")
    down = book.add(
        Feedback(QUESTION, "down", given, as_of="2025-06-10", expected="near consensus")
    )
    up = book.add(Feedback(QUESTION, "up", given, as_of="2025-06-10", unsupported=[2]))
    vague = book.add(Feedback(QUESTION, "down", given, note="the date is wrong"))
    assert [f.id for f in book.all()] == [down.id, up.id, vague.id] and down.created

    made, left = book.gold_records()
    assert [f.id for f in left] == [vague.id]  # nobody has said what the answer should be
    by_id = {r["id"]: r for r in made}
    wanted = by_id[f"feedback-{down.id}"]
    assert wanted["key_facts"] == ["near consensus"] and wanted["date"] == "2025-06-10"
    kept = by_id[f"feedback-{up.id}"]
    cited = {c["article_id"] for c in given["citations"] if c["number"] != 2}
    assert set(kept["reference_context_ids"]) == cited and kept["key_facts"]
    assert "unsupported-citation" in kept["tags"]
    for record in made:  # each a valid gold question
        assert gold_record(record).user_input == QUESTION


def test_a_thumbs_up_on_a_decline_keeps_it_a_decline(pipeline: Pipeline, tmp_path: Path) -> None:
    declined = answer(pipeline, "What did Emmanuel Macron say about defence spending?")
    assert declined["declined"]
    item = FeedbackBook(tmp_path / "f.sqlite3").add(Feedback(declined["question"], "up", declined))
    record = item.gold()
    assert record is not None and record["answerable"] is False and "key_facts" not in record


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"verdict": "meh"}, "verdict must be one of up, down"),
        ({"question": "  "}, "the question is empty"),
        ({"expected": "x" * 4001}, "expected is longer than 4000"),
        ({"unsupported": [99]}, "the answer has no citation 99"),
    ],
)
def test_bad_feedback_is_refused_with_what_is_wrong(kwargs: dict[str, Any], says: str) -> None:
    base: dict[str, Any] = {"question": QUESTION, "verdict": "down", "answer": {"citations": []}}
    with pytest.raises(ValueError, match=says):
        Feedback(**(base | kwargs))


@pytest.mark.slow
def test_feedback_given_over_http_is_exported_and_run_by_rag_eval(
    seeded: Settings,
    pipeline: Pipeline,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import shutil

    from fastapi.testclient import TestClient

    from rag.pipeline import build
    from ui.api import create_app
    from ui.cli import main

    store = tmp_path / "store"
    shutil.copytree(seeded.store.path, store)
    copy = seeded.model_copy(update={"store": seeded.store.model_copy(update={"path": store})})
    client = TestClient(create_app(build(copy, embed_model=pipeline.embed_model), ui=False))
    given = client.post("/v1/query", json={"question": QUESTION, "as_of": "2025-06-10"}).json()
    sent = client.post(
        "/v1/feedback",
        json={"answer": given, "verdict": "down", "expected": "almost near consensus"},
    )
    assert sent.status_code == 201 and sent.json()["exported"] is True
    bad = client.post(
        "/v1/feedback", json={"answer": given, "verdict": "down", "unsupported": [42]}
    )
    assert bad.status_code == 422 and "no citation 42" in bad.text
    assert len(FeedbackBook(Layout.of(copy).feedback).all()) == 1
    client.app.state.served.close()  # type: ignore[attr-defined]

    monkeypatch.setenv("RAG_STORE__PATH", str(store))
    env = ["--env-file", str(tmp_path / "no.env")]
    out = tmp_path / "feedback.jsonl"
    assert main([*env, "feedback", "list"]) == 0
    assert "almost near consensus" in capsys.readouterr().out
    assert main([*env, "feedback", "export", "--out", str(out)]) == 0
    assert "wrote 1 question(s)" in capsys.readouterr().out
    (record,) = load_gold(out)
    assert record.date == "2025-06-10" and record.key_facts == [["almost near consensus"]]
    reports = tmp_path / "reports"
    argv = [*env, "eval", "--dataset", str(out), "--backend", "extractive", "--quiet"]
    assert main([*argv, "--out", str(reports)]) == 0
    assert "feedback: 1 questions" in capsys.readouterr().out
    (report,) = reports.glob("feedback-extractive-*.json")
    (result,) = json.loads(report.read_text())["results"]
    assert result["id"] == record.id and result["reference"] == "almost near consensus"
    assert result["scores"]["key_fact_recall"] == 1.0  # the expected answer is checked


@pytest.mark.server
def test_feedback_given_through_one_machine_is_read_on_another_on_the_server_store(
    pipeline: Pipeline, pg_settings: Settings, tmp_path: Path
) -> None:
    """With the books on PostgreSQL (`RAG_STORE__URL`), feedback is kept in the collection's
    schema there: what a reader says through one server is exported on another, no file of
    either folder holds it, and it goes with the collection."""
    from rag.store import postgres
    from rag.store.feedback import PgFeedbackBook, feedback_book

    other = pg_settings.model_copy(
        update={"store": pg_settings.store.model_copy(update={"path": tmp_path / "other"})}
    )
    here, there = feedback_book(pg_settings), feedback_book(other)
    assert isinstance(here, PgFeedbackBook) and isinstance(there, PgFeedbackBook)
    given = answer(pipeline)
    first = here.add(Feedback(QUESTION, "down", given, as_of="2025-06-10", expected="consensus"))
    second = there.add(Feedback(QUESTION, "up", given, as_of="2025-06-10"))
    assert second.id is not None and first.id is not None and second.id > first.id
    assert [f.id for f in here.all()] == [first.id, second.id] == [f.id for f in there.all()]
    made, left = there.gold_records()
    assert made[0]["key_facts"] == ["consensus"] and not left
    assert not Layout.of(pg_settings).feedback.exists() and not Layout.of(other).feedback.exists()
    url = pg_settings.store.url
    assert url is not None
    postgres.drop_collection(url.get_secret_value(), pg_settings.store.collection)
    assert feedback_book(pg_settings).all() == []
