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
SCOPED_EXAMPLES = max(EXAMPLES // 3, 5)  # per operation, for each of the three scoped keys


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


def schemathesis(
    server: Server, report: Path, *args: str, spec: Path | None = None, examples: int = EXAMPLES
) -> subprocess.CompletedProcess[str]:
    """Run schemathesis on the server's spec (fetched with the key: the spec needs it too), or
    on `spec`."""
    if spec is None:
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
        str(examples),
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
    if EXAMPLES < 100:  # a bounded run: each collection's routes are the default's again, and
        # the scoped-key runs below fuzz them on real collections (`make fuzz` takes them all)
        args += ["--exclude-path-regex", "^/v1/collections/[{]collection[}]/"]
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


SCOPED = ("politics", "private")  # collections beside the seeds' (the default, `news`)


@pytest.fixture(scope="module")
def scoped(
    seeded: Settings, tmp_path_factory: pytest.TempPathFactory, embed_model
) -> Iterator[tuple[Server, dict[str, str]]]:  # type: ignore[no-untyped-def]
    """A real `rag serve` on three collections, with a read, a write and an admin key of
    `politics`."""
    from index.ingest import ingest
    from rag.settings import on_collection
    from rag.store.keys import SCOPES, KeyRing
    from rag.store.layout import Layout
    from tests.conftest import make_settings

    workdir = tmp_path_factory.mktemp("scoped")
    server = launch(
        seeded, workdir, RAG_SERVER__API_KEY=KEY, RAG_SERVER__KEY_FAILURES_PER_MINUTE="1000000"
    )
    settings = make_settings(workdir / "store")
    for name in SCOPED:
        note = workdir / f"{name}.txt"
        note.write_text(f"The {name} desk\n\nThe {name} desk met on Monday about the budget.\n")
        ingest([note], on_collection(settings, name), embed_model, progress=False)
    ring = KeyRing(Layout.of(settings).keys)
    keys = {scope: ring.create("politics", scope)[1] for scope in SCOPES}
    try:
        wait_ready(server)
        yield server, keys
    finally:
        stop(server)


def scoped_spec(server: Server, path: Path) -> Path:
    """The server's spec cut to the routes under /v1/collections/{collection}, each written out
    for every collection (the key's own and another's), so the fuzzer reaches real ones."""
    spec = httpx.get(server.url + "/openapi.json", headers={"X-API-Key": KEY}, timeout=30).json()
    paths = {}
    for template, operations in spec["paths"].items():
        if "{collection}" not in template:
            continue
        for name in SCOPED:
            ops = json.loads(json.dumps(operations).replace("{collection}", name))
            for op in ops.values():
                op["operationId"] += "_" + name
                op["parameters"] = [
                    p for p in op.get("parameters", []) if p["name"] != "collection"
                ]
            paths[template.replace("{collection}", name)] = ops
    spec["paths"] = paths
    path.write_text(json.dumps(spec))
    return path


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.subprocess
@pytest.mark.parametrize("scope", ["read", "write", "admin"])
def test_schemathesis_with_each_scoped_key_finds_nothing(
    scoped: tuple[Server, dict[str, str]], tmp_path: Path, scope: str
) -> None:
    server, keys = scoped
    report = tmp_path / "events.ndjson"
    spec = scoped_spec(server, tmp_path / "scoped.json")
    key = keys[scope]
    run = schemathesis(
        server,
        report,
        *("-H", f"X-API-Key: {key}", "-H", f"Authorization: Bearer {key}"),
        spec=spec,
        examples=SCOPED_EXAMPLES,
    )
    assert run.returncode == 0, run.stdout[-6000:]
    got = responses(report)
    statuses = Counter(status for _, status in got)
    print(
        f"schemathesis with a {scope} key: {len(got)} responses, {dict(sorted(statuses.items()))}"
    )
    assert len(got) >= 50 and max(statuses) < 500
    assert 404 in statuses  # the other collection's routes, never opened to this key
