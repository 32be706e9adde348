"""`rag store copy`: a collection moved between the embedded store and the server store (a real
`chroma run` server and a real PostgreSQL) from its ledger, its files gone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from index.copy import copy_collection, target_of
from rag.errors import ConfigError, IndexMissingError
from rag.settings import Settings
from rag.store.ledger import open_ledger, read_ledger
from tests.conftest import ROOT, SEEDS, ChromaServer, PostgresServer, make_settings
from tests.helpers.processes import run_rag

QUESTION = "What did Hegseth say about 5%?"


def answer_of(settings: Settings, embed_model) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    from rag.pipeline import build

    answer = build(settings, embed_model=embed_model).qa.ask(QUESTION, backend="extractive")
    return answer.answer, [c.quote for c in answer.citations]


@pytest.mark.slow
@pytest.mark.server
def test_a_collection_goes_to_the_server_store_and_back_without_its_files(
    tmp_path: Path, chroma_server: ChromaServer, postgres: PostgresServer, embed_model
) -> None:  # type: ignore[no-untyped-def]
    from index.ingest import ingest

    files = tmp_path / "articles"
    shutil.copytree(SEEDS, files)
    source = make_settings(tmp_path / "store")
    ingest([files], source, embed_model, progress=False)
    books = open_ledger(source)
    books.note_urls([("https://example.org/nato", sorted(books.hashes())[0])])
    books.close()
    before = answer_of(source, embed_model)
    shutil.rmtree(files)  # the copy reads the ledger, not the files

    server = target_of(
        source,
        host=chroma_server[0],
        port=chroma_server[1],
        url=str(postgres),
        collection="moved",
    )
    seen: list[int] = []
    report = copy_collection(source, server, embed_model, progress=seen.append)
    assert (report.articles, report.copied, report.urls) == (5, 5, 1) and sum(seen) == 5
    assert not report.without_text
    assert answer_of(server, embed_model) == before
    again = copy_collection(source, server, embed_model)  # a second run changes nothing
    assert (again.copied, again.unchanged) == (0, 5)

    back = target_of(server, path=tmp_path / "back")  # no host, no url: embedded, files
    assert copy_collection(server, back, embed_model).copied == 5
    assert answer_of(back, embed_model) == before
    kept = read_ledger(back)
    assert kept is not None and kept.url_rows() == [
        ("https://example.org/nato", sorted(kept.hashes())[0])
    ]
    kept.close()


def test_copy_says_what_is_wrong_with_the_target_or_the_source(tmp_path: Path) -> None:
    source = make_settings(tmp_path / "store")
    with pytest.raises(ConfigError, match="the target is the source"):
        target_of(source)
    with pytest.raises(ConfigError, match="not a PostgreSQL URL"):
        target_of(source, url="mysql://db/news")
    with pytest.raises(
        IndexMissingError, match=r"nothing to copy: 'news' in .* records no article"
    ):
        copy_collection(source, target_of(source, collection="other"), None)


@pytest.mark.slow
@pytest.mark.subprocess
def test_rag_store_copy_on_the_command_line(tmp_path: Path, embed_model) -> None:  # type: ignore[no-untyped-def]
    import os

    from index.ingest import ingest

    ingest([SEEDS], make_settings(tmp_path / "store"), embed_model, progress=False)
    two = tmp_path / "two"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_STORE__PATH=str(tmp_path / "store"), PYTHONPATH=str(ROOT))
    done = run_rag(env, tmp_path, "store", "copy", "--json", "--to-path", str(two))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["copied"] == 5
    same = run_rag(env, tmp_path, "store", "copy")
    assert same.returncode == 2 and "the target is the source" in same.stderr
