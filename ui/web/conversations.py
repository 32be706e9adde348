"""The chat's sidebar: conversations kept on the server (`rag.store.conversations`), listed,
reopened after a reload or on another day, deleted, and shared as a read-only link.

A conversation's owner is the key the visitor logged in with where keys are used, else a random
id the browser keeps (Gradio's `BrowserState`, in its local storage). A shared link
(`/?conversation=TOKEN`) opens the conversation for anyone whose key may read its collection;
asking on from it starts a conversation of the visitor's own, and the shared one stays as it was.
"""

from __future__ import annotations

import html
import secrets
from typing import Any

import gradio as gr

from rag.store.conversations import conversation_book
from ui.web.handlers import ChatHandlers, Turns
from ui.web.render import PANEL_EMPTY, chat_messages

SHARED = "A shared conversation, read-only: what you ask now starts a conversation of your own."


class ConversationHandlers:
    """The sidebar's event handlers, beside the chat's."""

    def __init__(self, chat: ChatHandlers) -> None:
        self.chat = chat
        self.book = conversation_book(chat.served.settings)

    def owner(self, request: gr.Request | None, browser: str | None) -> str | None:
        access = self.chat.access(request)
        if access is None:
            return None
        if self.chat.sessions.auth.required:
            return f"key:{access.key_id or 'server'}"
        return f"browser:{browser}" if browser else None

    def choices(self, owner: str | None, collection: str | None) -> Any:
        if owner is None or collection is None:
            return gr.update(choices=[], value=None)
        found = self.book.listed(owner, collection)
        return gr.update(
            choices=[(f"{c.title} · {c.updated[:10]}", c.id) for c in found], value=None
        )

    def start(
        self,
        browser: str | None,
        collection: str | None,
        cid: str | None,
        request: gr.Request,
    ) -> tuple[Any, ...]:
        """On page load: the browser's id (made the first time), the sidebar's list, and the
        shared conversation the link names, if any: (browser id, list, chat, turns,
        conversation id, notice, collection, the collection shown). A question answered while
        the page loaded has kept its conversation already (`remember`, `cid`), under the id it
        made: both are left as they are."""
        keep = (gr.skip(),) * 6
        token = _query(request, "conversation")
        if cid and not token:
            return (gr.skip(), gr.skip(), *keep)
        browser = browser or secrets.token_hex(16)
        owner = self.owner(request, browser)
        if token:
            shared = self.book.shared(token)
            access = self.chat.access(request)
            if shared is None or access is None or not access.sees(shared.collection):
                return (
                    browser,
                    self.choices(owner, collection),
                    *keep[:3],
                    "⚠️ No conversation at that link for your key.",
                    *keep[:2],
                )
            return (
                browser,
                self.choices(owner, shared.collection),
                chat_messages(shared.turns),
                shared.turns,
                None,
                SHARED,
                gr.update(value=shared.collection),
                shared.collection,
            )
        return (browser, self.choices(owner, collection), *keep)

    def remember(
        self,
        turns: Turns | None,
        cid: str | None,
        collection: str | None,
        browser: str | None,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> tuple[Any, Any, Any]:
        """After an answer: the conversation kept (new, or the one open); (its id, the list,
        the browser's id). A question answered before the page's load gave the browser its id
        makes the id here (the load then leaves it: `start`)."""
        made = None
        if browser is None and not self.chat.sessions.auth.required:
            browser = made = secrets.token_hex(16)
        owner = self.owner(request, browser)
        if owner is None or not collection or not any(t.get("answer") for t in turns or []):
            return cid, gr.skip(), gr.skip()
        kept = self.book.save(owner, collection, list(turns or []), cid)
        listed = self.choices(owner, collection)
        listed["value"] = kept.id
        return kept.id, listed, made if made is not None else gr.skip()

    def reopen(
        self,
        cid: str | None,
        browser: str | None,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> tuple[Any, ...]:
        """A conversation picked in the sidebar: (chat, turns, its id, source panel, notice)."""
        owner = self.owner(request, browser)
        found = self.book.get(cid, owner) if cid and owner else None
        if found is None:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), "⚠️ That conversation is gone."
        return chat_messages(found.turns), found.turns, found.id, PANEL_EMPTY, ""

    def delete(
        self,
        cid: str | None,
        collection: str | None,
        browser: str | None,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> tuple[Any, ...]:
        """Delete the conversation open: (list, chat, turns, id, panel, notice)."""
        owner = self.owner(request, browser)
        gone = bool(cid and owner and self.book.delete(cid, owner))
        said = "Conversation deleted." if gone else "⚠️ Open a conversation of yours first."
        return (self.choices(owner, collection), [], [], None, PANEL_EMPTY, said)

    def share(
        self,
        cid: str | None,
        browser: str | None,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> Any:
        """The read-only link of the conversation open."""
        owner = self.owner(request, browser)
        token = self.book.share(cid, owner) if cid and owner else None
        if token is None:
            return gr.update(
                value="Ask a question first: its conversation can then be shared.", visible=True
            )
        base = _base_url(request)
        return gr.update(value=f"{base}?conversation={token}", visible=True)

    def refresh(
        self,
        collection: str | None,
        browser: str | None,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> tuple[Any, Any]:
        """Another collection shown: its conversations, none open."""
        return self.choices(self.owner(request, browser), collection), None


def _query(request: gr.Request | None, name: str) -> str:
    inner = getattr(request, "request", None) if request is not None else None
    if inner is not None:
        return str(inner.query_params.get(name, ""))
    params = (request.kwargs.get("query_params") or {}) if request is not None else {}
    return str(params.get(name, ""))


def _base_url(request: gr.Request | None) -> str:
    inner = getattr(request, "request", None) if request is not None else None
    if inner is None:
        return "/"
    origin = inner.headers.get("origin") or str(inner.base_url).rstrip("/")
    return html.escape(origin.rstrip("/") + "/", quote=True)
