"""GET /v1/model: what is served (labels, metrics, model card, audit verdict)."""

from __future__ import annotations

from fastapi import APIRouter

from tunekit.serve.dependencies import ERROR_RESPONSES, AdminState
from tunekit.serve.schemas import ModelInfo

router = APIRouter(tags=["model"])


@router.get("/v1/model", response_model=ModelInfo, responses=ERROR_RESPONSES)
async def model_info(state: AdminState) -> ModelInfo:
    """The served run: task, labels, metrics, model card, audit verdict and, for a compressed model, its compression
    check. Needs scope `admin`."""
    service = state.service
    return ModelInfo(run_dir_name=service.run_dir.name, task=service.task, labels=service.labels,
                     metrics=service.metrics, model_card=service.model_card(), audit=service.audit.status,
                     audit_gate=service.audit.details, compression=service.compression)
