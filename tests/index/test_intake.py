"""Reading what a user hands over into articles (`index.intake`), and seeding an empty index
(`index.seed`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from index.intake import articles_from_files, articles_from_records, intake
from index.seed import index_is_empty, seed_if_empty, seeds_dir
from rag.errors import IndexMissingError
from rag.settings import Settings
from tests.conftest import SEEDS, make_settings


def test_records_become_articles_and_problems_in_order() -> None:
    records = [
        ({"title": "B", "text": "Body b.", "url": "https://x.org/b"}, "row 1"),
        ({"title": "No text"}, "row 2"),
        ({"title": "A", "text": "Body a.", "id": "a", "published": "2025-06-05"}, "row 3"),
    ]
    articles, problems = articles_from_records(records)
    assert [a.title for a in articles] == ["B", "A"]
    assert articles[0].location == "https://x.org/b" and articles[0].source == "x.org"
    assert articles[1].id == "a" and str(articles[1].date) == "2025-06-05"
    assert [(p.location, p.message) for p in problems] == [("row 2", "no 'text' or 'body'")]


def test_same_id_from_two_places_is_kept_twice_same_place_once() -> None:
    records = [
        ({"id": "x", "title": "One", "text": "One."}, "first"),
        ({"id": "x", "title": "Two", "text": "Two."}, "second"),
        ({"id": "x", "title": "Two again", "text": "Two, edited."}, "second"),
    ]
    articles, _ = articles_from_records(records)
    assert [a.title for a in articles] == ["One", "Two again"]
    assert articles[0].id == "x" and articles[1].id.startswith("x-") and len(articles[1].id) == 8


def test_files_with_a_display_name(tmp_path: Path) -> None:
    good = tmp_path / "0" / "story.md"
    good.parent.mkdir()
    good.write_text("# A story\n\nIt happened on Friday in Riga.\n")
    rows = tmp_path / "1" / "rows.jsonl"
    rows.parent.mkdir()
    rows.write_text('{"title": "Row", "text": "A row."}\nnot json\n')
    articles, problems = articles_from_files(
        [good, rows], display_name=lambda p: f"upload:{p.name}"
    )
    assert [a.location for a in articles] == ["upload:story.md", "upload:rows.jsonl:1"]
    assert [p.location for p in problems] == ["upload:rows.jsonl:2"]
    assert str(tmp_path) not in problems[0].message


def test_files_without_a_display_name_keep_their_paths(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("   \n")
    articles, problems = articles_from_files([SEEDS / "000_2957f4742c5ecba1.txt", empty])
    assert [a.location for a in articles] == [str(SEEDS / "000_2957f4742c5ecba1.txt")]
    assert [p.location for p in problems] == [str(empty)]


def test_intake_is_what_rag_ingest_reads(tmp_path: Path) -> None:
    folder = tmp_path / "more"
    folder.mkdir()
    (folder / "000_2957f4742c5ecba1.txt").write_text("Another story\n\nWith a body.\n")
    (folder / "notes.pdf").write_bytes(b"%PDF")  # skipped by discovery inside a folder
    found = intake([SEEDS, folder, tmp_path / "missing", tmp_path / "more" / "notes.pdf"])
    assert found.files == 6
    ids = [a.id for a in found.articles]
    assert ids == sorted(ids) and len(ids) == 6
    clashing = [i for i in ids if i.startswith("000_2957f4742c5ecba1")]
    assert len(clashing) == 2  # same file name in two folders: both kept, one renamed
    assert {p.message.split(";")[0] for p in found.problems} == {
        "no such file or folder",
        "unsupported file type",
    }


def test_seeds_dir_prefers_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert seeds_dir() == SEEDS  # none here: the checkout's
    (tmp_path / "seeds").mkdir()
    assert seeds_dir() == tmp_path / "seeds"


def test_seeding_leaves_a_full_index_alone(seeded: Settings, embed_model: Any) -> None:
    said: list[str] = []
    assert not index_is_empty(seeded)
    assert seed_if_empty(seeded, embed_model, say=said.append) is None
    assert said == []


def test_seeding_an_empty_index(tmp_path: Path, embed_model: Any) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "one.txt").write_text((SEEDS / "000_2957f4742c5ecba1.txt").read_text())
    settings = make_settings(tmp_path / "store")
    assert index_is_empty(settings)
    said: list[str] = []
    report = seed_if_empty(settings, embed_model, say=said.append, seeds=seeds)
    assert report is not None and report.new == 1
    assert said[0].startswith(f"the index is empty: ingesting {seeds} into ")
    assert said[1] == report.summary()
    assert not index_is_empty(settings)


def test_seeding_without_seeds_says_what_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embed_model: Any
) -> None:
    monkeypatch.setattr("index.seed.seeds_dir", lambda: None)
    with pytest.raises(IndexMissingError, match="rag ingest DIR"):
        seed_if_empty(make_settings(tmp_path / "store"), embed_model, say=print)
