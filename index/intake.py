"""Turn what a user hands over into `Article`s: files and folders (`rag ingest`), uploaded files
(`POST /v1/articles`), JSON records (the API's JSON body, the RealTimeQA corpus).

One family, one set of rules: every source yields `(articles, problems)` with the same
`LoadProblem` type; a record or file that cannot be read costs only itself; two articles that
claim the same id from different places are both kept (the later one's id gets a short suffix
derived from its location), while the same place read twice keeps its later reading.
`intake()` is what `rag ingest` reads: discovery (the suffixes in `index.loaders.SUFFIXES`),
loading and de-clashing, sorted by id so `--limit` and reports are stable.

This module reads and converts; it does not clean text itself (the loaders call `index.clean`),
and it does not chunk, embed or write the index (that is `index.ingest`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from index.loaders import (
    DEFAULT_LIMITS,
    Article,
    Limits,
    LoadProblem,
    article_from_record,
    discover,
    load,
)
from rag.errors import Deadline
from rag.settings import Settings

Record = tuple[Mapping[str, object], str]  # a JSON object and where it came from


@dataclass
class Intake:
    """What `intake()` found: the articles (sorted by id), the problems, the files read."""

    articles: list[Article] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)
    files: int = 0


def _declash(found: dict[str, Article], article: Article) -> None:
    """Add `article`, renaming it when another place already claimed its id."""
    if article.id in found and found[article.id].location != article.location:
        digest = hashlib.sha1(article.location.encode()).hexdigest()[:6]
        article.id = f"{article.id}-{digest}"
    found[article.id] = article


def articles_from_records(
    records: Iterable[Record], limits: Limits = DEFAULT_LIMITS, deadline: Deadline | None = None
) -> tuple[list[Article], list[LoadProblem]]:
    """One article per JSON object (title, text or body, url, published, source, authors, id),
    in the order given; an unusable record becomes a problem naming its location. Past the
    `deadline`, `TimeLimitError` (nothing is returned)."""
    found: dict[str, Article] = {}
    problems: list[LoadProblem] = []
    for record, location in records:
        if deadline is not None:
            deadline.check("reading the articles")
        try:
            article = article_from_record(dict(record), location, limits)
        except (KeyError, ValueError) as exc:
            problems.append(LoadProblem(location, str(exc)))
            continue
        _declash(found, article)
    return list(found.values()), problems


def articles_from_files(
    paths: Iterable[Path],
    *,
    display_name: Callable[[Path], str] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    deadline: Deadline | None = None,
) -> tuple[list[Article], list[LoadProblem]]:
    """Every article in these files (many per .jsonl), in the order given.

    `display_name(path)` replaces the path wherever it would show (article locations, which end
    up in citations, and problems): an upload's temporary file becomes e.g. `upload:NAME`.
    Past the `deadline` (checked after each article), `TimeLimitError`."""
    found: dict[str, Article] = {}
    problems: list[LoadProblem] = []
    for path in paths:
        raw = str(path)
        shown = display_name(path) if display_name else raw
        for item in load(path, limits):
            if deadline is not None:
                deadline.check(f"reading {shown}")
            if isinstance(item, LoadProblem):
                location = item.location
                if location.startswith(raw):
                    location = shown + location[len(raw) :]
                problems.append(LoadProblem(location, item.message.replace(raw, shown)))
                continue
            if item.location.startswith(raw):  # rows with a url keep their url
                item.location = shown + item.location[len(raw) :]
            _declash(found, item)
    return list(found.values()), problems


def file_limits(settings: Settings, *, upload: bool = False) -> Limits:
    """The `Limits` of RAG_INGEST__*; for an upload to the server, the tighter of those and
    RAG_SERVER__MAX_UPLOAD_EXPANDED_BYTES / _RECORDS (named in the refusals)."""
    ing, srv = settings.ingest, settings.server
    expanded, records = ing.max_expanded_bytes, ing.max_records
    names = list(DEFAULT_LIMITS.names)
    if upload and srv.max_upload_expanded_bytes <= expanded:
        expanded, names[0] = srv.max_upload_expanded_bytes, "RAG_SERVER__MAX_UPLOAD_EXPANDED_BYTES"
    if upload and srv.max_upload_records <= records:
        records, names[2] = srv.max_upload_records, "RAG_SERVER__MAX_UPLOAD_RECORDS"
    return Limits(
        expanded_bytes=expanded,
        line_chars=ing.max_line_chars,
        records=records,
        article_chars=ing.max_article_chars,
        names=(names[0], names[1], names[2], names[3]),
    )


def intake(paths: Iterable[Path], limits: Limits = DEFAULT_LIMITS) -> Intake:
    """The articles under these files and folders, as `rag ingest` reads them: unsupported or
    missing paths are problems, articles come back sorted by id."""
    files, problems = discover(paths)
    articles, load_problems = articles_from_files(files, limits=limits)
    articles.sort(key=lambda a: a.id)
    return Intake(articles=articles, problems=problems + load_problems, files=len(files))
