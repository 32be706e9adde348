"""Removing articles and following a folder (issue "News in as it arrives", parts 3 and 4).

Removal: `index.ingest.remove`, `rag remove` and `DELETE /v1/articles/{id}`: the article's chunks
and lexical entries go (search never returns it), a syndicated copy that shared its paragraphs
indexes them itself and still answers, `rag check` stays consistent, and ingesting it again
restores it. Following: `FolderSync` against a real folder (a new, a changed, a deleted file), and
`rag serve --watch DIR` as a real process: a dropped file becomes answerable, a deleted one stops
being cited.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from index.check import check
from index.ingest import ingest, remove
from rag.pipeline import build
from tests.conftest import make_settings
from tests.helpers.server import launch, stop, wait_ready
from ui.cli import main

BODY = (
    "The harbour authority of Port Elwin closed the northern pier on Monday after storm "
    "damage.\n\nRepairs to the pier will take six weeks and cost 2.4 million pounds, the "
    "authority said."
)
QUESTION = "How long will the pier repairs take?"


def _corpus(folder: Path) -> Path:
    folder.mkdir()
    (folder / "a_first.txt").write_text("Title: Pier closed\n\n" + BODY, encoding="utf-8")
    (folder / "b_copy.txt").write_text("Title: Pier shut\n\n" + BODY, encoding="utf-8")
    (folder / "c_other.txt").write_text(
        "Title: Library opens\n\nThe new library in Vanholm opened on Tuesday with 40,000 books.",
        encoding="utf-8",
    )
    return folder


def _found(settings: Any, embed_model: Any, question: str) -> list[str]:
    pipe = build(settings, embed_model=embed_model)
    return [h.article_id for h in pipe.retriever.retrieve(question, top_k=10)]


def test_a_removed_article_is_never_found_and_its_copy_still_answers(
    tmp_path: Path, embed_model: Any
) -> None:
    settings = make_settings(tmp_path / "store")
    folder = _corpus(tmp_path / "in")
    ingest([folder], settings, embed_model, progress=False)
    assert "a_first" in _found(settings, embed_model, QUESTION)

    report = remove(["a_first", "nope"], settings, embed_model)
    assert report.status == {"a_first": "removed", "nope": "not found"}
    assert report.restored == 1  # the copy now indexes the paragraphs it shared
    for q in (QUESTION, "Pier closed", "storm damage northern pier"):
        assert "a_first" not in _found(settings, embed_model, q)
    pipe = build(settings, embed_model=embed_model)
    answer = pipe.qa.ask(QUESTION)
    assert not answer.declined and "six weeks" in answer.answer
    assert {c.article_id for c in answer.citations} == {"b_copy"}
    assert check(settings, embed_model).problems == 0

    again = ingest([folder], settings, embed_model, progress=False)
    assert again.status["a_first"] == "added"
    # back, as the copy it now is: the paragraphs stay indexed once, under b_copy
    hit = build(settings, embed_model=embed_model).retriever.retrieve(QUESTION, top_k=1)[0]
    assert hit.article_id == "b_copy" and hit.also_in == ["a_first"]


def test_rag_remove_says_what_it_did(tmp_path: Path, embed_model: Any, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    store = tmp_path / "store"
    folder = _corpus(tmp_path / "in")
    monkeypatch.setenv("RAG_STORE__PATH", str(store))
    monkeypatch.chdir(tmp_path)
    assert main(["ingest", "--quiet", str(folder)]) == 0
    capsys.readouterr()
    assert main(["remove", "c_other"]) == 0
    assert "1 article(s) removed" in capsys.readouterr().out
    assert main(["remove", "c_other"]) == 1
    assert "not found: c_other" in capsys.readouterr().err
    assert main(["search", "--json", "Vanholm library books"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits and all(h["article_id"] != "c_other" for h in hits)


def test_delete_route_removes_and_404s(tmp_path: Path, embed_model: Any) -> None:
    settings = make_settings(tmp_path / "store")
    ingest([_corpus(tmp_path / "in")], settings, embed_model, progress=False)
    from ui.api import create_app

    pipe = build(settings, embed_model=embed_model)
    with TestClient(create_app(pipe, ui=False)) as client:
        r = client.delete("/v1/articles/a_first")
        assert r.status_code == 200 and r.json() == {
            "id": "a_first",
            "status": "removed",
            "restored": 1,
        }
        r = client.delete("/v1/articles/a_first")
        assert r.status_code == 404 and "GET /v1/articles" in r.json()["detail"]
        ids = {a["article_id"] for a in client.get("/v1/articles").json()["articles"]}
        assert "a_first" not in ids and "b_copy" in ids
        hits = pipe.retriever.retrieve("Pier closed", top_k=10)
        assert hits and all(h.article_id != "a_first" for h in hits)
        answer = client.post("/v1/query", json={"question": QUESTION}).json()
        assert "six weeks" in answer["answer"]


def test_a_folder_is_followed_file_by_file(tmp_path: Path, embed_model: Any) -> None:
    from index.watch import FolderSync

    settings = make_settings(tmp_path / "store")
    folder = _corpus(tmp_path / "in")
    sync = FolderSync(folder, settings, embed_model)
    first = sync.sync()
    assert sorted(first.added) == ["a_first", "b_copy", "c_other"]
    assert not sync.sync()  # nothing changed: nothing to do

    new = folder / "d_new.md"
    new.write_text("# Ferry returns\n\nThe Elwin ferry returns to service on 3 May.", "utf-8")
    (folder / "c_other.txt").write_text(
        "Title: Library opens\n\nThe new library in Vanholm opened on Wednesday with 50,000 books.",
        encoding="utf-8",
    )
    (folder / "a_first.txt").unlink()
    done = sync.apply(
        [(1, str(new)), (2, str(folder / "c_other.txt")), (3, str(folder / "a_first.txt"))]
    )
    assert sorted(done.added) == ["c_other", "d_new"] and done.removed == ["a_first"]
    assert "a_first" not in _found(settings, embed_model, "Pier closed")
    assert check(settings, embed_model).problems == 0


def test_parse_every() -> None:
    from index.watch import parse_every

    assert parse_every("15m") == 900 and parse_every("90s") == 90 and parse_every("2h") == 7200
    assert parse_every("120") == 120
    for bad in ("soon", "5s", "m"):
        with pytest.raises(ValueError):
            parse_every(bad)


@pytest.mark.slow
@pytest.mark.server
def test_serve_watch_answers_a_dropped_file_and_forgets_a_deleted_one(
    seeded: Any, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "pier.txt").write_text("Title: Pier closed\n\n" + BODY, encoding="utf-8")
    server = launch(seeded, tmp_path, args=["--watch", str(inbox)])
    try:
        wait_ready(server)
        ask = {"question": "When will the Elwin ferry return to service?"}
        before = httpx.post(server.api + "/query", json=ask, timeout=30).json()
        assert not any(c["article_id"] == "ferry" for c in before["citations"])

        (inbox / "ferry.md").write_text(
            "# Ferry returns\n\nThe Elwin ferry returns to service on 3 May, the operator said.",
            encoding="utf-8",
        )
        cited = _poll(server.api, ask, lambda a: any(c["article_id"] == "ferry" for c in a))
        assert cited is not None, server.output()
        print(f"answerable {cited:.1f} s after the file was written")

        (inbox / "ferry.md").unlink()
        gone = _poll(server.api, ask, lambda a: all(c["article_id"] != "ferry" for c in a))
        assert gone is not None, server.output()
        arrived = httpx.get(server.api + "/articles", timeout=30).json()["articles"]
        assert "ferry" not in {a["article_id"] for a in arrived}
    finally:
        stop(server)


def _poll(api: str, ask: dict[str, str], ok: Any, limit: float = 60) -> float | None:
    """Seconds until the answer's citations satisfy `ok` (None if they never do within `limit`)."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        answer = httpx.post(api + "/query", json=ask, timeout=30).json()
        assert "citations" in answer, answer
        if ok(answer["citations"]):
            return time.monotonic() - start
        time.sleep(0.5)
    return None


def test_the_article_list_shows_the_latest_arrivals_first() -> None:
    from ui.web.render import articles_html

    listed = [
        {"article_id": "old", "title": "Old story", "date": "2025-01-01", "chunks": 2},
        {"article_id": "new", "title": "New story", "date": "2024-01-01", "chunks": 1},
        {"article_id": "seed", "title": "Seed story", "date": None, "chunks": 1},
    ]
    page = articles_html(listed, {"old": 1_700_000_000.0, "new": 1_800_000_000.0})
    assert page.index("New story") < page.index("Old story") < page.index("Seed story")
    assert "<th>Arrived</th>" in page and page.count("—") >= 2  # the seed: no time known
    many = [
        {"article_id": f"a{i}", "title": f"Story {i}", "date": "2025-01-01"} for i in range(500)
    ]
    page = articles_html(many, {"a7": 1_800_000_000.0}, limit=50)
    assert page.count("<tr>") == 51 and "500 articles" in page and "first 50 shown" in page
    assert page.index("Story 7<") < page.index("Story 0<")


@pytest.mark.slow
@pytest.mark.subprocess
def test_rag_ingest_watch_follows_until_ctrl_c(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import ROOT

    inbox = _corpus(tmp_path / "inbox")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env |= {"RAG_STORE__PATH": str(tmp_path / "store"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ui.cli", "ingest", "--quiet", "--watch", str(inbox)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("watching"):
                break
        assert "3 new" in "".join(lines), lines
        (inbox / "d_new.txt").write_text(
            "Title: Ferry\n\nThe Elwin ferry returns on 3 May.", "utf-8"
        )
        for line in proc.stdout:
            lines.append(line)
            if "added or changed" in line:
                break
        assert "1 added or changed, 0 removed" in lines[-1], lines
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, lines
    assert "stopped watching" in proc.stdout.read()
