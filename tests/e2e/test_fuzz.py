"""Schemathesis over the live OpenAPI spec of a real `rag serve` (an API key set), with and
without the key: no response of 500 or more, every status and body as the spec declares, auth
not ignored. A bounded run here (`make test`); `make fuzz` runs a long one (FUZZ_EXAMPLES).

One of schemathesis's checks is left out, on purpose: `positive_data_acceptance` (a request the
schema allows may still be refused for what a schema cannot say: a `published` that is no date, a
chat with no user message: each a 400/422 with its reason).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rag.settings import Settings
from tests.helpers.server import Server, launch, stop, wait_ready

KEY = "fuzz-key"
EXCLUDED = "positive_data_acceptance"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))


@pytest.fixture(scope="module")
def fuzzed(seeded: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = launch(
        seeded,
        tmp_path_factory.mktemp("fuzz"),
        RAG_SERVER__API_KEY=KEY,
        RAG_SERVER__KEY_FAILURES_PER_MINUTE="1000000",  # the fuzzer sends wrong keys on purpose
    )
    try:
        wait_ready(server)
        yield server
    finally:
        stop(server)


def schemathesis(server: Server, report: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run schemathesis on the server's spec (fetched with the key: the spec needs it too)."""
    spec = report.with_name("openapi.json")
    got = httpx.get(server.url + "/openapi.json", headers={"X-API-Key": KEY}, timeout=30)
    spec.write_text(got.raise_for_status().text)
    exe = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    cmd = [
        exe,
        "run",
        str(spec),
        "--url",
        server.url,
        "--checks",
        "all",
        "--exclude-checks",
        EXCLUDED,
        "-n",
        str(EXAMPLES),
        "--seed",
        "20261124",
        "--request-timeout",
        "60",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1200, check=False)


def responses(report: Path) -> list[tuple[str, int]]:
    """(method, status) of every response schemathesis got, from its NDJSON report."""
    found: list[tuple[str, int]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            request, response = node.get("request"), node.get("response")
            if isinstance(request, dict) and isinstance(response, dict):
                found.append((str(request.get("method")), int(response["status_code"])))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for line in report.read_text().splitlines():
        walk(json.loads(line))
    return found


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.subprocess
@pytest.mark.parametrize("with_key", [True, False], ids=["with-key", "without-key"])
def test_schemathesis_finds_nothing(fuzzed: Server, tmp_path: Path, with_key: bool) -> None:
    report = tmp_path / "events.ndjson"
    # both credentials set: a generated Authorization header beside the X-API-Key would be a
    # wrong key (401) and most requests would never reach the routes
    args = ["-H", f"X-API-Key: {KEY}", "-H", f"Authorization: Bearer {KEY}"] if with_key else []
    run = schemathesis(fuzzed, report, *args)
    assert run.returncode == 0, run.stdout[-6000:]
    got = responses(report)
    statuses = Counter(status for _, status in got)
    print(
        f"schemathesis {'with' if with_key else 'without'} the key: {len(got)} responses, {dict(sorted(statuses.items()))}"
    )
    assert len(got) >= 100 and max(statuses) < 500
    if not with_key:  # every operation but health refused before anything else looked at it
        assert {status for _, status in got} <= {200, 401, 405} and (
            "GET",
            401,
        ) in got  # 405: a method no route takes (TRACE /v1/health), refused the same way
