"""The product's errors: each says what went wrong and what to do next.

The CLI prints them without a traceback and exits 2; the HTTP API maps them to 4xx/503 answers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


class RagError(Exception):
    """Base class: a message for a person, never a stack trace."""


class ConfigError(RagError):
    """A setting is missing or invalid."""


class IndexMissingError(RagError):
    """There is nothing to search yet."""


class EmbeddingMismatchError(RagError):
    """The collection was built with another embedding model than the one configured."""


class LoaderError(RagError):
    """An article file could not be read."""


class BadQuestionError(RagError):
    """The question is empty, too long, or otherwise unusable."""


class BackendUnavailableError(RagError):
    """An optional backend's package or model file is not installed."""


class ArticleConflictError(RagError):
    """An article id already indexed with other text, and replacing was not asked for."""


class BusyError(RagError):
    """Another writer holds the index; try again later."""


class StoreUnavailableError(RagError):
    """The vector store cannot be reached or read (a Chroma server down)."""


class StoreReadOnlyError(StoreUnavailableError):
    """The store's folder cannot be written: questions are served, nothing can be added."""


class StoreFullError(RagError):
    """The disk under the store is full: nothing was written."""


class TimeLimitError(LoaderError):
    """A job ran past its time limit (`Deadline`): what was done is kept, the rest is named."""


@dataclass(frozen=True)
class Deadline:
    """A time limit on a job, with the setting that sets it (named when it is passed)."""

    seconds: float
    setting: str
    ends: float = field(default=0.0)

    @classmethod
    def after(cls, seconds: float, setting: str) -> Deadline:
        return cls(seconds, setting, time.monotonic() + seconds)

    def passed(self) -> bool:
        return time.monotonic() > self.ends

    def check(self, doing: str) -> None:
        """`TimeLimitError` once the time is up: `doing` took too long, nothing was added."""
        if self.passed():
            raise TimeLimitError(
                f"{doing} took longer than {self.seconds:g} s ({self.setting}): nothing was added; "
                "send it in smaller parts, or raise the limit"
            )


class StoreDamagedError(StoreUnavailableError):
    """The store's files are damaged (found before they could crash the process)."""
