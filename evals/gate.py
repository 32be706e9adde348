"""The CI gate: minimum scores per dataset and answer backend, kept in `evals/floors.json`.

The file maps dataset -> backend -> metric -> floor, e.g.
`{"seeds": {"extractive": {"hit_rate@5": 0.9, "key_fact_recall": 0.6}}}`. A metric below its
floor, or not computed at all, fails the gate; `rag eval --gate` then exits 1 and says which.
Floors are minimums for "higher is better" metrics only (latency is reported, not gated: it
depends on the machine). This module does not run evaluations or pick the floors' values.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evals.dataset import read_json
from rag.errors import RagError

FLOORS = Path(__file__).resolve().parent / "floors.json"


class GateError(RagError):
    """The floors file is missing or malformed, or has no floors for this run."""


def load_floors(path: Path = FLOORS) -> dict[str, Any]:
    data = read_json(path, GateError, "the floors file")
    if not isinstance(data, dict):
        raise GateError(f"{path}: expected {{dataset: {{backend: {{metric: floor}}}}}}")
    return data


def floors_for(
    floors: Mapping[str, Any], dataset: str, backend: str, path: Path = FLOORS
) -> dict[str, float]:
    """The floors of one dataset and backend; GateError names what is there when missing."""
    per_backend = floors.get(dataset)
    if not isinstance(per_backend, dict) or not isinstance(per_backend.get(backend), dict):
        there = [
            f"{d}/{b}"
            for d, bs in floors.items()
            if isinstance(bs, dict) and not d.startswith("_")
            for b in bs
        ]
        raise GateError(
            f"no floors for dataset {dataset!r} with backend {backend!r} in {path} "
            f"(it has: {', '.join(there) or 'none'})"
        )
    out: dict[str, float] = {}
    for metric, value in per_backend[backend].items():
        if metric.startswith("_"):
            continue  # comments
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise GateError(f"{path}: floor {dataset}/{backend}/{metric} must be a number")
        out[metric] = float(value)
    return out


def check(overall: Mapping[str, Any], floors: Mapping[str, float]) -> list[str]:
    """One line per metric below its floor (or missing); empty when the gate passes."""
    failures = []
    for metric, floor in floors.items():
        value = overall.get(metric)
        if value is None:
            failures.append(f"{metric}: not computed (floor {floor:.3f})")
        elif float(value) < floor:
            failures.append(f"{metric}: {float(value):.3f} is below its floor {floor:.3f}")
    return failures
