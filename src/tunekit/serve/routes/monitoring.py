"""GET /v1/alerts and GET /metrics: alert rules, drift and Prometheus metrics."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tunekit.serve.dependencies import ERROR_RESPONSES, AdminState
from tunekit.serve.schemas import AlertsResponse

router = APIRouter(tags=["monitoring"])


@router.get("/v1/alerts", response_model=AlertsResponse, responses=ERROR_RESPONSES)
async def alerts(state: AdminState) -> AlertsResponse:
    """Each alert rule with its current value and whether it fires, plus the drift gauges. Needs scope `admin`."""
    monitor = state.monitor
    return AlertsResponse(alerts=[asdict(s) for s in monitor.states.values()], label_drift_psi=monitor.label_psi,
                          length_drift_psi=monitor.length_psi)


@router.get("/metrics", response_class=Response, responses={
    **ERROR_RESPONSES, 200: {"description": "Prometheus text format.", "content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics(state: AdminState) -> Response:
    """Prometheus metrics: requests and latency by route and status, batch sizes, model time, predicted labels,
    drift and alerts. Needs scope `admin` (configure the scraper with a bearer token)."""
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
