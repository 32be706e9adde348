"""`QAService`: at most `at_once` questions are searched and answered extractively at the same
time in a process; the others wait their turn (pure Python: more threads than cores only fight
over the interpreter, and held a server's health probe behind them)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from rag.pipeline import Pipeline
from rag.service import QAService


def test_questions_beyond_at_once_wait_their_turn(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    qa = QAService(pipeline.settings, pipeline.retriever, pipeline.qa.answerers, at_once=2)
    inside, most, lock = 0, 0, threading.Lock()
    search = pipeline.retriever.retrieve

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        try:
            time.sleep(0.05)  # long enough for the other threads to arrive meanwhile
            return search(*args, **kwargs)
        finally:
            with lock:
                inside -= 1

    monkeypatch.setattr(pipeline.retriever, "retrieve", counted)
    answers: list[str] = []
    threads = [
        threading.Thread(target=lambda: answers.append(qa.ask("What did Hegseth say?").answer))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 8 and all("Hegseth" in a for a in answers)
    assert most == 2


def test_at_once_defaults_to_the_setting_then_the_cores(pipeline: Pipeline) -> None:
    import os

    settings = pipeline.settings.model_copy(deep=True)
    settings.server.answers_at_once = 3
    assert QAService(settings, pipeline.retriever, pipeline.qa.answerers).at_once == 3
    settings.server.answers_at_once = 0
    assert QAService(settings, pipeline.retriever, pipeline.qa.answerers).at_once == (
        os.cpu_count() or 2
    )
