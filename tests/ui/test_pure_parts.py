"""The pure parts of the HTTP API and the chat, without a server or a pipeline: chat messages to a
question and history, answers to OpenAI shapes and message text, validation errors to a readable
line, the body-limit message, and the UI's date fields, history and rendering (citation links,
highlighted quotes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.chat.chat_completion_chunk import ChoiceDelta
from pydantic import ValidationError

from rag.answering.answer import Answer, Citation
from rag.errors import (
    BackendUnavailableError,
    BadQuestionError,
    EmbeddingMismatchError,
    LoaderError,
    RagError,
)
from ui.api import openai_shapes as oai
from ui.api.errors import describe_validation, error_text, jsonable, status_for
from ui.api.middleware import too_large
from ui.api.schemas import ArticlesIn, ChatMessageIn, QueryIn

CITE = Citation(number=1, article_id="a", title="T", chunk_id="a:0", quote="Q.", date="2025-06-05")


def answer(**kw: Any) -> Answer:
    base: dict[str, Any] = {
        "question": "q",
        "answer": "A [1].",
        "citations": [CITE],
        "backend": "extractive",
        "model": "m",
    }
    return Answer(**(base | kw))


# --- chat messages -> question and history --------------------------------------------------
def test_message_text_of_strings_parts_and_nothing() -> None:
    assert ChatMessageIn(role="user", content="hi").text() == "hi"
    parts = [
        {"type": "text", "text": "What "},
        {"type": "image_url", "image_url": {"url": "x"}},
        {"text": "now?"},  # no type: text
    ]
    assert ChatMessageIn(role="user", content=parts).text() == "What now?"
    assert ChatMessageIn(role="assistant", content=None).text() == ""


def test_history_is_user_and_assistant_turns_before_the_last_question() -> None:
    messages = [
        ChatMessageIn(role="system", content="be brief"),
        ChatMessageIn(role="user", content="first"),
        ChatMessageIn(role="assistant", content="A [1].\n\nSources:\n[1] T, undated, x: “q”"),
        ChatMessageIn(role="tool", content="ignored"),
        ChatMessageIn(role="user", content="second"),
        ChatMessageIn(role="assistant", content="a trailing assistant message is not history"),
    ]
    question, history = oai.chat_history(messages)
    assert question == "second"
    assert history == [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "A [1]."},
    ]


def test_history_without_a_user_message_says_what_to_do() -> None:
    with pytest.raises(BadQuestionError, match="role 'user'"):
        oai.chat_history([ChatMessageIn(role="system", content="hi")])


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Plain answer.", "Plain answer."),
        ("A [1].\n\nSources:\n[1] T", "A [1]."),
        ("A.\n\n(Note: extraction answered)\n\nSources:\n[1] T", "A."),
        ("No.\n\nClosest passage: T, undated: “q”", "No."),
        ("Draft [2].\n\nChecked answer (replaces the text above): Fixed [1].", "Fixed [1]."),
    ],
)
def test_answer_part_drops_sources_notes_and_drafts(message: str, expected: str) -> None:
    assert oai.answer_part(message) == expected


# --- answers -> OpenAI shapes ---------------------------------------------------------------
def test_message_text_notes_sources_and_closest_passage() -> None:
    noted = answer(notice="the LLM failed")
    assert oai.message_text(noted) == (
        "A [1].\n\n(Note: the LLM failed)\n\nSources:\n[1] T, 2025-06-05, unknown source: “Q.”"
    )
    declined = answer(answer="Not in the articles.", citations=[], declined=True, related=[CITE])
    assert oai.message_text(declined) == (
        "Not in the articles.\n\nClosest passage: T, 2025-06-05: “Q.”"
    )
    assert oai.message_text(answer(citations=[])) == "A [1]."


def test_usage_uses_model_counts_else_counts_text() -> None:
    counted = oai.usage(answer(tokens={"prompt": 100, "completion": 7}), "q", "text")
    assert (counted.prompt_tokens, counted.completion_tokens, counted.total_tokens) == (100, 7, 107)
    measured = oai.usage(answer(), "What did he say?", "He said it.")
    assert measured.prompt_tokens > 0 and measured.completion_tokens > 0
    assert measured.total_tokens == measured.prompt_tokens + measured.completion_tokens


def test_completion_round_trips_through_the_openai_type() -> None:
    sent = oai.to_json(oai.completion(answer(), "q", cid="chatcmpl-1", created=5))
    parsed = ChatCompletion.model_validate(sent)
    assert parsed.id == "chatcmpl-1" and parsed.created == 5 and parsed.model == oai.MODEL_ID
    assert parsed.choices[0].message.content == oai.message_text(answer())
    assert (parsed.model_extra or {})["citations"] == [CITE.model_dump()]
    assert (parsed.model_extra or {})["answer"]["answer"] == "A [1]."
    assert "system_fingerprint" not in sent and "refusal" not in sent["choices"][0]["message"]


def test_chunks_send_only_what_was_set() -> None:
    first = oai.to_json(oai.chunk(ChoiceDelta(role="assistant", content=""), cid="c", created=1))
    assert first["choices"] == [
        {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
    ]
    last = oai.to_json(
        oai.chunk(ChoiceDelta(), cid="c", created=1, finish="stop", **oai.extras(answer()))
    )
    assert last["choices"][0]["delta"] == {} and last["choices"][0]["finish_reason"] == "stop"
    assert ChatCompletionChunk.model_validate(last).model_extra == oai.extras(answer())


def test_model_card() -> None:
    assert oai.to_json(oai.model_card()) == {
        "id": "news-rag",
        "object": "model",
        "created": 0,
        "owned_by": "news-rag",
    }


# --- errors ---------------------------------------------------------------------------------
def errors_of(model: Any, data: Any) -> list[Any]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data) if isinstance(data, dict) else model.model_validate_json(data)
    return list(info.value.errors())


def test_describe_validation_one_line_per_problem() -> None:
    errors = errors_of(QueryIn, {"top_k": 0, "filters": {"date_from": "2025-02-30"}})
    text = describe_validation(errors)
    assert "question: this field is required" in text
    assert "top_k: Input should be greater than or equal to 1" in text
    assert "filters.date_from: " in text and "use YYYY-MM-DD, e.g. 2025-06-05" in text
    assert text.index("question:") < text.index("top_k:") < text.index("filters.date_from:")


def test_describe_validation_of_bad_json_and_value_errors() -> None:
    assert "not valid JSON" in describe_validation(errors_of(QueryIn, b'{"question": '))
    text = describe_validation(
        errors_of(ArticlesIn, {"articles": [{"title": "t", "text": "x", "published": "soon"}]})
    )
    assert text == "articles.0: published 'soon' is not a date like 2025-06-05"
    assert describe_validation([]) == "the request is malformed"


def test_jsonable_keeps_type_loc_msg_only() -> None:
    errors = errors_of(ArticlesIn, {"articles": [{"title": "t", "text": "x", "published": "?"}]})
    assert jsonable(errors) == [
        {"type": "value_error", "loc": ["articles", 0], "msg": errors[0]["msg"]}
    ]


def test_status_and_text_for_errors() -> None:
    assert status_for(BadQuestionError("x")) == 400
    assert status_for(LoaderError("x")) == 422
    assert status_for(BackendUnavailableError("x")) == 503
    assert status_for(EmbeddingMismatchError("x")) == 503
    assert status_for(RagError("x")) == 400
    assert error_text(RagError("say this")) == "say this"
    assert error_text(KeyError("internal")) == "internal error (KeyError); see the server log"


def test_too_large_names_the_setting() -> None:
    assert too_large(1000, 2500).startswith("the request body is too large (2500 bytes): ")
    assert "RAG_SERVER__MAX_UPLOAD_BYTES" in too_large(1000)
    assert "bytes)" not in too_large(1000)


# --- the chat's helpers ---------------------------------------------------------------------
def test_ui_date_fields() -> None:
    from datetime import date

    from ui.web.handlers import field_date

    assert field_date("  ", "From") is None
    assert field_date(" 2025-06-05 ", "From") == date(2025, 6, 5)
    with pytest.raises(RagError, match=r"^To 'June' is not a date like 2025-06-05$"):
        field_date("June", "To")


def test_the_article_list_is_cut_by_words_source_and_days_and_ordered() -> None:
    from datetime import date

    from ui.web.render import Shelf, articles_html

    listed = [
        {"article_id": "a1", "title": "Rutte in London", "source": "AA", "date": "2025-06-05"},
        {"article_id": "a2", "title": "Nato summit", "source": "BBC", "date": "2025-06-20"},
        {"article_id": "a3", "title": "Budget vote", "source": "AA", "date": "2024-11-02"},
        {"article_id": "a4", "title": "Undated note", "source": "AA", "date": None},
    ]

    def kept(shelf: Shelf) -> list[str]:
        return [a["article_id"] for a in listed if shelf.keeps(a)]

    assert kept(Shelf()) == ["a1", "a2", "a3", "a4"] and not Shelf().narrows
    assert kept(Shelf(source="AA")) == ["a1", "a3", "a4"]
    assert kept(Shelf(since=date(2025, 1, 1))) == ["a1", "a2"]  # undated: left out
    assert kept(Shelf(until=date(2025, 6, 5))) == ["a1", "a3"]  # both ends count
    assert kept(Shelf("2025-06", source="AA")) == ["a1"]
    assert kept(Shelf("nato", since=date(2025, 6, 21))) == []
    said = Shelf("nato", source="BBC", since=date(2025, 6, 21)).said()
    assert said == "'nato' from BBC dated 2025-06-21 to …"

    arrived = {"a3": 1_800_000_000.0}  # the oldest story arrived last
    newest = articles_html(listed, arrived, order="date")
    assert newest.index("Nato summit") < newest.index("Rutte") < newest.index("Budget vote")
    assert newest.index("Budget vote") < newest.index("Undated note")
    assert "the newest first" in newest
    latest = articles_html(listed, arrived)
    assert latest.index("Budget vote") < latest.index("Nato summit")


def test_the_article_list_says_which_date_field_is_wrong() -> None:
    from ui.web.handlers import ChatHandlers

    handlers = ChatHandlers.__new__(ChatHandlers)  # the dates are read before any collection
    told, *_ = handlers.search_articles("news", "", "", "June", None)
    assert "Dated from: &#x27;June&#x27; is not a date like 2025-06-05" in told


def test_ui_history_skips_unanswered_turns() -> None:
    from ui.web.handlers import history_of

    turns = [
        {"question": "q1", "shown": "…", "answer": {"answer": "a1 [1]."}},
        {"question": "q2", "shown": "⚠️ failed", "answer": None},
    ]
    assert history_of(turns) == [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1 [1]."},
    ]


def test_source_panel_with_and_without_the_passage() -> None:
    from ui.web.render import source_panel

    cite = CITE.model_copy(update={"location": "https://example.org/a", "quote": "Q."})
    shown = source_panel(cite, "Before. Q. After.")
    assert "<mark>Q.</mark>" in shown and 'href="https://example.org/a"' in shown
    gone = source_panel(cite.model_copy(update={"location": "/tmp/x/file.txt"}), None)
    assert "<p><mark>Q.</mark></p>" in gone and "file.txt" in gone and "/tmp/x" not in gone


def test_the_chat_message_says_what_as_of_and_period_meant_and_history_drops_it() -> None:
    from rag.answering.answer import Answer
    from ui.api.openai_shapes import answer_part, message_text

    answer = Answer(
        question="What did Starmer say this week?",
        answer="He spoke [1].",
        backend="extractive",
        model="m",
        as_of="2025-06-06",
        period="“this week” = Monday 2 June 2025 to Friday 6 June 2025",
    )
    text = message_text(answer)
    assert "(as of 2025-06-06; “this week” = Monday 2 June 2025 to Friday 6 June 2025)" in text
    assert answer_part(text) == "He spoke [1]."


# --- message formatting (also checked against a real `rag serve`) ---------------------------
def test_history_takes_the_last_user_message_and_strips_our_sources() -> None:
    from ui.api.openai_shapes import chat_history
    from ui.api.schemas import ChatMessageIn

    reply = (
        "Draft.\n\nChecked answer (replaces the text above): He said 5% [1].\n\n"
        "(Note: checked)\n\nSources:\n[1] T, undated, unknown source: “q”"
    )
    messages = [
        ChatMessageIn(role="system", content="be brief"),
        ChatMessageIn(role="user", content=[{"type": "text", "text": "What did Hegseth say?"}]),
        ChatMessageIn(role="assistant", content=reply),
        ChatMessageIn(role="user", content="And about the UK?"),
    ]
    question, history = chat_history(messages)
    assert question == "And about the UK?"
    assert history == [
        {"role": "user", "content": "What did Hegseth say?"},
        {"role": "assistant", "content": "He said 5% [1]."},
    ]


def test_message_text_lists_sources_with_quotes() -> None:
    from rag.answering.answer import Answer, Citation
    from ui.api.openai_shapes import message_text

    cite = Citation(
        number=1, article_id="a", title="T", chunk_id="a:0", quote="Q.", date="2025-06-05"
    )
    answer = Answer(question="q", answer="A [1].", citations=[cite], backend="x", model="m")
    assert message_text(answer) == "A [1].\n\nSources:\n[1] T, 2025-06-05, unknown source: “Q.”"


# --- the chat's rendering (also checked in Chromium) ----------------------------------------
def test_link_markers_escape_text_and_link_known_citations() -> None:
    from ui.web import link_markers

    cite = Citation(number=1, article_id="a", title='Nato "talks"', chunk_id="a:0", quote="q")
    out = link_markers("Rutte <b>said</b> 5% [1] and [7].", 3, [cite])
    assert '<a class="cite-link" href="#cite-3-1" title="Nato &quot;talks&quot;">[1]</a>' in out
    assert "&#91;7&#93;" in out and "#cite-3-7" not in out  # no citation 7: left as text
    assert "&lt;b&gt;said&lt;/b&gt;" in out


def test_highlight_marks_each_quoted_sentence_across_line_breaks() -> None:
    from ui.web import highlight

    text = "First line.\nHe said it would be\n“fine” & done. Then more.\n\nLast <p>."
    out = highlight(text, "He said it would be “fine” & done. … Last <p>.")
    assert "<p><mark>He said it would be</mark></p><p><mark>“fine” &amp; done.</mark> Then" in out
    assert "<mark>Last &lt;p&gt;.</mark>" in out
    assert out.startswith("<p>First line.</p>")
    assert highlight("No quote here.", "absent") == "<p>No quote here.</p>"


@given(st.text())
def test_as_text_shows_any_text_as_it_is(text: str) -> None:
    """Whatever an article says comes back as itself once the entities are read (as the browser
    reads them), and nothing in it is left for markdown or HTML to interpret."""
    import html

    from ui.web.render import as_text

    shown = as_text(text)
    assert html.unescape(shown) == text
    assert not set(shown) & set("<>\"'`*_{}[]()+-.!|~:\\")


def test_the_chat_says_how_sure_and_shows_the_choice() -> None:
    from rag.answering.answer import Answer, ShortCandidate
    from ui.web.render import answer_markdown

    cands = [
        ShortCandidate(text="O'Neil", kind="person", articles=2, dates=["2023-03-01"]),
        ShortCandidate(text="Ng", kind="person", articles=1, dates=["2023-02-01"]),
    ]
    answer = Answer(
        question="q",
        answer="O'Neil said so.",
        short_answer="O'Neil",
        confidence=0.42,
        candidates=cands,
        backend="extractive",
        model="m",
    )
    shown = answer_markdown(answer, 0)
    first, *_ = shown.split("\n\n")
    assert first.startswith("<em class='choices'>Not sure; the articles name")
    assert "O&#x27;Neil &#40;2 articles, latest 2023&#45;03&#45;01&#41;" in first
    assert "<strong class='short-answer'>O&#x27;Neil</strong>" in shown
    assert "(how sure: unsure, 0&#46;42)" in shown


def test_the_wrong_key_table_forgets_addresses_quiet_for_a_minute(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Addresses whose last wrong key is over a minute old leave the table once it is large (it
    kept every address that ever failed: 40,000 of them took 34 MB)."""
    from ui.api import middleware

    clock = [1000.0]
    monkeypatch.setattr(middleware.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(middleware.FailedKeys, "PRUNE_AT", 50)
    keys = middleware.FailedKeys(per_minute=3)
    for n in range(60):
        keys.failed(f"10.0.{n // 250}.{n % 250}")
    assert len(keys) >= 50  # all failed within the minute: kept
    clock[0] += 61
    keys.failed("10.9.9.9")
    assert len(keys) == 1
    for _ in range(3):
        keys.failed("10.9.9.9")
    assert keys.wait("10.9.9.9") > 0 and keys.wait("10.0.0.1") == 0


def test_a_question_answered_before_the_page_loaded_keeps_its_conversation(
    tmp_path: Path,
) -> None:
    """The page's load gives the browser its id; a question answered before that (a busy
    server) makes the id itself, and the load that ends after it leaves the id and the list."""
    from types import SimpleNamespace

    from rag.store.conversations import ConversationBook
    from ui.web.conversations import ConversationHandlers

    kept = ConversationHandlers.__new__(ConversationHandlers)
    kept.chat = SimpleNamespace(  # type: ignore[assignment]
        access=lambda request: SimpleNamespace(key_id=None),
        sessions=SimpleNamespace(auth=SimpleNamespace(required=False)),
    )
    kept.book = ConversationBook(tmp_path / "conversations.sqlite3")
    turns = [{"question": "When will Starmer host Rutte?", "shown": "…", "answer": {"a": 1}}]
    cid, listed, browser = kept.remember(turns, None, "news", None, request=None)  # type: ignore[arg-type]
    assert isinstance(browser, str) and len(browser) == 32
    assert listed["value"] == cid and len(listed["choices"]) == 1
    assert kept.book.listed(f"browser:{browser}", "news")[0].id == cid

    late = kept.start(None, "news", cid, request=None)  # type: ignore[arg-type]
    assert late[0] == late[1] == {"__type__": "update"}  # both skipped: left as remember made them

    fresh = kept.start(browser, "news", None, request=None)  # the next visit lists it
    assert fresh[0] == browser and fresh[1]["choices"][0][1] == cid
