"""What the chat does when something happens on the page: show the collections the visitor may
use, answer a question (streaming), open a clicked citation, list the indexed articles, add
uploaded files to the collection.

The handlers call the collection's pipeline in-process (no HTTP round trip; `ui.api` puts
Gradio's login in front of the page when keys are used). Who the visitor is comes from their
login (`ui.api.access.Sessions`: the key they logged in with), checked again by every handler:
the collection picker lists only the collections that key may read, the upload only shows with
a write key, and a collection the key may not read is refused whatever the page sends. State
lives in the page (`turns`: each question, what is shown, and the final `Answer` as JSON); earlier
turns go to `QAService` as history, which makes a follow-up standalone. Declined answers and
backend failures become short messages, never a stack trace. They render through `ui.web.render`
and do not lay out the page (that is `ui.web.app`); they do not ingest.
"""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import gradio as gr

from index.intake import articles_from_files, file_limits
from index.loaders import SUFFIXES
from rag.answering.answer import Answer, Delta
from rag.errors import Deadline, RagError
from rag.pipeline import Pipeline
from rag.schema import Filters
from rag.store.ledger import arrivals
from rag.text.dates import parse_day
from ui.api.access import Access, Sessions
from ui.served import NoSuchCollection, Served
from ui.web.render import (
    ARTICLE_ROWS,
    PANEL_EMPTY,
    Shelf,
    answer_markdown,
    articles_html,
    as_text,
    chat_messages,
    source_panel,
)

log = logging.getLogger(__name__)

Turns = list[dict[str, Any]]

NEWEST, ARRIVED = "newest first", "latest arrivals first"  # the article list's orders


def field_date(value: str | float | None, label: str) -> date | None:
    """A day typed or picked in a date field ("2025-06-05", or a time stamp): None when empty,
    a RagError naming the field when it is not a date."""
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC).date()
    value = (value or "").strip()
    if not value:
        return None
    try:
        return parse_day(value)
    except ValueError as exc:
        raise RagError(f"{label} {exc}") from None


def cookies_of(request: gr.Request | None) -> dict[str, str]:
    """The browser's cookies (Gradio's `Request` turns dicts it is asked for into objects;
    the request it wraps, or what it kept of one for the queue, has them as they came)."""
    if request is None:
        return {}
    inner = request.request
    if inner is not None:
        return dict(inner.cookies)
    return dict(request.kwargs.get("cookies") or {})


def history_of(turns: Turns) -> list[dict[str, str]]:
    """The answered turns as QAService history (the answers' text, without sources)."""
    history: list[dict[str, str]] = []
    for t in turns:
        if t.get("answer"):
            history.append({"role": "user", "content": t["question"]})
            history.append({"role": "assistant", "content": t["answer"]["answer"]})
    return history


NOT_LOGGED_IN = "Your login has ended (or its key was revoked): reload the page and log in again."


class ChatHandlers:
    """The chat's event handlers, for the collections served and the visitors' logins."""

    def __init__(self, served: Served, sessions: Sessions) -> None:
        self.served, self.sessions = served, sessions

    def access(self, request: gr.Request | None) -> Access | None:
        return self.sessions.of(cookies_of(request))

    def readable(self, access: Access | None) -> list[str]:
        """The collections this visitor may ask, the default one first."""
        if access is None:
            return []
        default = self.served.default_name
        names = sorted(n for n in self.served.names() if access.sees(n))
        return sorted(names, key=lambda n: n != default)

    def pipeline(self, request: gr.Request | None, collection: str | None, scope: str) -> Pipeline:
        """The collection's pipeline, for a visitor whose key may `scope` it (RagError else)."""
        access = self.access(request)
        if access is None:
            raise RagError(NOT_LOGGED_IN)
        name = collection or self.served.default_name
        if not access.sees(name):
            raise RagError(f"no collection {name!r} for this key")
        if not access.allows(scope):
            raise RagError(
                f"this key may only {access.scope} {name!r}; adding articles needs a write key"
            )
        try:
            return self.served.pipeline(name)
        except NoSuchCollection:
            raise RagError(f"no collection {name!r} (it may have been deleted)") from None

    def start(self, request: gr.Request) -> tuple[Any, ...]:
        """On page load: the picker (the visitor's collections) and the upload's visibility (the
        article list follows: `search_articles`)."""
        access = self.access(request)
        names = self.readable(access)
        first = names[0] if names else None
        picker = gr.update(
            choices=names,
            value=first,
            visible=len(names) > 1 or (first is not None and first != self.served.default_name),
        )
        upload, *_, shown = self.switched(first, None, request)
        # the conversation is left alone: a question asked while the page loads stays asked
        return (picker, upload, *(gr.skip(),) * 4, shown)

    def switched(
        self, collection: str | None, shown: str | None, request: gr.Request
    ) -> tuple[Any, ...]:
        """Another collection picked (`shown` is the one the page shows): the upload shown if
        the key may write it and a new conversation (the earlier one was about another archive;
        its article list follows: `search_articles`); nothing changes when the same one is
        picked again."""
        if shown is not None and collection == shown:
            return tuple(gr.skip() for _ in range(6))
        access = self.access(request)
        can_write = bool(
            access and collection and access.sees(collection) and access.allows("write")
        )
        return (gr.update(visible=can_write), *self.reset(), collection)

    def respond(
        self,
        question: str,
        turns: Turns | None,
        collection: str | None,
        backend: str,
        top_k: float,
        date_from: str,
        date_to: str,
        sources: list[str] | None,
        as_of: str = "",
        request: gr.Request = None,  # type: ignore[assignment]  # (Gradio passes it)
    ) -> Iterator[tuple[Any, ...]]:
        """Add a turn and stream its answer into it: (chat messages, turns, cleared question)."""
        turns = list(turns or [])
        question = (question or "").strip()
        if not question:
            yield chat_messages(turns), turns, ""
            return
        history = history_of(turns)
        turn = len(turns)
        current: dict[str, Any] = {"question": question, "shown": "…", "answer": None}
        turns.append(current)
        yield chat_messages(turns), turns, ""
        try:
            pipeline = self.pipeline(request, collection, "read")
            filters = Filters(
                date_from=field_date(date_from, "From"),
                date_to=field_date(date_to, "To"),
                sources=list(sources) if sources else None,
            )
            written = ""
            last_yield = 0.0
            for event in pipeline.qa.stream(
                question,
                top_k=int(top_k) if top_k else None,
                filters=filters,
                backend=backend or None,
                history=history or None,
                as_of=field_date(as_of, "As of"),
            ):
                if isinstance(event, Delta):
                    written += event.text
                    current["shown"] = as_text(written) + " ▌"
                    if time.monotonic() - last_yield > 0.05:  # ~20 updates a second is plenty
                        last_yield = time.monotonic()
                        yield chat_messages(turns), turns, ""
                elif isinstance(event, Answer):
                    current["answer"] = event.model_dump(mode="json")
                    current["shown"] = answer_markdown(event, turn)
        except RagError as exc:
            current["shown"] = f"⚠️ {html.escape(str(exc))}"
        except Exception as exc:  # a backend crashed: say so briefly, log the details
            log.exception("answering failed")
            current["shown"] = (
                f"⚠️ Something went wrong while answering ({html.escape(type(exc).__name__)}). "
                "Try again, or choose the extractive backend in Settings."
            )
        if current["answer"] is None and current["shown"] == "…":
            current["shown"] = "⚠️ No answer came back. Try again."
        yield chat_messages(turns), turns, ""

    def open_citation(
        self,
        ref: str,
        turns: Turns | None,
        collection: str | None = None,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> str:
        """The source panel for a clicked `TURN-N` (empty panel when it names nothing)."""
        m = re.match(r"(\d+)-(\d+)", ref or "")
        turns = turns or []
        if not m or int(m.group(1)) >= len(turns) or not turns[int(m.group(1))].get("answer"):
            return PANEL_EMPTY
        answer = Answer.model_validate(turns[int(m.group(1))]["answer"])
        number = int(m.group(2))
        for c in answer.citations:
            if c.number == number:
                try:
                    pipeline = self.pipeline(request, collection, "read")
                    return source_panel(c, pipeline.catalogue.chunk_text(c.chunk_id))
                except Exception:
                    log.exception("could not render citation")
                    return f"<p>Could not show source [{number}].</p>"
        return PANEL_EMPTY

    def search_articles(
        self,
        collection: str | None,
        query: str = "",
        source: str | None = "",
        since: str | float | None = None,
        until: str | float | None = None,
        order: str = NEWEST,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> tuple[Any, ...]:
        """The article table cut to those matching every word of `query` (in the title, the
        source, the id or the date: "AA 2025-06" is AA's articles of June 2025), from `source`,
        dated `since`..`until`, in the `order` picked; and both source pickers' choices."""
        try:
            shelf = Shelf(
                query or "",
                source or "",
                field_date(since, "Dated from:"),
                field_date(until, "Dated to:"),
                "arrival" if order == ARRIVED else "date",
            )
        except RagError as exc:
            return f"<p>⚠️ {html.escape(str(exc))}</p>", gr.skip(), gr.skip()
        return self.list_articles(collection, request, shelf)

    def list_articles(
        self,
        collection: str | None,
        request: gr.Request | None,
        shelf: Shelf,
    ) -> tuple[Any, ...]:
        """The article table, and the source pickers' choices (articles may have been added)."""
        try:
            pipeline = self.pipeline(request, collection, "read")
        except RagError as exc:
            empty = gr.update(choices=[])
            return f"<p>{html.escape(str(exc))}</p>", empty, empty
        try:
            pipeline.retriever.sync()  # a watched folder or a writer may have added some
            found = pipeline.catalogue.articles()
            arrived = arrivals(pipeline.settings, ARTICLE_ROWS)
        except Exception:
            log.exception("listing articles failed")
            return "<p>The article list is not available right now.</p>", gr.skip(), gr.skip()
        names = pipeline.catalogue.sources()
        choices = gr.update(choices=names)
        if shelf.narrows:
            found = [a for a in found if shelf.keeps(a)]
            if not found:
                said = f"<p>No article matches {html.escape(shelf.said())}.</p>"
                return said, choices, choices
        return articles_html(found, arrived, order=shelf.order), choices, choices

    def add_files(
        self,
        files: list[str] | None,
        collection: str | None,
        request: gr.Request = None,  # type: ignore[assignment]
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008 (Gradio's way)
    ) -> tuple[Any, ...]:
        """Read the uploaded files and add their articles to the collection, as `POST
        /v1/collections/NAME/articles` does, with a progress bar while they are indexed: (what
        became of each, None for the file picker)."""
        from ui.api.routes.articles import UPLOAD_SECONDS, write

        paths = [Path(f) for f in files or []]
        try:
            pipeline = self.pipeline(request, collection, "write")
            if not paths:
                raise RagError("choose one or more files first")
            bad = [p.name for p in paths if not p.name.lower().endswith(SUFFIXES)]
            if bad:
                raise RagError(f"{', '.join(bad)}: not a type it reads ({', '.join(SUFFIXES)})")
            settings = pipeline.settings
            deadline = Deadline.after(settings.server.max_upload_seconds, UPLOAD_SECONDS)
            articles, problems = articles_from_files(
                paths,
                display_name=lambda p: f"upload:{p.name}",
                limits=file_limits(settings, upload=True),
                deadline=deadline,
            )
            if not articles:
                raise RagError(
                    "no article could be read: "
                    + "; ".join(f"{p.location}: {p.message}" for p in problems)
                )
            progress(0, desc=f"indexing {len(articles)} articles")
            report = write(pipeline, articles, problems, deadline=deadline, progress=True)
            told = upload_report(report)
        except RagError as exc:
            told = f"⚠️ {html.escape(str(exc))}"
        return told, None

    def rate(
        self,
        turns: Turns | None,
        collection: str | None,
        data: gr.LikeData,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> str:
        """A thumbs up or down on an answer (`data.index`: its message): kept as feedback."""
        turn = (data.index[0] if isinstance(data.index, (list, tuple)) else data.index) // 2
        verdict = "up" if data.liked else "down"
        return self._keep(turns, turn, collection, verdict, "", [], request)

    def correct(
        self,
        turns: Turns | None,
        collection: str | None,
        expected: str,
        unsupported: list[str] | None,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> tuple[str, Any, Any]:
        """The last answer marked wrong, with the answer expected and the citations that do not
        support their claims: (what was kept, the cleared form)."""
        numbers = [int(n) for n in unsupported or [] if str(n).isdigit()]
        last = len(turns or []) - 1
        said = self._keep(turns, last, collection, "down", expected.strip(), numbers, request)
        return said, gr.update(value=""), gr.update(value=[])

    def _keep(
        self,
        turns: Turns | None,
        turn: int,
        collection: str | None,
        verdict: str,
        expected: str,
        unsupported: list[int],
        request: gr.Request | None,
    ) -> str:
        from rag.store.feedback import Feedback, feedback_book

        turns = turns or []
        if not 0 <= turn < len(turns) or not turns[turn].get("answer"):
            return "⚠️ There is no answer to give feedback on yet."
        answer = turns[turn]["answer"]
        try:
            pipeline = self.pipeline(request, collection, "read")
            access = self.access(request)
            item = Feedback(
                question=turns[turn]["question"],
                verdict=verdict,
                answer=answer,
                as_of=answer.get("as_of"),
                expected=expected,
                unsupported=unsupported,
                who=(access.key_id if access else None) or "",
            )
            kept = feedback_book(pipeline.settings).add(item)
        except (RagError, ValueError) as exc:
            return f"⚠️ {html.escape(str(exc))}"
        test = " It will become a test question." if kept.gold() is not None else ""
        return f"Thank you: feedback {kept.id} kept ({verdict}).{test}"

    def export(self, turns: Turns | None, collection: str | None) -> tuple[Any, Any]:
        """The conversation as Markdown (shown, with a copy button) and as a file to download."""
        import tempfile

        from ui.export import conversation_markdown

        answers = [Answer.model_validate(t["answer"]) for t in turns or [] if t.get("answer")]
        if not answers:
            return gr.update(value="Ask a question first: there is nothing to export."), None
        text = conversation_markdown(answers, collection=collection or "")
        folder = Path(tempfile.mkdtemp(prefix="rag-export-"))
        path = folder / f"news-qa-{date.today().isoformat()}.md"
        path.write_text(text, encoding="utf-8")
        return gr.update(value=text), gr.update(value=str(path), visible=True)

    def add_urls(
        self,
        text: str,
        collection: str | None,
        request: gr.Request = None,  # type: ignore[assignment]
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008 (Gradio's way)
    ) -> tuple[Any, ...]:
        """Fetch the pages and feeds pasted (one a line) into the collection, with a progress
        bar while they are fetched and indexed: (what became of each, the cleared box)."""
        from fastapi import HTTPException

        from ui.api.routes.articles import UPLOAD_SECONDS, write_urls

        urls = [u.strip() for u in (text or "").splitlines() if u.strip()]
        try:
            pipeline = self.pipeline(request, collection, "write")
            if not urls:
                raise RagError("paste one or more page or feed addresses, one a line")
            deadline = Deadline.after(pipeline.settings.server.max_upload_seconds, UPLOAD_SECONDS)
            progress(0, desc=f"fetching {len(urls)} addresses")
            report = write_urls(pipeline, urls, False, deadline, progress=True)
            told, box = upload_report(report), ""
        except HTTPException as exc:
            told, box = f"⚠️ {html.escape(str(exc.detail))}", text
        except RagError as exc:
            told, box = f"⚠️ {html.escape(str(exc))}", text
        return told, box

    def feeds(self, collection: str | None, request: gr.Request = None) -> str:  # type: ignore[assignment]
        """The feeds the collection follows, as a table."""
        from rag.store.feeds import FeedList
        from rag.store.layout import Layout

        try:
            pipeline = self.pipeline(request, collection, "read")
        except RagError as exc:
            return f"<p>{html.escape(str(exc))}</p>"
        found = FeedList(Layout.of(pipeline.settings).feeds).all()
        if not found:
            return "<p>This collection follows no feed yet.</p>"
        rows = "".join(
            f"<tr><td>{html.escape(f.url)}</td><td>{f.every / 60:g} min</td>"
            f"<td>{html.escape(f.last_outcome or 'not read yet')}</td></tr>"
            for f in found
        )
        return f"<table class='feeds-table'><tr><th>Feed</th><th>Every</th><th>Last read</th></tr>{rows}</table>"

    def follow(
        self,
        url: str,
        minutes: float | None,
        collection: str | None,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> tuple[Any, ...]:
        """Follow a feed (and read it now): (what came of it, the feeds)."""
        from rag.store.feeds import FeedList
        from rag.store.layout import Layout
        from ui.feeds import read_feeds

        try:
            pipeline = self.pipeline(request, collection, "write")
            feeds = FeedList(Layout.of(pipeline.settings).feeds)
            feed = feeds.add(url or "", float(minutes or 15) * 60)
            outcome = read_feeds(pipeline, [feed.url])
            feeds.read([feed.url], outcome)
            told = f"Following {html.escape(feed.url)}: {html.escape(outcome)}"
        except RagError as exc:
            told = f"⚠️ {html.escape(str(exc))}"
        return told, self.feeds(collection, request)

    def unfollow(
        self,
        url: str,
        collection: str | None,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> tuple[str, str]:
        from rag.store.feeds import FeedList
        from rag.store.layout import Layout

        try:
            pipeline = self.pipeline(request, collection, "write")
            gone = FeedList(Layout.of(pipeline.settings).feeds).remove(url or "")
            told = f"No longer following {html.escape(url)}." if gone else "⚠️ Not a feed followed."
        except RagError as exc:
            told = f"⚠️ {html.escape(str(exc))}"
        return told, self.feeds(collection, request)

    def remove(
        self,
        article_id: str,
        collection: str | None,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> tuple[Any, ...]:
        """Remove an article by id: (what happened, the cleared box)."""
        from ui.api.routes.articles import remove_article

        article_id = (article_id or "").strip()
        try:
            pipeline = self.pipeline(request, collection, "write")
            restored = remove_article(pipeline, article_id) if article_id else None
            if restored is None:
                raise RagError(f"no article {article_id!r} is indexed (the list shows their ids)")
            told, box = f"Removed `{html.escape(article_id)}`.", ""
        except RagError as exc:
            told, box = f"⚠️ {html.escape(str(exc))}", article_id
        return told, box

    @staticmethod
    def citation_numbers(turns: Turns | None) -> Any:
        """The citation numbers of the last answer, for the form that marks them."""
        last = (turns or [{}])[-1].get("answer") or {}
        numbers = [str(c["number"]) for c in last.get("citations", [])]
        return gr.update(choices=numbers, value=[])

    @staticmethod
    def pick_example(evt: gr.SelectData) -> str:
        value = evt.value
        return str(value.get("text", "")) if isinstance(value, dict) else str(value)

    @staticmethod
    def reset() -> tuple[Any, ...]:
        """A new conversation: no messages, no turns, no question, an empty source panel."""
        return [], [], "", PANEL_EMPTY


def upload_report(report: dict[str, Any]) -> str:
    """What became of each uploaded article, as Markdown (the API's `results` and problems)."""
    lines = [f"**{html.escape(report['summary'])}**"]
    for r in report["results"]:
        lines.append(f"- `{html.escape(r['id'])}`: {html.escape(r['status'])}")
    for p in report["problems"]:
        lines.append(f"- ⚠️ {html.escape(p['location'])}: {html.escape(p['message'])}")
    return "\n".join(lines)
