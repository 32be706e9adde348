"""What the chat does when something happens on the page, for one pipeline: answer a question
(streaming), open a clicked citation, list the indexed articles.

The handlers call the pipeline in-process (no HTTP round trip, so they need no API key of their
own; `ui.api` puts Gradio's login in front of the page when a key is set). Conversation state
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
from datetime import date
from typing import Any

import gradio as gr

from rag.answering.answer import Answer, Delta
from rag.errors import RagError
from rag.pipeline import Pipeline
from rag.schema import Filters
from rag.store.ledger import arrivals
from rag.text.dates import parse_day
from ui.web.render import (
    ARTICLE_ROWS,
    PANEL_EMPTY,
    answer_markdown,
    articles_html,
    as_text,
    chat_messages,
    source_panel,
)

log = logging.getLogger(__name__)

Turns = list[dict[str, Any]]


def field_date(value: str | None, label: str) -> date | None:
    """A date typed into the From/To field: None when empty, a RagError naming the field when
    it is not a date."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return parse_day(value)
    except ValueError as exc:
        raise RagError(f"{label} {exc}") from None


def history_of(turns: Turns) -> list[dict[str, str]]:
    """The answered turns as QAService history (the answers' text, without sources)."""
    history: list[dict[str, str]] = []
    for t in turns:
        if t.get("answer"):
            history.append({"role": "user", "content": t["question"]})
            history.append({"role": "assistant", "content": t["answer"]["answer"]})
    return history


class ChatHandlers:
    """The chat's event handlers, bound to one pipeline."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def respond(
        self,
        question: str,
        turns: Turns | None,
        backend: str,
        top_k: float,
        date_from: str,
        date_to: str,
        sources: list[str] | None,
        as_of: str = "",
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
            filters = Filters(
                date_from=field_date(date_from, "From"),
                date_to=field_date(date_to, "To"),
                sources=list(sources) if sources else None,
            )
            written = ""
            last_yield = 0.0
            for event in self.pipeline.qa.stream(
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

    def open_citation(self, ref: str, turns: Turns | None) -> str:
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
                    return source_panel(c, self.pipeline.catalogue.chunk_text(c.chunk_id))
                except Exception:
                    log.exception("could not render citation")
                    return f"<p>Could not show source [{number}].</p>"
        return PANEL_EMPTY

    def list_articles(self) -> tuple[str, Any]:
        """The article table, and the source filter's choices (articles may have been added)."""
        try:
            self.pipeline.retriever.sync()  # a watched folder or a writer may have added some
            found = self.pipeline.catalogue.articles()
            arrived = arrivals(self.pipeline.settings, ARTICLE_ROWS)
        except Exception:
            log.exception("listing articles failed")
            return "<p>The article list is not available right now.</p>", gr.update()
        names = self.pipeline.catalogue.sources()
        return articles_html(found, arrived), gr.update(choices=names)

    @staticmethod
    def pick_example(evt: gr.SelectData) -> str:
        value = evt.value
        return str(value.get("text", "")) if isinstance(value, dict) else str(value)

    @staticmethod
    def reset() -> tuple[Any, ...]:
        """A new conversation: no messages, no turns, no question, an empty source panel."""
        return [], [], "", PANEL_EMPTY
