"""Collections in one store: each its own archive. `index.collections` lists, creates and
deletes them; `--collection NAME` on every command picks one (RAG_STORE__COLLECTION by default).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from index.collections import create_collection, delete_collection, list_collections
from index.ingest import ingest
from rag.errors import ConfigError, IndexMissingError, RagError
from rag.pipeline import build
from rag.settings import on_collection
from rag.store.layout import Layout
from tests.conftest import ROOT, SEEDS, make_settings
from tests.helpers.processes import run_rag

DAM = "Orlen dam closed\n\nThe Orlen dam was closed on Thursday after engineers found cracks in its wall.\n"


def test_collections_are_apart_listed_and_deleted_with_all_their_files(
    tmp_path: Path, embed_model
) -> None:  # type: ignore[no-untyped-def]
    news = make_settings(tmp_path / "store")
    assert list_collections(news) == []  # no store yet: none, and none made by asking
    ingest(sorted(SEEDS.glob("*.txt")), news, embed_model, progress=False)
    desk = on_collection(news, "desk-b")
    create_collection(news, "desk-b")
    with pytest.raises(RagError, match="exists already"):
        create_collection(news, "desk-b")
    dam = tmp_path / "dam.txt"
    dam.write_text(DAM)
    ingest([dam], desk, embed_model, progress=False)

    found = {c.name: c for c in list_collections(news)}
    assert set(found) == {"news", "desk-b"}
    assert (found["news"].articles, found["desk-b"].articles) == (5, 1)
    assert found["desk-b"].chunks == 1 and found["news"].chunks > 5

    # a question in one collection never cites another's article
    for settings, wanted in ((desk, {"dam"}), (news, set(found) - {"desk-b"})):
        pipe = build(settings, embed_model=embed_model)
        try:
            passages = pipe.qa.retrieve("When was the Orlen dam closed?").passages
            ids = {p.article_id for p in passages}
        finally:
            pipe.close()
        if settings is desk:
            assert ids == wanted
        else:
            assert "dam" not in ids and ids

    layout = Layout.of(desk)
    assert layout.ledger.exists()
    gone = delete_collection(news, "desk-b")
    assert (gone.name, gone.articles) == ("desk-b", 1)
    assert [c.name for c in list_collections(news)] == ["news"]
    left = [p.name for p in layout.root.rglob("*") if "desk-b" in p.name]
    assert left == [], left
    with pytest.raises(IndexMissingError, match=r"no collection 'desk-b'.*there: news"):
        delete_collection(news, "desk-b")


def test_a_collection_name_is_checked_as_the_setting_is(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "store")
    assert on_collection(settings, None) is settings
    assert on_collection(settings, "politics").store.collection == "politics"
    for bad in ("x", "-lead", "has space", "a" * 64, "../up"):
        with pytest.raises(ConfigError, match="no collection name"):
            on_collection(settings, bad)


@pytest.mark.slow
@pytest.mark.subprocess
def test_the_command_line_works_on_the_collection_it_is_given(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env |= {"RAG_STORE__PATH": str(tmp_path / "store"), "PYTHONPATH": str(ROOT)}

    def rag(*args: str) -> subprocess.CompletedProcess[str]:
        return run_rag(env, tmp_path, *args)

    dam = tmp_path / "dam.txt"
    dam.write_text(DAM)
    assert rag("ingest", "--quiet", "--collection", "desk-b", str(dam)).returncode == 0
    listed = rag("collections", "list")
    assert listed.returncode == 0 and "desk-b\t1 articles\t1 chunks" in listed.stdout
    found = rag("search", "--collection", "desk-b", "Orlen dam", "-k", "1")
    assert "Orlen dam" in found.stdout
    missing = rag("search", "Orlen dam")  # the default collection holds nothing yet
    assert missing.returncode == 2 and "news" in missing.stderr
    own = rag("collections", "set", "desk-b", "--backend", "extractive")
    assert own.returncode == 0 and "backend=extractive" in own.stdout, own.stderr
    listed = rag("collections", "list")
    assert "desk-b\t1 articles\t1 chunks\tbackend=extractive" in listed.stdout
    nothing = rag("collections", "set", "desk-b")
    assert nothing.returncode == 2 and "--backend" in nothing.stderr
    feed = "https://example.org/desk/feed.xml"
    follows = rag("feeds", "add", feed, "--every", "30m", "--collection", "desk-b")
    assert follows.returncode == 0 and "every 30 min" in follows.stdout, follows.stderr
    listed = rag("feeds", "list", "--collection", "desk-b")
    assert listed.stdout.startswith(f"{feed}\tevery 30 min\tnot read yet")
    assert "follows no feed" in rag("feeds", "list").stdout  # the default collection's
    too_often = rag("feeds", "add", feed, "--every", "10", "--collection", "desk-b")
    assert too_often.returncode == 2 and "every 60 s" in too_often.stderr
    assert rag("feeds", "remove", feed, "--collection", "desk-b").returncode == 0
    made = rag("keys", "create", "--collection", "desk-b", "--scope", "write", "--label", "bot")
    assert made.returncode == 0, made.stderr
    key_id = made.stdout.split(":")[0]
    assert "nrk_" in made.stdout and "shown this once" in made.stdout
    listed = rag("keys", "list", "--collection", "desk-b")
    assert listed.stdout.startswith(f"{key_id}\tdesk-b\twrite\t") and "nrk_" not in listed.stdout
    assert rag("keys", "list").stdout.strip() == "no keys for 'news'"
    nowhere = rag("keys", "create", "--collection", "nowhere")
    assert nowhere.returncode == 2 and "no collection 'nowhere'" in nowhere.stderr
    wrong = rag("keys", "revoke", key_id)  # not the default collection's key
    assert wrong.returncode == 2 and "rag keys list" in wrong.stderr
    assert rag("keys", "revoke", "--collection", "desk-b", key_id).returncode == 0
    unsure = rag("collections", "delete", "desk-b")  # no terminal to ask: refused
    assert unsure.returncode == 2 and "--yes" in unsure.stderr
    done = rag("collections", "delete", "desk-b", "--yes")
    assert done.returncode == 0 and "1 articles, 1 chunks" in done.stdout, done.stderr
    bad = rag("ask", "--collection", "no good", "anything")
    assert bad.returncode == 2 and "no collection name" in bad.stderr
