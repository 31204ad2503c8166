"""GET /healthz and GET /readyz: liveness and readiness, without a key."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from tunekit.serve.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health, "description": "Still loading."}})
async def readyz(request: Request) -> Health | JSONResponse:
    """The model is loaded and accepting predictions."""
    state = getattr(request.app.state, "serve", None)
    if state is None or not state.batcher.running:
        return JSONResponse({"status": "loading"}, status_code=503)
    return Health(status="ready")
