"""`rag serve --answer-processes 2`: extractive answers made in two worker processes are the
answers the server would make itself; errors keep their status; new articles are seen; a worker
that dies is replaced without a failed request; stopping the server stops the workers."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rag.settings import Settings
from tests.helpers.processes import children
from tests.helpers.server import Server, launch, post, stop, wait_ready

pytestmark = [pytest.mark.slow, pytest.mark.server]

QUESTIONS = [
    {"question": "How much has Starmer committed to spend on defence from April 2027?"},
    {"question": "What did Hegseth say about 5%?", "as_of": "2025-06-06"},
    {"question": "Who did Starmer host in September?", "top_k": 3},
]


def _workers(server: Server) -> list[int]:
    """The answer processes: the server's children started by multiprocessing's spawn."""
    found = []
    for pid in children(server.proc.pid):
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            continue
    return sorted(found)


@pytest.fixture(scope="module")
def pooled(seeded: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = launch(seeded, tmp_path_factory.mktemp("pooled"), args=["--answer-processes", "2"])
    try:
        wait_ready(server, timeout=180)
        yield server
    finally:
        stop(server)


def _shape(answer: dict[str, Any]) -> tuple[Any, ...]:
    return (
        answer["answer"],
        answer["short_answer"],
        answer["declined"],
        [(c["chunk_id"], c["quote"]) for c in answer["citations"]],
    )


def test_workers_answer_as_the_server_would(pooled: Server, pipeline) -> None:  # type: ignore[no-untyped-def]
    assert len(_workers(pooled)) == 2, pooled.output()
    for body in QUESTIONS:
        r = post(pooled, "/query", body)
        assert r.status_code == 200, r.text
        options = {k: v for k, v in body.items() if k != "question"}
        if "as_of" in options:
            from datetime import date

            options["as_of"] = date.fromisoformat(options["as_of"])
        here = pipeline.qa.ask(body["question"], backend="extractive", **options)
        assert _shape(r.json()) == _shape(here.model_dump(mode="json")), body
    chat = post(
        pooled,
        "/chat/completions",
        {"model": "news-rag", "messages": [{"role": "user", "content": QUESTIONS[0]["question"]}]},
    )
    assert chat.status_code == 200 and "2.5%" in chat.json()["choices"][0]["message"]["content"]


def test_errors_keep_their_status(pooled: Server) -> None:
    empty = post(pooled, "/query", {"question": "   "})
    assert empty.status_code == 400 and "empty" in empty.json()["detail"]
    bad = post(pooled, "/query", {"question": "x", "filters": {"date_from": "2025-13-01"}})
    assert bad.status_code == 422


def test_workers_see_new_articles(pooled: Server) -> None:
    article = {
        "title": "Lisbon opens a tidal power station",
        "url": "https://example.org/energy/lisbon-tidal",
        "published": "2025-06-04",
        "source": "example.org",
        "text": "Lisbon opened Europe's largest tidal power station on Tuesday. The station on "
        "the Tagus estuary will supply 40,000 homes, the city's mayor said.",
    }
    added = post(pooled, "/articles", {"articles": [article]})
    assert added.status_code == 200 and added.json()["new"] == 1, added.text
    for _ in range(4):  # each worker answers some of them
        answer = post(
            pooled, "/query", {"question": "How many homes will the tidal station supply?"}
        )
        assert answer.status_code == 200
        assert "40,000" in answer.json()["answer"], answer.json()["answer"]


def test_a_worker_that_dies_is_replaced(pooled: Server) -> None:
    before = _workers(pooled)
    os.kill(before[0], signal.SIGKILL)
    time.sleep(0.5)
    r = post(pooled, "/query", QUESTIONS[0])  # answered, in the server process if need be
    assert r.status_code == 200 and r.json()["short_answer"], r.text
    assert "an answer process died" in pooled.output()
    deadline = time.time() + 120  # two new workers build their pipelines meanwhile
    while time.time() < deadline:
        assert post(pooled, "/query", QUESTIONS[1]).status_code == 200
        after = _workers(pooled)
        if len(after) == 2 and not set(after) & set(before):
            break
        time.sleep(1)
    assert len(after) == 2 and not set(after) & set(before), (before, after)
    for body in QUESTIONS:
        assert post(pooled, "/query", body).status_code == 200


def test_by_default_the_server_answers_on_every_core(
    seeded: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Finding 13 of issue 39: `rag serve` answered on one core of two unless told otherwise.
    By default it starts one answer process per core beyond the first, and they answer."""
    from ui.answer_pool import default_processes

    server = launch(seeded, tmp_path_factory.mktemp("defaults"))
    try:
        wait_ready(server, timeout=180)
        assert len(_workers(server)) == default_processes() == (os.cpu_count() or 1) - 1
        r = post(server, "/query", QUESTIONS[0])
        assert r.status_code == 200 and "2.5%" in r.json()["answer"], r.text
    finally:
        stop(server)


def test_stopping_the_server_stops_its_workers(
    seeded: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    server = launch(seeded, tmp_path_factory.mktemp("stopped"), args=["--answer-processes", "1"])
    wait_ready(server, timeout=180)
    workers = _workers(server)
    assert len(workers) == 1
    stop(server)
    deadline = time.time() + 10
    while time.time() < deadline and any(Path(f"/proc/{p}").exists() for p in workers):
        time.sleep(0.2)
    assert not any(Path(f"/proc/{p}").exists() for p in workers)
    assert server.proc.returncode is not None


def test_a_negative_count_is_refused(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "ui.cli", "serve", "--answer-processes", "-1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "RAG_STORE__PATH": str(tmp_path / "store")},
        timeout=60,
    )
    assert done.returncode == 2 and "--answer-processes must be 0 or more" in done.stderr


def test_workers_answer_for_each_collection_with_its_own_entities(
    pooled: Server, embed_model
) -> None:  # type: ignore[no-untyped-def]
    """A collection opened by the server while it runs is answered by the same workers, from
    its own passages and entity table, as a pipeline of that collection alone answers."""
    from index.ingest import ingest
    from rag.pipeline import build
    from rag.settings import on_collection
    from tests.conftest import make_settings

    desk = on_collection(make_settings(pooled.log.parent / "store"), "desk")
    note = pooled.log.parent / "desk.txt"
    note.write_text(
        "Harbour board names a new chair\n\nThe harbour board named Ines Albuquerque its chair "
        "on Friday, after a vote of seven to two.\n"
    )
    ingest([note], desk, embed_model, progress=False)  # another process writes, as the CLI would
    from rag.jobs.entities import fill

    fill(desk)  # the entity table the workers read (`rag ingest` starts this aside)
    body = {"question": "Who did the harbour board name as its chair?"}
    r = post(pooled, "/collections/desk/query", body)
    assert r.status_code == 200, r.text
    alone = build(desk, embed_model=embed_model)
    try:
        here = alone.qa.ask(body["question"], backend="extractive")
    finally:
        alone.close()
    assert "Albuquerque" in r.json()["answer"]
    assert _shape(r.json()) == _shape(here.model_dump(mode="json"))
    assert post(pooled, "/collections/nowhere/query", body).status_code == 404
