"""`GET /v1/articles` (what is indexed), `POST /v1/articles` (add articles: a JSON body
`{"articles": [{"title": ..., "text": ...}]}`, `{"urls": [...]}` of pages or feeds to fetch, or a
multipart upload of files named `files`) and `DELETE /v1/articles/{id}`.

Added articles are read by `index.intake` (the same readers as `rag ingest`; an uploaded file's
location becomes `upload:NAME`) and written by `index.ingest.ingest` with the same cleaning and
dedup, one writer at a time; the pipeline then sees them (`refresh`). The body is counted against
RAG_SERVER__MAX_UPLOAD_BYTES as it arrives (413), a file type we cannot read is a 415, and a
request with nothing readable a 422 that lists why. This module turns HTTP into those calls; the
reading and writing are `index`'s.
"""

from __future__ import annotations

import json
import tempfile
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from index.after_write import after_write
from index.ingest import IngestReport
from index.intake import articles_from_files, articles_from_records, file_limits
from index.loaders import SUFFIXES, Article, Limits, LoadProblem
from rag.errors import Deadline, TimeLimitError
from rag.pipeline import Pipeline
from rag.text.rules import repair
from ui.api.deps import MetricsDep, Reader, Writer
from ui.api.errors import describe_validation
from ui.api.middleware import form_from_bytes
from ui.api.schemas import ArticlesIn, error_responses

router = APIRouter(tags=["articles"])
# one writer at a time in this process; the ledger's lock serialises processes
WRITER = threading.Lock()
MAX_NAME_BYTES = 200  # file systems allow 255
WRITE_WAIT = 60.0  # seconds an upload waits for another process's ingest before a 503
UPLOAD_SECONDS = "RAG_SERVER__MAX_UPLOAD_SECONDS"


def inline_defs(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema with its `$defs` written in place: an `openapi_extra` body schema
    is copied into the spec as it is, where `#/$defs/...` would point at nothing."""
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    result: dict[str, Any] = walk(schema)
    return result


UPLOAD_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": inline_defs(ArticlesIn.model_json_schema())},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "files: " + ", ".join(SUFFIXES),
                        }
                    },
                }
            },
        },
    }
}


@router.get("/articles", summary="What is indexed")
def list_articles(pipeline: Reader) -> dict[str, Any]:
    articles = pipeline.catalogue.articles()
    return {"count": len(articles), "articles": articles}


@router.post(
    "/articles",
    summary="Add articles (JSON or file upload), cleaned and deduplicated like `rag ingest`",
    openapi_extra=UPLOAD_SCHEMA,
    responses=error_responses(409, 413, 415, 503, 507),
)
async def add_articles(
    request: Request,
    pipeline: Writer,
    metrics: MetricsDep,
    replace: bool = False,
) -> dict[str, Any]:
    """An article whose id is already indexed with other text is refused unless
    `?replace=true` (the others are added: `results` says added / changed / unchanged /
    refused for each; 409 when every one is refused); another writer holding the index for over
    a minute is a 503; a full disk a 507 (nothing written). Reading and indexing one upload may
    take RAG_SERVER__MAX_UPLOAD_SECONDS: past it, a 422 that says which articles were added
    (whole) and which were not (left as they were)."""
    body = await request.body()  # counted against its limit by `Guard` as it arrived
    settings = pipeline.settings
    deadline = Deadline.after(settings.server.max_upload_seconds, UPLOAD_SECONDS)
    limits = file_limits(settings, upload=True)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        parsed = parse_articles_in(body)
        if parsed.urls is not None:
            fetched = await run_in_threadpool(
                write_urls, pipeline, parsed.urls, parsed.refresh, deadline
            )
            metrics.written(r["status"] for r in fetched["results"])
            return fetched
        articles, problems = json_articles(parsed, limits, deadline)
    elif ctype == "multipart/form-data":
        articles, problems = await uploaded_articles(request, body, limits, deadline)
    else:
        raise HTTPException(
            415,
            "send application/json {'articles': [{'title': ..., 'text': ...}]} "
            "or a multipart/form-data file upload",
        )
    if not articles:
        raise HTTPException(
            422,
            "no article could be read: "
            + "; ".join(f"{p.location}: {p.message}" for p in problems),
        )
    written = await run_in_threadpool(write, pipeline, articles, problems, replace, deadline)
    metrics.written(r["status"] for r in written["results"])
    return written


def parse_articles_in(body: bytes) -> ArticlesIn:
    """A JSON body as `ArticlesIn` (422 with what is wrong when it is not one). Parsed as FastAPI
    parses the other bodies, so invalid Unicode is repaired, not refused."""
    expected = ' (expected {"articles": [{"title": ..., "text": ...}]} or {"urls": [...]})'
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(422, f"the request body is not valid JSON ({exc})" + expected) from None
    except RecursionError:
        raise HTTPException(422, "the request body is nested too deeply" + expected) from None
    try:
        return ArticlesIn.model_validate(data)
    except ValidationError as exc:
        raise HTTPException(422, describe_validation(exc.errors()) + expected) from None


@router.delete(
    "/articles/{article_id:path}",
    summary="Remove an article (its chunks, lexical entries and duplicate links)",
    responses=error_responses(404, 503),
)
def delete_article(article_id: str, pipeline: Writer, metrics: MetricsDep) -> dict[str, Any]:
    """A copy that shared paragraphs with it indexes them itself and still answers (`restored`
    counts those); adding the article again restores it. 404 when no such article is indexed."""
    removed = remove_article(pipeline, article_id)
    if removed is None:
        raise HTTPException(
            404, f"no article {article_id!r} is indexed: GET /v1/articles lists their ids"
        )
    metrics.written(["removed"])
    return {"id": article_id, "status": "removed", "restored": removed}


def remove_article(pipeline: Pipeline, article_id: str) -> int | None:
    """Remove the article and let the pipeline see it gone: how many of its copies now index
    what it carried for them (None: no such article)."""
    from index.ingest import remove

    with WRITER:
        report = remove(
            [article_id], pipeline.settings, pipeline.embed_model, lock_timeout=WRITE_WAIT
        )
        if report.removed:
            after_write(pipeline.settings)
            pipeline.refresh()  # (an unknown id changed nothing: nothing to see again)
    return None if report.status[article_id] == "not found" else report.restored


def json_articles(
    parsed: ArticlesIn, limits: Limits, deadline: Deadline | None = None
) -> tuple[list[Article], list[LoadProblem]]:
    """The articles given whole in a JSON body."""
    return articles_from_records(
        (
            (a.model_dump(exclude_none=True), a.url or f"POST /v1/articles #{i}")
            for i, a in enumerate(parsed.articles or [])
        ),
        limits,
        deadline,
    )


async def uploaded_articles(
    request: Request, body: bytes, limits: Limits, deadline: Deadline | None = None
) -> tuple[list[Article], list[LoadProblem]]:
    """The articles in a multipart upload's files (415 for a type `index.loaders` cannot read)."""
    form = await form_from_bytes(request, body)
    try:
        with tempfile.TemporaryDirectory(prefix="rag-upload-") as tmp:
            paths: list[Path] = []
            for _, value in form.multi_items():
                if isinstance(value, str):
                    continue
                name = upload_name(value.filename)
                if not name.lower().endswith(SUFFIXES):
                    raise HTTPException(
                        415, f"{name}: unsupported file type; upload one of {', '.join(SUFFIXES)}"
                    )
                target = Path(tmp) / f"{len(paths)}" / name  # one folder each: names may repeat
                target.parent.mkdir()
                target.write_bytes(await value.read())
                paths.append(target)
            if not paths:
                raise HTTPException(
                    422, "no file in the upload: send multipart form field(s) named 'files'"
                )
            return await run_in_threadpool(
                articles_from_files,
                paths,
                display_name=lambda p: f"upload:{p.name}",
                limits=limits,
                deadline=deadline,
            )
    finally:
        await form.close()


def upload_name(filename: str | None) -> str:
    """A file name an upload can be saved under: its last path part, valid Unicode without
    control characters, at most MAX_NAME_BYTES in UTF-8 (cut before the type suffix, which is
    kept), or upload.txt when nothing is left."""
    name = "".join(c for c in repair(Path(filename or "").name) if c.isprintable()).strip()
    if name in ("", ".", ".."):
        return "upload.txt"
    low = name.lower()
    suffix = max((x for x in SUFFIXES if low.endswith(x)), key=len, default="")
    stem = name[: len(name) - len(suffix)]
    room = MAX_NAME_BYTES - len(suffix.encode())
    stem = stem.encode()[:room].decode(errors="ignore") or "upload"
    return stem + name[len(name) - len(suffix) :]


def write(
    pipeline: Pipeline,
    articles: list[Article],
    problems: list[LoadProblem],
    replace: bool = False,
    deadline: Deadline | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Ingest the articles into the pipeline's store and let it see them; the report as JSON
    (`TimeLimitError`, after the refresh, when the deadline left some articles unwritten).
    `progress`: a tqdm bar (the chat shows it while it waits)."""
    from index.ingest import ingest

    with WRITER:
        report = ingest(
            [],
            pipeline.settings,
            pipeline.embed_model,
            articles=articles,
            progress=progress,
            replace=replace,
            lock_timeout=WRITE_WAIT,
            deadline=deadline,
        )
        if report.new or report.updated or report.removed:
            after_write(pipeline.settings)
        pipeline.refresh()
    return _answer(report, [a.id for a in articles], problems, deadline)


def fetch_into(
    pipeline: Pipeline,
    urls: list[str],
    *,
    refresh: bool = False,
    deadline: Deadline | None = None,
    progress: bool = False,
) -> tuple[IngestReport, Any]:
    """Fetch the URLs' articles into the pipeline's collection, one writer at a time in this
    process, and let the pipeline see them: the ingest report and what was fetched."""
    from index.web import ingest_urls

    with WRITER:
        report, found = ingest_urls(
            urls,
            pipeline.settings,
            pipeline.embed_model,
            refresh=refresh,
            progress=progress,
            lock_timeout=WRITE_WAIT,
            deadline=deadline,
            allow_private=pipeline.settings.fetch.private_urls,
        )
        if report.new or report.updated or report.removed:
            after_write(pipeline.settings)
        pipeline.refresh()
    return report, found


def write_urls(
    pipeline: Pipeline, urls: list[str], refresh: bool, deadline: Deadline, progress: bool = False
) -> dict[str, Any]:
    """Fetch and ingest the URLs' articles (`index.web`); the report as JSON, as for articles
    (422 when no URL gave an article and none was ingested before)."""
    report, found = fetch_into(
        pipeline, urls, refresh=refresh, deadline=deadline, progress=progress
    )
    ids = [a.id for a in found.articles] + list(dict.fromkeys(found.skipped.values()))
    if not ids:
        raise HTTPException(
            422,
            "no article could be fetched: "
            + "; ".join(f"{p.location}: {p.message}" for p in report.problems),
        )
    return _answer(report, ids, [], deadline)


def _answer(
    report: IngestReport, ids: list[str], problems: list[LoadProblem], deadline: Deadline | None
) -> dict[str, Any]:
    if report.not_added and deadline is not None:
        late = report.not_added
        done = [i for i in ids if report.status.get(i) != "not added"]
        raise TimeLimitError(
            f"indexing the upload took longer than {deadline.seconds:g} s ({deadline.setting}): "
            f"{len(done)} of {len(ids)} articles were added or found unchanged"
            + (f" ({', '.join(done[:5])}{', ...' if len(done) > 5 else ''})" if done else "")
            + f", {len(late)} were not and stay as they were ({', '.join(late[:5])}"
            + f"{', ...' if len(late) > 5 else ''}): send those again in smaller uploads, "
            "or raise the limit"
        )
    return {
        "articles": report.articles,
        "article_ids": ids,
        "results": [{"id": i, "status": report.status.get(i, "unchanged")} for i in ids],
        "new": report.new,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "chunks_added": report.chunks_added,
        "duplicate_paragraphs": report.duplicate_paragraphs,
        "problems": [asdict(p) for p in [*problems, *report.problems]],
        "summary": report.summary(),
    }
