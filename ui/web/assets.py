"""What the chat page loads besides Gradio's own: the stylesheet (`CSS`) and the script (`HEAD`)
that turns a click on a citation link into a Python event.

How a click on [n] reaches Python: the links point at `#cite-TURN-N`; the script catches the
click, writes `TURN-N` into the hidden #cite-ref textbox and fires its input event, and the
textbox's change handler renders the source panel from the turn's stored `Answer` (Gradio's own
"input" event only follows key presses, so the script relies on "change"). Static text only.
"""

from __future__ import annotations

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
