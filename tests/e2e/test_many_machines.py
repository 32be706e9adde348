"""One archive served by two `rag serve` processes with working folders of their own, as on two
machines: the chunks on a real `chroma run` server, the books on a real PostgreSQL server
(`RAG_STORE__HOST`, `RAG_STORE__URL`), and two writers at once (the command line, and an upload
through one server)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, SEEDS, ChromaServer, PostgresServer
from tests.helpers.processes import run_rag
from tests.helpers.server import Server, launch, post, stop, wait_ready

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.subprocess]

FERRY = {
    "title": "Ferry tender decided",
    "text": "The Kestrelwood ferry tender was won by Norrvik Lines, the council said.\n\n"
    "The contract runs for ten years from next spring.",
    "published": "2025-06-10",
    "source": "Kestrelwood Courier",
}


def town(i: int) -> str:
    return (
        f" date 2025-06-{i + 1:02d} Harbour board of Quillon{i} names a new chair\n\n"
        f"The harbour board of Quillon{i} named Marta Velk{i} its chair on Monday.\n\n"
        f"She takes over from a chair who served for twelve years.\n"
    )


def cites(server: Server, question: str, word: str) -> bool:
    answer = post(server, "/query", {"question": question}).json()
    return any(word in c["quote"] for c in answer.get("citations", []))


def until(check: object, limit: float = 60) -> float:
    """Seconds until `check()` is true (polled); fails after `limit` s."""
    start = time.monotonic()
    while not check():  # type: ignore[operator]
        assert time.monotonic() - start < limit, "not seen"
        time.sleep(0.2)
    return time.monotonic() - start


def test_two_servers_and_two_writers_share_one_archive(
    tmp_path: Path, chroma_server: ChromaServer, postgres: PostgresServer
) -> None:
    shared = {
        "RAG_STORE__HOST": chroma_server[0],
        "RAG_STORE__PORT": str(chroma_server[1]),
        "RAG_STORE__URL": str(postgres),
        "RAG_STORE__COLLECTION": "shared",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(shared, RAG_STORE__PATH=str(tmp_path / "writer"), PYTHONPATH=str(ROOT))
    done = run_rag(env, tmp_path, "ingest", str(SEEDS))
    assert done.returncode == 0, done.stderr

    a = launch(None, tmp_path / "a", empty=True, **shared)
    b = launch(None, tmp_path / "b", empty=True, **shared)
    try:
        wait_ready(a)
        wait_ready(b)
        towns = tmp_path / "towns"
        towns.mkdir()
        for i in range(20):
            (towns / f"quillon{i}.txt").write_text(town(i))
        # two writers at once: the command line on one machine, an upload through server a
        cli = subprocess.Popen(
            [sys.executable, "-m", "ui.cli", "ingest", str(towns)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(60):
            sent = post(a, "/articles", {"articles": [FERRY]})
            if sent.status_code != 503:  # the other writer holds the lock: wait, again
                break
            time.sleep(1)
        assert sent.status_code == 200, sent.text
        ferry_id = sent.json()["article_ids"][0]
        out, _ = cli.communicate(timeout=300)
        assert cli.returncode == 0, out

        question = "Who won the Kestrelwood ferry tender?"
        waited = until(lambda: cites(b, question, "Norrvik"))
        print(f"server b cited the article uploaded through a after {waited:.1f} s")
        assert until(lambda: cites(a, "Who chairs the harbour board of Quillon7?", "Velk7"))
        assert cites(b, "Who chairs the harbour board of Quillon7?", "Velk7")
        for server in (a, b):
            health = httpx.get(server.api + "/health", timeout=10).json()
            assert health["articles"] == 5 + 20 + 1

        # removed through b: a stops citing it
        gone = httpx.delete(f"{b.api}/articles/{ferry_id}", timeout=60)
        assert gone.status_code == 200, gone.text
        until(lambda: not cites(a, question, "Norrvik"))
    finally:
        stop(a)
        stop(b)
    checked = run_rag(env, tmp_path, "check")
    assert checked.returncode == 0 and "consistent" in checked.stdout, checked.stdout


def test_a_key_made_on_one_machine_opens_the_other_and_its_revocation_closes_both(
    tmp_path: Path, chroma_server: ChromaServer
) -> None:
    """Keys on the server store: `rag keys create` on one machine opens a server on another at
    once, and `rag keys revoke` there closes both. (A PostgreSQL server of its own: its keys
    would make every other test's server ask for one.)"""
    import json

    from tests.helpers.processes import start_postgres, stop_process

    books, url = start_postgres(tmp_path / "postgres", tmp_path / "postgres.log")
    shared = {
        "RAG_STORE__HOST": chroma_server[0],
        "RAG_STORE__PORT": str(chroma_server[1]),
        "RAG_STORE__URL": url,
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(shared, RAG_STORE__PATH=str(tmp_path / "writer"), PYTHONPATH=str(ROOT))
    a = b = None
    try:
        assert run_rag(env, tmp_path, "ingest", str(SEEDS)).returncode == 0
        made = run_rag(env, tmp_path, "keys", "create", "--scope", "read", "--json")
        assert made.returncode == 0, made.stderr
        key = json.loads(made.stdout)
        a = launch(None, tmp_path / "a", empty=True, **shared)
        b = launch(None, tmp_path / "b", empty=True, **shared)
        wait_ready(a)
        wait_ready(b)
        question = {"question": "What did Hegseth say about 5%?"}
        bearer = {"Authorization": f"Bearer {key['key']}"}
        for server in (a, b):
            assert post(server, "/query", question).status_code == 401
            assert post(server, "/query", question, headers=bearer).status_code == 200
        gone = run_rag(env, tmp_path, "keys", "revoke", key["id"])
        assert gone.returncode == 0, gone.stderr
        for server in (a, b):
            assert post(server, "/query", question, headers=bearer).status_code == 401
    finally:
        for server in (a, b):
            if server is not None:
                stop(server)
        stop_process(books, timeout=10)
