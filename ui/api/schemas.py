"""The request bodies of the HTTP API, as pydantic models (they are also the OpenAPI schema).

`QueryIn` (/v1/query), `ChatCompletionIn` (OpenAI's chat request plus our extensions `top_k`,
`filters`, `backend`; unknown OpenAI options are accepted and ignored), `ArticlesIn`
(/v1/articles as JSON). Validation here is about shape and obvious mistakes (a date that is not a
date, a range the wrong way round); whether a question can be answered is `QAService`'s call.
Responses are not here: `/v1/query` returns `rag.answer.Answer`, the OpenAI endpoints return
the `openai` package's own types (`ui.api.openai_shapes`).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    model_validator,
)

from rag.answering.answer import Answer
from rag.answering.backends import BACKENDS
from rag.schema import Filters
from rag.text.dates import check_as_of, parse_date
from rag.text.rules import repair


def _repaired(value: Any) -> Any:
    return repair(value) if isinstance(value, str) else value


# every string a client sends: invalid Unicode (a lone surrogate) repaired before pydantic's own
# checks (which refuse it where a length is constrained) and before anything can fail on it later
Text = Annotated[str, BeforeValidator(_repaired)]

MODEL_ID = "news-rag"
EXAMPLE_QUESTION = "What did Hegseth say about 5%?"


def _iso_day(value: object) -> object:
    """A date comes as "YYYY-MM-DD" (a number is not read as seconds since 1970)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError("a date is a string like 2025-06-05, not a number")
    return value


Day = Annotated[date, BeforeValidator(_iso_day)]
AsOf = Annotated[date, BeforeValidator(_iso_day), AfterValidator(check_as_of)]
Flag = StrictBool  # `"stream": 0` is a 422, not false
Count = StrictInt


class FiltersIn(BaseModel):
    """Only passages from articles published in [date_from, date_to] and from these sources."""

    model_config = ConfigDict(extra="forbid")
    date_from: Day | None = Field(None, description="YYYY-MM-DD, inclusive")
    date_to: Day | None = Field(None, description="YYYY-MM-DD, inclusive")
    sources: list[Text] | None = Field(None, description="source names, e.g. ['reuters.com']")

    @model_validator(mode="after")
    def _ordered(self) -> FiltersIn:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError("date_from is after date_to; swap them")
        return self

    def to_filters(self) -> Filters:
        return Filters(date_from=self.date_from, date_to=self.date_to, sources=self.sources)


AS_OF = (
    "YYYY-MM-DD the question is asked as of (default today): articles published after it are not "
    "used, and 'this week', 'last month', 'in June' in the question are read against it"
)


class HistoryMessage(BaseModel):
    role: Literal["user", "assistant", "system"]
    content: Text


class QueryIn(BaseModel):
    question: Text = Field(description="what to ask about the articles")
    top_k: Count | None = Field(None, ge=1, le=50, description="passages to answer from")
    filters: FiltersIn | None = None
    backend: Text | None = Field(None, description=f"one of {', '.join(BACKENDS)}")
    history: list[HistoryMessage] | None = Field(
        None, description="earlier turns, so a follow-up question can be made standalone"
    )
    as_of: AsOf | None = Field(None, description=AS_OF)
    stream: Flag = Field(False, description="send server-sent events instead of one JSON answer")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"question": EXAMPLE_QUESTION, "top_k": 5}]}
    )


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Text
    content: Text | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """The message's text: the string, or its text parts joined (images etc. are skipped)."""
        if isinstance(self.content, str):
            return self.content
        if not self.content:
            return ""
        return repair(
            "".join(str(p.get("text", "")) for p in self.content if p.get("type", "text") == "text")
        )


class ChatCompletionIn(BaseModel):
    """OpenAI's chat request; unknown OpenAI options (temperature, ...) are accepted and ignored."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {"model": MODEL_ID, "messages": [{"role": "user", "content": EXAMPLE_QUESTION}]}
            ]
        },
    )
    model: Text = MODEL_ID
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: Flag = False
    # extensions (the openai client sends them with extra_body=...)
    top_k: Count | None = Field(None, ge=1, le=50)
    filters: FiltersIn | None = None
    backend: Text | None = None
    as_of: AsOf | None = Field(None, description=AS_OF)


class ArticleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Text = Field(min_length=1)
    text: Text = Field(
        min_length=1, description="the article body; paragraphs split by blank lines"
    )
    url: Text | None = None
    published: Text | None = Field(None, description="publication date, e.g. 2025-06-05")
    source: Text | None = None
    authors: list[Text] | Text | None = None
    id: Text | None = Field(None, description="stable id; default: derived from url or text")

    @model_validator(mode="after")
    def _date_parses(self) -> ArticleIn:
        if self.published and parse_date(self.published) is None:
            raise ValueError(f"published {self.published!r} is not a date like 2025-06-05")
        return self


MAX_URLS = 200  # URLs in one request


class ArticlesIn(BaseModel):
    """Articles given whole, or URLs of pages and RSS/Atom feeds to fetch them from (one of)."""

    model_config = ConfigDict(extra="forbid")
    articles: list[ArticleIn] | None = Field(None, min_length=1)
    urls: list[Text] | None = Field(
        None,
        min_length=1,
        max_length=MAX_URLS,
        description="http(s) URLs of pages, or of feeds whose items' pages are fetched; a URL "
        "ingested before is not fetched again unless `refresh`",
    )
    refresh: Flag = Field(False, description="fetch `urls` again even if ingested before")

    @model_validator(mode="after")
    def _one_of(self) -> ArticlesIn:
        if (self.articles is None) == (self.urls is None):
            raise ValueError("send either 'articles' or 'urls'")
        for url in self.urls or []:
            if not url.lower().startswith(("http://", "https://")) or len(url) > 2000:
                raise ValueError(f"not an http(s) URL of at most 2,000 characters: {url[:80]!r}")
        return self


class ErrorOut(BaseModel):
    """Every error: a sentence saying what is wrong and what to do; a malformed request (422)
    also lists each problem."""

    detail: str = Field(description="what is wrong and what to do about it")
    errors: list[dict[str, Any]] | None = Field(
        None, description="one entry per problem of a malformed request (type, loc, msg)"
    )


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, each an `ErrorOut`."""
    what = {
        400: "a question that cannot be asked (empty, too long, an unknown backend)",
        401: "no API key, or a wrong one",
        403: "the key is for this collection but lacks the scope this needs",
        404: "no such thing (a collection the key is not for is answered as none)",
        409: "every article refused: its id is indexed with other text",
        413: "the body is over its limit",
        415: "a file type that cannot be read",
        422: "a malformed request, or nothing readable in it",
        429: "too many wrong API keys from this address: wait for Retry-After seconds",
        500: "an unexpected error (the server log has the details)",
        503: "a backend, the index or a writer's lock is not available now",
        507: "the disk under the index is full: nothing was written",
    }
    return {s: {"model": ErrorOut, "description": what[s]} for s in statuses}


class KeyIn(BaseModel):
    """A new key for the path's collection (shown once, in the reply)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"scope": "read"}]})

    scope: Literal["read", "write", "admin"] = "read"
    label: Annotated[Text, Field(max_length=200)] = ""


class FeedbackIn(BaseModel):
    """A reader's verdict on an answer the API gave (send the answer back as it came)."""

    model_config = ConfigDict(extra="forbid")

    answer: Answer
    verdict: Literal["up", "down"]
    expected: Annotated[Text, Field(max_length=4000)] = Field(
        "", description="the answer that was expected (a thumbs-down becomes a test with it)"
    )
    unsupported: Annotated[list[Count], Field(max_length=50)] = Field(
        default_factory=list, description="numbers of citations that do not support their claim"
    )
    note: Annotated[Text, Field(max_length=4000)] = ""


class FeedIn(BaseModel):
    """A feed (or page) for the collection to follow."""

    model_config = ConfigDict(extra="forbid")

    url: Annotated[Text, Field(max_length=2000)]
    every_minutes: Annotated[float, Field(ge=1, le=7 * 24 * 60)] = Field(
        15, description="how often it is read"
    )
    read_now: Flag = Field(True, description="read it once now, and say what came of it")
