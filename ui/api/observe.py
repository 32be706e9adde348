"""What an operator sees of the server: a request id on every request, log line and error body,
and counters in Prometheus' text format at `GET /v1/metrics`.

- `observe(app, pipeline)` adds asgi-correlation-id's middleware: a request's
  `X-Request-ID` (a client's own, when it is 1-64 letters, digits or `._:-`; else a new one) is
  sent back in the response's header, set for the logging filter (`log_filter()`: the server's
  log lines carry it), and added as `request_id` to every JSON error body (`ErrorIds`), whoever
  wrote the error (a route, a handler, the key check, a limit).
- `Metrics` (prometheus_client, a registry per app) counts requests and their latency by route,
  method and status (`Timing`, around everything, so a 401 or 429 counts too), answers by backend
  and outcome (answered, declined, failed), articles written through the API by status, and
  reads the index size when scraped.

This module observes; it decides nothing about a request.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from asgi_correlation_id import CorrelationIdFilter, CorrelationIdMiddleware, correlation_id
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.answering.answer import Answer
from rag.errors import BadQuestionError
from rag.pipeline import Pipeline
from ui.api.paths import api_paths

log = logging.getLogger(__name__)

HEADER = "X-Request-ID"
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


def valid_id(value: str) -> bool:
    """A client's own request id is kept when it cannot forge a log line or a header."""
    return bool(_SAFE_ID.fullmatch(value))


def observe(app: FastAPI, pipeline: Pipeline) -> Metrics:
    """Add the request ids, the error bodies' ids and the request metrics around everything
    added so far (call it last: what it adds is outermost, so a 401, a 413 or a 429 is counted
    and carries an id too)."""
    metrics = Metrics(pipeline)
    served = getattr(app.state, "served", None)
    if served is not None:
        metrics.registry.register(_OpenCollections(served))
    app.state.metrics = metrics
    app.add_middleware(ErrorIds)
    app.add_middleware(Timing, metrics=metrics, api=app)
    app.add_middleware(CorrelationIdMiddleware, header_name=HEADER, validator=valid_id)
    return metrics


def log_filter() -> logging.Filter:
    """A logging filter that gives each record `correlation_id` (the request's id, or `-`)."""
    return CorrelationIdFilter(default_value="-")


class ErrorIds:
    """Adds the request id to every JSON error body (status >= 400) as `request_id`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        parts: list[bytes] = []

        async def rewrite(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                kind = MutableHeaders(raw=message["headers"]).get("content-type", "")
                if message["status"] >= 400 and kind.startswith("application/json"):
                    start = message  # held until the whole (small) body is read
                    return
            elif message["type"] == "http.response.body" and start is not None:
                parts.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = _with_id(b"".join(parts))
                headers = MutableHeaders(raw=start["headers"])
                headers["content-length"] = str(len(body))
                await send(start)
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, rewrite)


def _with_id(body: bytes) -> bytes:
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if not isinstance(data, dict):
        return body
    data["request_id"] = correlation_id.get()
    return json.dumps(data, ensure_ascii=False).encode()


class Metrics:
    """The server's counters (one registry per app, so two apps in a process count apart)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "rag_http_requests",
            "HTTP requests answered, by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "rag_http_request_seconds",
            "time from a request's arrival to the end of its response, by route and method",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.answers = Counter(
            "rag_answers",
            "answers given, by backend and outcome (answered, declined, failed)",
            ["backend", "outcome"],
            registry=self.registry,
        )
        self.articles = Counter(
            "rag_articles_written",
            "articles sent through the API, by what became of them (added, changed, "
            "unchanged, refused, removed)",
            ["status"],
            registry=self.registry,
        )
        self.registry.register(_IndexSize(pipeline))

    def answered(self, answer: Answer) -> None:
        outcome = "declined" if answer.declined else "answered"
        self.answers.labels(answer.backend or "?", outcome).inc()

    def failed(self, backend: str | None) -> None:
        self.answers.labels(backend or "default", "failed").inc()

    @contextmanager
    def counting(self, backend: str | None) -> Iterator[None]:
        """Counts a failure of the answer made inside (a bad question is no failed answer)."""
        try:
            yield
        except (BadQuestionError, ValueError):
            raise
        except Exception:
            self.failed(backend)
            raise

    def written(self, statuses: Iterable[str]) -> None:
        for status in statuses:
            self.articles.labels(status).inc()

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)


class _IndexSize(Collector):
    """The index's size, read from the pipeline's catalogue when Prometheus scrapes."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def collect(self) -> Iterator[GaugeMetricFamily]:
        catalogue = self.pipeline.catalogue
        yield GaugeMetricFamily("rag_index_articles", "articles indexed", catalogue.article_count)
        yield GaugeMetricFamily("rag_index_chunks", "chunks indexed", catalogue.size)


class _OpenCollections(Collector):
    """How many collections besides the default one are open now (`ui.served.Served`)."""

    def __init__(self, served: Any) -> None:
        self.served = served

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "rag_open_collections",
            "collections open besides the default one (opened on first use, closed when idle)",
            len(self.served.open_names()),
        )


class Timing:
    """Counts every HTTP request and times it to the end of its response, labelled by the API
    path template it matches (`/v1/articles/{article_id}`: ids make no new series; the web UI's
    paths are `ui`, any other `unmatched`), whether or not the route was reached."""

    def __init__(self, app: ASGIApp, metrics: Metrics, api: Any) -> None:
        self.app, self.metrics, self.api = app, metrics, api
        self._paths: list[tuple[str, re.Pattern[str], set[str]]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def timed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, timed)
        finally:
            seconds = time.perf_counter() - started
            try:
                route = self._route(scope["path"])
                self.metrics.observe(route, scope["method"], status, seconds)
            except Exception:  # counting must never cost a request its reply
                log.exception("could not count a request")
            # the access log: a server error is a warning (shown by default), the rest info
            level = logging.WARNING if status >= 500 else logging.INFO
            log.log(level, "%s %s %d in %.3f s", scope["method"], scope["path"], status, seconds)

    def _route(self, path: str) -> str:
        if self._paths is None:
            self._paths = api_paths(self.api)
        for template, pattern, _ in self._paths:
            if pattern.match(path):
                return template
        return "unmatched" if path.startswith("/v1/") else "ui"
