"""The API's paths as its OpenAPI spec lists them, for what looks at a request before (or
without) the router: the method check of `Guard` and the route labels of the metrics."""

from __future__ import annotations

import re
from typing import Any


def api_paths(app: Any) -> list[tuple[str, re.Pattern[str], set[str]]]:
    """Each API path of the app's OpenAPI spec: its template, a pattern that matches it, and
    the methods it takes."""
    table = []
    for path, operations in app.openapi().get("paths", {}).items():
        methods = {m.upper() for m in operations}
        if "GET" in methods:
            methods.add("HEAD")
        pattern = re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")
        table.append((path, pattern, methods))
    return table
