"""The Gradio chat: ask about the articles, watch the answer stream in, click a citation to read it.

Each [n] in an answer is a link; clicking it opens the source panel with the article's title,
date and source, and the cited passage with the quoted sentence(s) highlighted (`<mark>`).
Follow-up questions keep the conversation. The package's parts:

- `ui.web.app`: `build_ui(pipeline)`, the page's layout and event wiring;
- `ui.web.handlers`: what each event does (answer, open a citation, list articles);
- `ui.web.render`: the HTML, as pure functions (citation links, highlighting, source card);
- `ui.web.assets`: the stylesheet and the citation-click script (`CSS`, `HEAD`).

The UI calls the pipeline in-process; `ui.api` mounts it at `/` (behind Gradio's login when an
API key is set). It does not ingest articles.
"""

from ui.web.app import build_ui
from ui.web.assets import CSS, HEAD
from ui.web.render import answer_markdown, articles_html, highlight, link_markers, source_panel

__all__ = [
    "CSS",
    "HEAD",
    "answer_markdown",
    "articles_html",
    "build_ui",
    "highlight",
    "link_markers",
    "source_panel",
]
