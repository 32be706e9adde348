"""`GET /v1/metrics`: the server's counters in Prometheus' text format (`ui.api.observe`), behind
the server's key (a collection's key gets 403): requests and latency by route, answers by backend and outcome, articles written
through the API, and the index size. This route only renders them."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ui.api.deps import Everything, MetricsDep

router = APIRouter(tags=["status"])


@router.get(
    "/metrics",
    summary="Counters in Prometheus' text format",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
async def metrics(metrics: MetricsDep, _: Everything) -> Response:
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
