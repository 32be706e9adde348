"""The Gradio chat: ask about the articles, watch the answer stream in, click a citation to read it.

Each [n] in an answer is a link; clicking it opens the source panel with the article's title,
date and source, and the cited passage with the quoted sentence(s) highlighted (`<mark>`).
Follow-up questions keep the conversation (earlier turns go to `QAService` as history, which makes
the question standalone). Settings (answer backend, number of passages, date range, sources) sit
in an accordion beside the chat, with the list of indexed articles below them. Declined answers
and backend failures are shown as short messages, never a stack trace.

The UI calls the pipeline in-process (no HTTP round trip, so it needs no API key of its own;
`ui.server` puts Gradio's login in front of it when a key is set). It does not ingest articles.

How a click on [n] reaches Python: the links point at `#cite-TURN-N`; a small script (`HEAD`)
catches the click, writes `TURN-N` into a hidden textbox and fires its input event, and the
textbox's change handler renders the panel from the turn's stored `Answer` (Gradio's own
"input" event only follows key presses, so the script relies on "change").
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

from rag.answer import Answer, Citation
from rag.errors import RagError
from rag.generate import Delta
from rag.pipeline import Pipeline
from rag.retrieval import Filters
from rag.service import BACKENDS

log = logging.getLogger(__name__)

EXAMPLES = [
    "What did Hegseth say about 5%?",
    "When will Starmer host Rutte?",
    "What did Emmanuel Macron say about defence spending?",
]
PANEL_EMPTY = (
    '<div class="source-empty">Click a citation such as <b>[1]</b> in an answer to read '
    "its source here.</div>"
)

# Catches clicks on citation links anywhere on the page (capture phase, before Gradio opens the
# link) and hands "TURN-N" to the hidden #cite-ref textbox; a timestamp makes every click a change.
HEAD = """
<script>
document.addEventListener("click", function (event) {
  const link = event.target.closest && event.target.closest('a[href^="#cite-"]');
  if (!link) return;
  event.preventDefault();
  event.stopPropagation();
  const box = document.querySelector("#cite-ref textarea, #cite-ref input");
  if (!box) return;
  box.value = link.getAttribute("href").slice(6) + "@" + Date.now();
  box.dispatchEvent(new Event("input", { bubbles: true }));
}, true);
</script>
"""

CSS = """
a.cite-link { color: #1d5fd1 !important; text-decoration: none; font-weight: 600; cursor: pointer;
  padding: 0 1px; }
a.cite-link:hover { text-decoration: underline; }
.sources-list { font-size: 0.92em; opacity: 0.9; margin-top: 0.4em; }
#source-panel { min-height: 220px; }
#source-panel .source-title { font-size: 1.1em; font-weight: 700; margin-bottom: 0.2em; }
#source-panel .source-meta { opacity: 0.75; font-size: 0.9em; margin-bottom: 0.6em; }
#source-panel .source-text p { margin: 0 0 0.6em 0; line-height: 1.45; }
#source-panel mark { background: #ffe58a; color: #111; padding: 0 2px; border-radius: 2px; }
#source-panel .source-empty { opacity: 0.7; padding: 1em 0; }
.articles-table { width: 100%; font-size: 0.88em; border-collapse: collapse; }
.articles-table td, .articles-table th { padding: 3px 6px; border-bottom: 1px solid #8883; text-align: left; }
"""


# --- rendering (pure functions; tested directly) ----------------------------------------------
def link_markers(text: str, turn: int, citations: list[Citation]) -> str:
    """HTML-escape the answer and turn each [n] that has a citation into a link to it."""
    titles = {c.number: c.title for c in citations}

    def _link(m: re.Match[str]) -> str:
        n = int(m.group(1))
        if n not in titles:
            return m.group(0)
        title = html.escape(titles[n], quote=True)
        return f'<a class="cite-link" href="#cite-{turn}-{n}" title="{title}">[{n}]</a>'

    return re.sub(r"\[(\d+)\]", _link, html.escape(text, quote=False))


def answer_markdown(answer: Answer, turn: int) -> str:
    """The assistant message: linked answer, a note if any, and the numbered sources."""
    parts = [link_markers(answer.answer, turn, answer.citations)]
    if answer.notice:
        parts.append(f"<em>Note: {html.escape(answer.notice)}</em>")
    if answer.citations:
        rows = []
        for c in answer.citations:
            meta = html.escape(f"{c.date or 'undated'}, {c.source or 'unknown source'}")
            rows.append(
                f'<a class="cite-link" href="#cite-{turn}-{c.number}">[{c.number}]</a> '
                f"{html.escape(c.title)} ({meta})"
            )
        parts.append('<div class="sources-list">Sources:<br>' + "<br>".join(rows) + "</div>")
    elif answer.declined:
        parts.append(
            "<em>I could not find this in the indexed articles. Try rephrasing, widening the "
            "date range or source filters, or adding articles.</em>"
        )
        for r in answer.related[:1]:
            parts.append(
                f"Closest passage: {html.escape(r.title)} ({html.escape(r.date or 'undated')}): "
                f"“{html.escape(r.quote)}”"
            )
    return "\n\n".join(parts)


def highlight(text: str, quote: str) -> str:
    """`text` as escaped HTML paragraphs (one per line) with each sentence of `quote` in <mark>.

    Quotes of several sentences are joined by " … "; each piece is found with any whitespace
    between its words, so a line break in the passage does not hide it (the mark is then closed
    and reopened at the paragraph boundary, keeping the HTML well formed)."""
    spans: list[tuple[int, int]] = []
    for piece in (p.strip() for p in quote.split(" … ")):
        words = piece.split()
        if not words:
            continue
        m = re.search(r"\s+".join(re.escape(w) for w in words), text)
        if m:
            spans.append(m.span())
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    out = []
    for line in re.finditer(r"[^\n]+", text):
        first, last = line.span()
        pieces, pos = [], first
        for start, end in merged:
            start, end = max(start, first), min(end, last)
            if start >= end:
                continue
            pieces.append(html.escape(text[pos:start]))
            pieces.append("<mark>" + html.escape(text[start:end]) + "</mark>")
            pos = end
        pieces.append(html.escape(text[pos:last]))
        paragraph = "".join(pieces).strip()
        if paragraph:
            out.append(f"<p>{paragraph}</p>")
    return "".join(out)


def chunk_text(pipeline: Pipeline, chunk_id: str) -> str | None:
    """The full text of one indexed chunk (the passage a citation quotes), if it is still there."""
    return pipeline.retriever.chunk_text(chunk_id)


def source_panel(pipeline: Pipeline, citation: Citation) -> str:
    passage = chunk_text(pipeline, citation.chunk_id)
    body = (
        highlight(passage, citation.quote)
        if passage
        else f"<p><mark>{html.escape(citation.quote)}</mark></p>"
    )
    meta = [citation.date or "undated", citation.source or "unknown source"]
    link = ""
    if citation.location.startswith(("http://", "https://")):
        url = html.escape(citation.location, quote=True)
        link = f' · <a href="{url}" target="_blank" rel="noopener noreferrer">original</a>'
    elif citation.location:  # a file path: its name is enough
        meta.append(citation.location.replace("\\", "/").rsplit("/", 1)[-1])
    also = (
        f'<div class="source-meta">Also in: {html.escape(", ".join(citation.also_in))}</div>'
        if citation.also_in
        else ""
    )
    return (
        f'<div class="source-card" data-citation="{citation.number}">'
        f'<div class="source-title">[{citation.number}] {html.escape(citation.title)}</div>'
        f'<div class="source-meta">{html.escape(" · ".join(meta))}{link}</div>{also}'
        f'<div class="source-text">{body}</div></div>'
    )


def articles_html(articles: list[dict[str, Any]]) -> str:
    if not articles:
        return "<p>No articles are indexed yet: run <code>rag ingest DIR</code>.</p>"
    rows = "".join(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
            html.escape(str(a.get("title", ""))),
            html.escape(str(a.get("date") or "undated")),
            html.escape(str(a.get("source") or "—")),
            a.get("chunks", 0),
        )
        for a in articles
    )
    return (
        f"<p>{len(articles)} articles</p><table class='articles-table'><tr><th>Title</th>"
        f"<th>Date</th><th>Source</th><th>Chunks</th></tr>{rows}</table>"
    )


def parse_date(value: str | None, label: str) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RagError(f"{label} {value!r} is not a date like 2025-06-05") from None


# --- the app ----------------------------------------------------------------------------------
def build_ui(pipeline: Pipeline) -> gr.Blocks:
    qa = pipeline.qa
    settings = pipeline.settings
    default_k = max(settings.retrieval.top_k, 6)
    known_sources = sorted({str(a["source"]) for a in pipeline.retriever.articles() if a["source"]})

    def chat_messages(turns: list[dict[str, Any]]) -> list[dict[str, str]]:
        messages = []
        for t in turns:
            messages.append({"role": "user", "content": html.escape(t["question"], quote=False)})
            messages.append({"role": "assistant", "content": t["shown"]})
        return messages

    def respond(
        question: str,
        turns: list[dict[str, Any]] | None,
        backend: str,
        top_k: float,
        date_from: str,
        date_to: str,
        sources: list[str] | None,
    ) -> Iterator[tuple[Any, ...]]:
        turns = list(turns or [])
        question = (question or "").strip()
        if not question:
            yield chat_messages(turns), turns, ""
            return
        history: list[dict[str, str]] = []
        for t in turns:
            if t.get("answer"):
                history.append({"role": "user", "content": t["question"]})
                history.append({"role": "assistant", "content": t["answer"]["answer"]})
        turn = len(turns)
        current: dict[str, Any] = {"question": question, "shown": "…", "answer": None}
        turns.append(current)
        yield chat_messages(turns), turns, ""
        try:
            filters = Filters(
                date_from=parse_date(date_from, "From"),
                date_to=parse_date(date_to, "To"),
                sources=list(sources) if sources else None,
            )
            written = ""
            last_yield = 0.0
            for event in qa.stream(
                question,
                top_k=int(top_k) if top_k else None,
                filters=filters,
                backend=backend or None,
                history=history or None,
            ):
                if isinstance(event, Delta):
                    written += event.text
                    current["shown"] = html.escape(written, quote=False) + " ▌"
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

    def open_citation(ref: str, turns: list[dict[str, Any]] | None) -> str:
        m = re.match(r"(\d+)-(\d+)", ref or "")
        turns = turns or []
        if not m or int(m.group(1)) >= len(turns) or not turns[int(m.group(1))].get("answer"):
            return PANEL_EMPTY
        answer = Answer.model_validate(turns[int(m.group(1))]["answer"])
        number = int(m.group(2))
        for c in answer.citations:
            if c.number == number:
                try:
                    return source_panel(pipeline, c)
                except Exception:
                    log.exception("could not render citation")
                    return f"<p>Could not show source [{number}].</p>"
        return PANEL_EMPTY

    def list_articles() -> tuple[str, Any]:
        """The article table, and the source filter's choices (articles may have been added)."""
        try:
            found = pipeline.retriever.articles()
        except Exception:
            log.exception("listing articles failed")
            return "<p>The article list is not available right now.</p>", gr.update()
        names = sorted({str(a["source"]) for a in found if a.get("source")})
        return articles_html(found), gr.update(choices=names)

    with gr.Blocks(title="News Q&A with citations") as demo:
        turns = gr.State([])
        gr.Markdown(
            "## News Q&A with citations\nAsk about the indexed news articles. Every claim "
            "carries a citation **[n]**: click it to read the passage it comes from."
        )
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    elem_id="chat",
                    label="Conversation",
                    height=520,
                    examples=[{"text": q} for q in EXAMPLES],
                    placeholder="Ask a question, or pick an example:",
                    feedback_options=None,
                    buttons=["copy"],
                )
                with gr.Row():
                    question = gr.Textbox(
                        elem_id="question",
                        placeholder="Ask about the articles, e.g. What did Hegseth say about 5%?",
                        show_label=False,
                        scale=6,
                        autofocus=True,
                        max_lines=4,
                    )
                    ask = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="ask")
                    clear = gr.Button("Clear", scale=1, min_width=80, elem_id="clear")
            with gr.Column(scale=2):
                gr.Markdown("### Source")
                panel = gr.HTML(PANEL_EMPTY, elem_id="source-panel", js_on_load=None)
                with gr.Accordion("Settings", open=False):
                    backend = gr.Radio(
                        list(BACKENDS),
                        value=settings.llm.backend,
                        label="Answer backend",
                        info="auto: openai if configured, else local model, else extractive",
                    )
                    top_k = gr.Slider(1, 20, value=default_k, step=1, label="Passages to read")
                    with gr.Row():
                        date_from = gr.Textbox(label="From", placeholder="YYYY-MM-DD")
                        date_to = gr.Textbox(label="To", placeholder="YYYY-MM-DD")
                    sources = gr.Dropdown(
                        known_sources,
                        multiselect=True,
                        allow_custom_value=True,
                        label="Sources",
                        info="empty: all sources",
                    )
                with gr.Accordion("Indexed articles", open=False):
                    articles = gr.HTML(articles_html(pipeline.retriever.articles()))
                    refresh = gr.Button("Refresh", size="sm")
        cite_ref = gr.Textbox(visible="hidden", elem_id="cite-ref")

        inputs = [question, turns, backend, top_k, date_from, date_to, sources]
        outputs = [chatbot, turns, question]
        question.submit(respond, inputs, outputs, api_visibility="private")
        ask.click(respond, inputs, outputs, api_visibility="private")

        def pick_example(evt: gr.SelectData) -> str:
            value = evt.value
            return str(value.get("text", "")) if isinstance(value, dict) else str(value)

        chatbot.example_select(pick_example, None, question, api_visibility="private").then(
            respond, inputs, outputs, api_visibility="private"
        )

        def reset() -> tuple[Any, ...]:
            return [], [], "", PANEL_EMPTY

        clear.click(reset, None, [chatbot, turns, question, panel], api_visibility="private")
        chatbot.clear(reset, None, [chatbot, turns, question, panel], api_visibility="private")
        cite_ref.change(open_citation, [cite_ref, turns], panel, api_visibility="private")
        refresh.click(list_articles, None, [articles, sources], api_visibility="private")
        demo.load(list_articles, None, [articles, sources], api_visibility="private")
    return demo
