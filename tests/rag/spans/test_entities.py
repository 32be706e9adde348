"""The entity table: sentences' named entities tagged once (`rag entities`, or aside after `rag
ingest`) and read by short answers instead of tagging while a question waits."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag.jobs.entities import fill
from rag.settings import Settings
from rag.spans import tagging
from rag.spans.entities import EntityTable, table_path, tagger_name
from rag.spans.tagging import EntityTagger
from rag.store.layout import Layout
from tests.conftest import ROOT, SEEDS, make_settings

SENTENCE = "Keir Starmer met Mark Rutte in London on Monday."


def _no_tagging(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(sentences):  # type: ignore[no-untyped-def]
        if sentences:
            raise AssertionError(f"tagged while asked: {list(sentences)[:3]}")
        return []

    monkeypatch.setattr(tagging, "tag", refuse)


def test_the_table_gives_back_what_was_tagged_and_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "entities.sqlite"
    writer = EntityTable(path, write=True)
    writer.add({SENTENCE: [("Keir Starmer", "PERSON"), ("London", "GPE")]}, ["a:1:0"])
    reader = EntityTable(path)
    found = reader.lookup([SENTENCE, "A sentence nobody tagged, about nothing at all."])
    assert found == {SENTENCE: [("Keir Starmer", "PERSON"), ("London", "GPE")]}
    assert reader.counts() == (1, 1)
    assert writer.done_chunks() == {"a:1:0"}


def test_a_missing_table_is_empty_and_a_late_one_is_read(tmp_path: Path) -> None:
    path = tmp_path / "entities.sqlite"
    reader = EntityTable(path)  # a server started before any tagging
    assert reader.lookup([SENTENCE]) == {}
    EntityTable(path, write=True).add({SENTENCE: [("London", "GPE")]}, [])
    assert reader.lookup([SENTENCE]) == {SENTENCE: [("London", "GPE")]}


def test_a_table_another_model_made_is_not_read_and_is_started_again(tmp_path: Path) -> None:
    path = tmp_path / "entities.sqlite"
    EntityTable(path, write=True).add({SENTENCE: [("London", "GPE")]}, ["a:1:0"])
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET v = 'some-other-model 0.1' WHERE k = 'model'")
    assert EntityTable(path).lookup([SENTENCE]) == {}
    writer = EntityTable(path, write=True)  # its tags are dropped, to be made again
    assert writer.counts() == (0, 0)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT v FROM meta WHERE k = 'model'").fetchone()[0] == tagger_name()


def test_the_tagger_reads_the_table_first_and_tags_only_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "entities.sqlite"
    EntityTable(path, write=True).add(
        {SENTENCE: [("Keir Starmer", "PERSON"), ("Monday", "DATE"), ("Rutte", "NOT_A_LABEL")]},
        [],
    )
    tagger = EntityTagger(EntityTable(path))
    _no_tagging(monkeypatch)
    # spaCy's labels become the kinds a question asks for; unknown labels are left out
    assert tagger.entities([SENTENCE]) == [[("Keir Starmer", "person"), ("Monday", "date")]]
    monkeypatch.undo()
    other = "The Buffalo Bills beat the Miami Dolphins in Orchard Park on Sunday."
    assert ("Orchard Park", "place") in tagger.entities([SENTENCE, other])[1]
    assert (tagger.looked_up, tagger.tagged) == (1, 1)


@pytest.fixture(scope="module")
def tagged_store(tmp_path_factory: pytest.TempPathFactory, embed_model) -> Settings:  # type: ignore[no-untyped-def]
    from index.ingest import ingest

    settings = make_settings(tmp_path_factory.mktemp("tagged") / "store")
    ingest([SEEDS], settings, embed_model, progress=False)
    return settings


def test_fill_tags_every_chunk_once_and_goes_on_where_it_was(tagged_store: Settings) -> None:
    from rag.store.chroma import Store

    chunks = Store(tagged_store.store).count()
    first = fill(tagged_store)
    assert first.chunks == chunks and first.sentences > chunks  # several sentences a chunk
    assert (first.total_sentences, first.total_chunks) == (first.sentences, chunks)
    again = fill(tagged_store)
    assert (again.chunks, again.sentences, again.total_chunks) == (0, 0, chunks)


def test_answers_are_the_same_with_the_table_and_ask_spacy_nothing(
    tagged_store: Settings, embed_model, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from rag.pipeline import build

    fill(tagged_store)
    questions = [
        json.loads(line)["user_input"]
        for line in (ROOT / "evals" / "gold" / "seeds.jsonl").read_text().splitlines()[:25]
    ]
    without = build(tagged_store, embed_model=embed_model)
    without.qa.answerers.extractive.tagger.table = None  # as before the table existed
    expected = [without.qa.ask(q, backend="extractive") for q in questions]
    assert any(a.short_answer for a in expected)

    with_table = build(tagged_store, embed_model=embed_model)
    _no_tagging(monkeypatch)
    got = [with_table.qa.ask(q, backend="extractive") for q in questions]
    assert [(a.answer, a.short_answer) for a in got] == [
        (a.answer, a.short_answer) for a in expected
    ]
    tagger = with_table.qa.answerers.extractive.tagger
    assert tagger.looked_up > 0 and tagger.tagged == 0


@pytest.mark.subprocess
def test_two_processes_tag_the_same_as_one(tmp_path: Path, embed_model) -> None:  # type: ignore[no-untyped-def]
    from index.ingest import ingest

    settings = make_settings(tmp_path / "store")
    ingest([SEEDS], settings, embed_model, progress=False)
    report = fill(settings, processes=2)
    assert report.chunks == report.total_chunks > 0
    one = make_settings(tmp_path / "one")
    ingest([SEEDS], one, embed_model, progress=False)
    fill(one, processes=1)
    rows = []
    for s in (settings, one):
        with sqlite3.connect(table_path(s.store)) as conn:
            rows.append(sorted(conn.execute("SELECT key, ents FROM sentences")))
    assert rows[0] == rows[1]


def test_fill_forgets_the_chunks_of_removed_articles(tmp_path: Path, embed_model) -> None:  # type: ignore[no-untyped-def]
    from index.ingest import ingest, remove

    settings = make_settings(tmp_path / "store")
    ingest([SEEDS], settings, embed_model, progress=False)
    before = fill(settings).total_chunks
    victim = sorted(p.stem for p in SEEDS.glob("*.txt"))[0]
    report = remove([victim], settings, embed_model)
    assert report.removed == 1
    after = fill(settings)
    assert after.chunks == 0 and 0 < after.total_chunks < before


@pytest.mark.slow
@pytest.mark.subprocess
def test_rag_ingest_tags_new_sentences_as_part_of_the_job(tmp_path: Path, seeds_copy: Path) -> None:
    """`rag ingest` returns with every new chunk tagged (no job left running aside): `rag
    entities` then has nothing left to do."""
    store_dir = tmp_path / "store"
    env = os.environ | {"RAG_STORE__PATH": str(store_dir), "RAG_INGEST__TAG_ENTITIES": "true"}
    cli = [sys.executable, "-m", "ui.cli"]
    done = subprocess.run(
        [*cli, "ingest", "--json", str(seeds_copy)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["tagged"]["chunks"] == report["chunks_added"] > 0
    assert report["tagged"]["sentences"] > report["chunks_added"]
    settings = make_settings(store_dir)
    assert not Layout.of(settings).job_log("entities").exists()  # nothing started aside
    assert not _locked(Layout.of(settings).entities_lock)
    done = subprocess.run(
        [*cli, "entities", "--quiet"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "0 sentences of 0 new chunks" in done.stdout
    assert f"of {report['chunks_added']:,} chunks" in done.stdout


@pytest.mark.subprocess
def test_an_ingest_tags_what_it_writes_as_fill_would(tmp_path: Path, embed_model) -> None:  # type: ignore[no-untyped-def]
    """Tagged while written, in two processes, the table holds what `fill` makes afterwards:
    the same sentences with the same entities, every chunk recorded; a second ingest of the
    same articles tags nothing."""
    from index.ingest import ingest

    settings = make_settings(tmp_path / "store")
    report = ingest([SEEDS], settings, embed_model, progress=False, tag=True, batch_size=4)
    assert report.tagged is not None
    assert report.tagged["chunks"] == report.chunks_added > 0
    assert fill(settings).chunks == 0  # nothing left for the filler
    after = make_settings(tmp_path / "after")
    ingest([SEEDS], after, embed_model, progress=False)
    assert fill(after).chunks == report.chunks_added
    rows = []
    for s in (settings, after):
        with sqlite3.connect(table_path(s.store)) as conn:
            rows.append(sorted(conn.execute("SELECT key, ents FROM sentences")))
    assert rows[0] == rows[1] and len(rows[0]) == report.tagged["sentences"]
    again = ingest([SEEDS], settings, embed_model, progress=False, tag=True)
    assert again.chunks_added == 0 and again.tagged is not None
    assert (again.tagged["sentences"], again.tagged["chunks"]) == (0, 0)
    assert "tagged" not in again.summary()


@pytest.mark.subprocess
def test_an_ingest_leaves_the_tagging_to_the_process_already_at_it(
    tmp_path: Path, embed_model
) -> None:  # type: ignore[no-untyped-def]
    """Another process holds the store's tagging lock (a filler started by an upload): the ingest
    writes without tagging, says so (`tagged` is None), and the filler's next round tags it."""
    import fcntl

    from index.ingest import ingest

    settings = make_settings(tmp_path / "store")
    lock = Layout.of(settings).entities_lock
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        report = ingest([SEEDS], settings, embed_model, progress=False, tag=True)
    assert report.tagged is None and report.chunks_added > 0
    assert fill(settings).chunks == report.chunks_added


@pytest.mark.subprocess
def test_an_ingest_stopped_leaves_its_untagged_chunks_to_the_filler(
    tmp_path: Path, embed_model, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """A write that fails part way: the batches recorded before it stay, their tagging is stopped
    (no worker left running, the lock let go) and `fill` tags what was not."""
    from index import ingest as ingest_module

    settings = make_settings(tmp_path / "store")
    calls = 0
    real = ingest_module.Ledger.record

    def record_then_fail(self, rows, chunks=None):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError("the disk went away")
        return real(self, rows, chunks)

    monkeypatch.setattr(ingest_module.Ledger, "record", record_then_fail)
    with pytest.raises(OSError, match="went away"):
        ingest_module.ingest([SEEDS], settings, embed_model, progress=False, tag=True, batch_size=2)
    monkeypatch.undo()
    assert not _locked(Layout.of(settings).entities_lock)
    left = fill(settings)
    assert left.total_chunks > 0 and fill(settings).chunks == 0


def _locked(path: Path) -> bool:
    import fcntl

    with path.open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


def test_rag_entities_without_an_index_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ui.cli import main

    monkeypatch.setenv("RAG_STORE__PATH", str(tmp_path / "store"))
    assert main(["--env-file", str(tmp_path / "none.env"), "entities", "--quiet"]) == 2
    assert "run `rag ingest" in capsys.readouterr().err
    assert not table_path(make_settings(tmp_path / "store").store).exists()


def test_each_collection_keeps_its_own_table(tmp_path: Path, embed_model) -> None:  # type: ignore[no-untyped-def]
    """Filling one collection's table no longer forgets what another's recorded (one table for
    the folder did: the second fill erased the first's chunks and tagged them all again)."""
    from index.ingest import ingest

    first = make_settings(tmp_path / "store")
    second = make_settings(tmp_path / "store", store={"collection": "other"})
    ingest([SEEDS], first, embed_model, progress=False)
    ingest(sorted(SEEDS.glob("*.txt"))[:2], second, embed_model, progress=False)
    done = fill(first).total_chunks
    fill(second)
    assert table_path(first.store) != table_path(second.store)
    assert fill(first).chunks == 0  # nothing of the first collection's was forgotten
    assert fill(first).total_chunks == done


def test_a_folder_table_from_before_is_copied_for_its_collection(
    tmp_path: Path, embed_model
) -> None:  # type: ignore[no-untyped-def]
    """A store whose folder kept one `entities.sqlite`: a reader reads it as it is, and the next
    fill starts the collection's own table from a copy, tagging nothing it already had."""
    from index.ingest import ingest

    settings = make_settings(tmp_path / "store")
    ingest([SEEDS], settings, embed_model, progress=False)
    tagged = fill(settings)
    layout = Layout.of(settings)
    layout.entities.rename(layout.old_entities)  # as an older version left it
    assert table_path(settings.store) == layout.old_entities  # read where it is
    assert not layout.entities.exists()
    again = fill(settings)
    assert layout.entities.exists() and layout.old_entities.exists()
    assert (again.chunks, again.total_sentences) == (0, tagged.total_sentences)


@pytest.mark.subprocess
def test_watched_and_uploaded_articles_are_tagged_too(
    tmp_path: Path, embed_model, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """What follows a write (`index.after_write`) runs for a watched folder as for `rag ingest`:
    its new sentences are tagged aside (before, only `rag ingest` tagged them)."""
    from index.watch import FolderSync

    monkeypatch.setenv("RAG_INGEST__TAG_ENTITIES", "true")
    settings = make_settings(tmp_path / "store", ingest={"tag_entities": True})
    folder = tmp_path / "watched"
    folder.mkdir()
    for path in sorted(SEEDS.glob("*.txt"))[:2]:
        (folder / path.name).write_bytes(path.read_bytes())
    done = FolderSync(folder, settings, embed_model).sync()
    assert len(done.added) == 2
    table = EntityTable(table_path(settings.store))
    deadline = time.monotonic() + 120
    while table.counts()[1] == 0:
        assert time.monotonic() < deadline, "nothing was tagged aside"
        time.sleep(0.5)
    while _locked(Layout.of(settings).entities_lock):
        assert time.monotonic() < deadline, "the tagging aside did not end"
        time.sleep(0.5)
    assert fill(settings).chunks == 0  # every chunk of the watched articles was tagged


@pytest.mark.server
def test_on_the_server_store_one_machine_tags_and_another_reads_the_tags(
    pg_settings: Settings, tmp_path: Path, embed_model, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from index.ingest import ingest
    from rag.pipeline import build
    from rag.spans.entities import PgEntityTable, open_table

    reader = open_table(pg_settings.store)  # a server started before any tagging
    assert isinstance(reader, PgEntityTable) and reader.lookup([SENTENCE]) == {}
    ingest([SEEDS], pg_settings, embed_model, progress=False)
    report = fill(pg_settings)  # the writer's machine
    assert report.chunks > 0 and report.total_sentences == report.sentences
    assert not list(pg_settings.store.path.glob("**/entities-*.sqlite"))  # nothing in its folder

    # another machine: its own folder (the chunks copied, as a chroma server would share them)
    import shutil

    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(pg_settings.store.path, elsewhere)
    other = pg_settings.model_copy(
        update={"store": pg_settings.store.model_copy(update={"path": elsewhere})}
    )
    pipeline = build(other, embed_model=embed_model)
    _no_tagging(monkeypatch)
    answer = pipeline.qa.ask("Who will Starmer host in London?", backend="extractive")
    tagger = pipeline.qa.answerers.extractive.tagger
    assert answer.citations and tagger.looked_up > 0 and tagger.tagged == 0
    assert fill(other).sentences == 0  # tagged once for every machine
    # part-of-speech tags a question made on one machine are read on another
    keeper = open_table(pg_settings.store, keep=True)
    monkeypatch.setattr(tagging, "_POS_CACHE", type(tagging._POS_CACHE)())  # none remembered
    made = tagging.pos_tag_many([PHRASED], keeper)
    keeper.flush()
    assert open_table(other.store).lookup_tags([PHRASED]) == {PHRASED: made[0]}


@pytest.mark.subprocess
def test_what_a_question_tags_is_kept_for_the_next_process(
    tmp_path: Path, embed_model, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """RAG_INGEST__TAG_ENTITIES=asked: nothing is tagged at ingest; the sentences the first
    questions tag are kept, and another process asking them again tags nothing, with the same
    answers. The chunks are not recorded as done: `rag entities` still tags the rest."""
    from index.ingest import ingest
    from rag.pipeline import build

    settings = make_settings(tmp_path / "store", ingest={"tag_entities": "asked"})
    report = ingest([SEEDS], settings, embed_model, progress=False, tag=True)
    assert report.tagged is not None  # asked for here; `rag ingest` does not under `asked`
    settings = make_settings(tmp_path / "lazy", ingest={"tag_entities": "asked"})
    ingest([SEEDS], settings, embed_model, progress=False)
    assert not table_path(settings.store).exists()
    questions = [
        json.loads(line)["user_input"]
        for line in (ROOT / "evals" / "gold" / "seeds.jsonl").read_text().splitlines()[:12]
    ]
    first = build(settings, embed_model=embed_model)
    expected = [first.qa.ask(q, backend="extractive") for q in questions]
    tagger = first.qa.answerers.extractive.tagger
    assert tagger.tagged > 0 and tagger.looked_up == 0
    tagger.table.flush()  # type: ignore[union-attr]
    kept, chunks = EntityTable(table_path(settings.store)).counts()
    assert kept == tagger.tagged and chunks == 0

    second = build(settings, embed_model=embed_model)  # as another process would
    _no_tagging(monkeypatch)
    got = [second.qa.ask(q, backend="extractive") for q in questions]
    assert [(a.answer, a.short_answer) for a in got] == [
        (a.answer, a.short_answer) for a in expected
    ]
    assert second.qa.answerers.extractive.tagger.looked_up == kept
    monkeypatch.undo()
    rest = fill(settings)
    assert rest.chunks > 0 and rest.total_sentences > kept


def test_with_tagging_off_nothing_is_kept(tmp_path: Path, embed_model) -> None:  # type: ignore[no-untyped-def]
    from index.ingest import ingest
    from rag.pipeline import build

    settings = make_settings(tmp_path / "store", ingest={"tag_entities": "off"})
    ingest([SEEDS], settings, embed_model, progress=False)
    pipe = build(settings, embed_model=embed_model)
    pipe.qa.ask("Who did Starmer meet in London?", backend="extractive")
    assert pipe.qa.answerers.extractive.tagger.tagged > 0
    pipe.qa.answerers.extractive.tagger.table.flush()  # type: ignore[union-attr]
    assert not table_path(settings.store).exists()


def test_a_table_that_cannot_be_written_stops_keeping_and_answers_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    table = EntityTable(tmp_path / "entities.sqlite", keep=True)

    def refuse() -> EntityTable:
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(table, "_writer", refuse)
    tagger = EntityTagger(table)
    assert ("London", "place") in tagger.entities([SENTENCE])[0]
    table.flush()
    assert "not kept" in caplog.text and "readonly" in caplog.text
    tagger2 = EntityTagger(table)
    assert ("Monday", "date") in tagger2.entities([SENTENCE])[0]  # tagged again, not kept
    table.flush()
    assert not (tmp_path / "entities.sqlite").exists()


@pytest.mark.parametrize(
    ("said", "means"),
    [("true", "ingest"), ("false", "off"), ("asked", "asked"), ("ingest", "ingest"), ("0", "off")],
)
def test_the_tagging_setting_reads_the_switch_it_was(said: str, means: str) -> None:
    assert Settings(ingest={"tag_entities": said}).ingest.tag_entities == means  # type: ignore[arg-type]


def test_the_tagging_setting_refuses_what_it_does_not_know() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="ingest"):
        Settings(ingest={"tag_entities": "sometimes"})  # type: ignore[arg-type]


@pytest.mark.subprocess
def test_an_ingest_whose_tagging_fails_writes_everything_and_leaves_the_tagging_to_the_filler(
    tmp_path: Path, embed_model, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """The tagging workers cannot start (spaCy's model gone, say): the ingest records every
    article, says nothing was tagged with it (`tagged` None: `rag ingest` then starts the filler,
    whose log says why), and lets go of the lock."""
    from index.ingest import ingest
    from rag.jobs import entities
    from tests.helpers import broken

    monkeypatch.setattr(entities, "_start_tagger", broken.start_tagger)
    settings = make_settings(tmp_path / "store")
    report = ingest([SEEDS], settings, embed_model, progress=False, tag=True, batch_size=2)
    assert report.tagged is None and report.new == len(list(SEEDS.glob("*.txt")))
    assert report.chunks_added > 0
    assert not _locked(Layout.of(settings).entities_lock)
    monkeypatch.undo()
    assert fill(settings).chunks == report.chunks_added


PHRASED = "Customs officers seized giant African land snails at the airport on Monday."


def test_part_of_speech_tags_a_question_made_are_kept_for_the_next_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tags the noun phrases are read from, made while a question waited, are kept in the
    entity table beside the entities; another process reads them back instead of tagging."""
    path = tmp_path / "entities.sqlite"
    table = EntityTable(path, keep=True)
    monkeypatch.setattr(tagging, "_POS_CACHE", type(tagging._POS_CACHE)())
    made = tagging.pos_tag_many([SENTENCE, PHRASED], table)
    assert any(tag == "NNS" for *_, tag in made[1])
    table.flush()

    def refuse() -> None:
        raise AssertionError("tagged again")

    monkeypatch.setattr(tagging, "_POS_CACHE", type(tagging._POS_CACHE)())
    monkeypatch.setattr(tagging, "_tagger", refuse)
    reader = EntityTable(path)  # as another process opens it
    assert tagging.pos_tag_many([PHRASED, SENTENCE], reader) == [made[1], made[0]]
    assert reader.counts() == (0, 0)  # no sentence's entities, no chunk recorded as done


def test_a_table_from_before_tags_were_kept_gives_entities_and_no_tags(tmp_path: Path) -> None:
    path = tmp_path / "entities.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
        CREATE TABLE sentences (key BLOB PRIMARY KEY, ents BLOB NOT NULL) WITHOUT ROWID;
        CREATE TABLE chunks (id TEXT PRIMARY KEY) WITHOUT ROWID;
        """
    )
    conn.execute("INSERT INTO meta VALUES ('model', ?)", (tagger_name(),))
    conn.commit()
    conn.close()
    writer = EntityTable(path, write=True)  # (a writer adds the tags' table)
    writer.add({SENTENCE: [("London", "GPE")]}, ["c1"])
    writer.close()
    assert EntityTable(path).lookup([SENTENCE]) == {SENTENCE: [("London", "GPE")]}
    assert EntityTable(path).lookup_tags([SENTENCE]) == {}
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE pos")  # a reader of a file no writer has opened since
    conn.commit()
    conn.close()
    old = EntityTable(path)
    assert old.lookup_tags([SENTENCE]) == {}
    assert old.lookup([SENTENCE]) == {SENTENCE: [("London", "GPE")]}


def test_tags_of_another_model_are_dropped_with_its_entities(tmp_path: Path) -> None:
    path = tmp_path / "entities.sqlite"
    writer = EntityTable(path, write=True)
    writer.add({SENTENCE: [("London", "GPE")]}, [], {SENTENCE: ((0, 4, "Keir", "NNP"),)})
    assert EntityTable(path).lookup_tags([SENTENCE]) == {SENTENCE: ((0, 4, "Keir", "NNP"),)}
    with writer._conn:  # type: ignore[union-attr]
        writer._conn.execute("UPDATE meta SET v = 'another model' WHERE k = 'model'")  # type: ignore[union-attr]
    writer.close()
    EntityTable(path, write=True).close()
    assert EntityTable(path).lookup_tags([SENTENCE]) == {}


def test_a_table_read_while_it_is_being_made_is_read_once_made(tmp_path: Path) -> None:
    """A server's reader opened the table between a writer making its tables and naming its
    model, took it for another model's and never read it again (seen in bench/stress.py)."""
    path = tmp_path / "entities.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
    conn.commit()
    conn.close()
    reader = EntityTable(path)
    assert reader.lookup([SENTENCE]) == {}  # no model named yet
    writer = EntityTable(path, write=True)
    writer.add({SENTENCE: [("London", "GPE")]}, [])
    writer.close()
    assert reader.lookup([SENTENCE]) == {SENTENCE: [("London", "GPE")]}
