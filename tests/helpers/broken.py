"""Stand-ins that fail, importable by a spawned worker process (a test's local function is not)."""

from __future__ import annotations

from typing import Any


def start_tagger(settings: Any) -> None:
    """A tagging worker that cannot start (as without spaCy's model)."""
    raise RuntimeError("no spaCy model here")
