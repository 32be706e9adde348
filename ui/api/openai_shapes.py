"""OpenAI-compatible shapes: our `Answer` as the `openai` package's own response types, and
OpenAI chat messages back to a question and its history.

Responses are built from `openai.types` (`ChatCompletion`, `ChatCompletionChunk`, `Model`, ...),
so what we send is what the official client parses. Our additions ride as extra top-level fields
(these models allow extras, and the client exposes them as `model_extra`): `citations` (the list)
and `answer` (the full `Answer`). Citations also travel in the message text, as a "Sources:" list
after the answer; `answer_part()` strips that (and a replaced draft) again when one of our replies
comes back as history. Pure functions: no HTTP, no pipeline.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from openai.types import CompletionUsage, Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessage
from openai.types.chat.chat_completion import Choice
from openai.types.chat.chat_completion_chunk import Choice as ChunkChoice
from openai.types.chat.chat_completion_chunk import ChoiceDelta

from rag.answering.answer import Answer
from rag.errors import BadQuestionError
from ui.api.schemas import MODEL_ID, ChatMessageIn

# an LLM's streamed draft cannot be taken back: when checking changed it, this precedes the
# checked text in the same message
CHECKED = "\n\nChecked answer (replaces the text above): "
_TAIL = re.compile(r"\n\n(?:Sources:\n|\(Note: |\(as of |\(“|Closest passage: )")


def sources_text(answer: Answer) -> str:
    """What follows the answer in a chat message: notes and the numbered sources with quotes."""
    parts: list[str] = []
    if answer.context():  # "(as of 2025-06-06; “this week” = …)"
        parts.append(f"({answer.context()})")
    if answer.notice:
        parts.append(f"(Note: {answer.notice})")
    if answer.citations:
        lines = ["Sources:"]
        for c in answer.citations:
            lines.append(
                f"[{c.number}] {c.title}, {c.date or 'undated'}, {c.source or 'unknown source'}: “{c.quote}”"
            )
        parts.append("\n".join(lines))
    elif answer.declined and answer.related:
        r = answer.related[0]
        parts.append(f"Closest passage: {r.title}, {r.date or 'undated'}: “{r.quote}”")
    return "".join("\n\n" + p for p in parts)


def message_text(answer: Answer) -> str:
    """The whole assistant message: the answer, then notes and sources."""
    return answer.answer + sources_text(answer)


def answer_part(message: str) -> str:
    """The answer in one of our chat messages, without the draft it replaced or the sources."""
    if CHECKED in message:
        message = message.split(CHECKED, 1)[1]
    return _TAIL.split(message, maxsplit=1)[0]


def chat_history(messages: Sequence[ChatMessageIn]) -> tuple[str, list[dict[str, str]]]:
    """The last user message is the question; user/assistant messages before it are history
    (system messages are dropped; our own replies keep only their answer)."""
    last = max((i for i, m in enumerate(messages) if m.role == "user"), default=None)
    if last is None:
        raise BadQuestionError(
            "messages has no user message: put the question in a message with role 'user'"
        )
    history = []
    for m in messages[:last]:
        if m.role in ("user", "assistant"):
            text = m.text()
            if m.role == "assistant":
                text = answer_part(text)
            history.append({"role": m.role, "content": text})
    return messages[last].text(), history


def usage(answer: Answer, question: str, content: str) -> CompletionUsage:
    """The model's token counts, or (extractive: no model read a prompt) what was asked and
    written, counted with the same tokenizer."""
    if answer.tokens:
        prompt, completion = answer.tokens.get("prompt", 0), answer.tokens.get("completion", 0)
    else:
        from rag.text.rules import count_tokens

        prompt, completion = count_tokens(question), count_tokens(content)
    return CompletionUsage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


def extras(answer: Answer) -> dict[str, Any]:
    """Our extra top-level fields: the citations and the full Answer, as JSON values."""
    return {
        "citations": [c.model_dump() for c in answer.citations],
        "answer": answer.model_dump(mode="json"),
    }


def completion(answer: Answer, question: str, *, cid: str, created: int) -> ChatCompletion:
    """The whole answer as one `chat.completion`."""
    content = message_text(answer)
    return ChatCompletion(
        id=cid,
        object="chat.completion",
        created=created,
        model=MODEL_ID,
        choices=[
            Choice(
                index=0,
                message=ChatCompletionMessage(role="assistant", content=content),
                finish_reason="stop",
            )
        ],
        usage=usage(answer, question, content),
        **extras(answer),
    )


def chunk(
    delta: ChoiceDelta,
    *,
    cid: str,
    created: int,
    finish: Literal["stop"] | None = None,
    **extra: Any,
) -> ChatCompletionChunk:
    """One `chat.completion.chunk` of a stream (`extra`: usage, citations, answer on the last)."""
    return ChatCompletionChunk(
        id=cid,
        object="chat.completion.chunk",
        created=created,
        model=MODEL_ID,
        choices=[ChunkChoice(index=0, delta=delta, finish_reason=finish)],
        **extra,
    )


def model_card(model_id: str = MODEL_ID) -> Model:
    """The one model (any id a client asks about is answered by the same pipeline)."""
    return Model(id=model_id, object="model", created=0, owned_by="news-rag")


def to_json(item: ChatCompletion | ChatCompletionChunk | Model) -> dict[str, Any]:
    """The fields that were set, as JSON values: what the OpenAI API itself sends (no nulls for
    options we never fill)."""
    return item.to_dict(mode="json", exclude_unset=True)
