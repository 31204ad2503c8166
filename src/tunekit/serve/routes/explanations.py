"""POST /v1/explain: per-token attributions for the predicted label of each text."""

from __future__ import annotations

from fastapi import APIRouter

from tunekit.serve.dependencies import ERROR_RESPONSES, ExplainState
from tunekit.serve.routes.predictions import check_text_limits
from tunekit.serve.schemas import ExplainResponse, TextsRequest

router = APIRouter(tags=["explain"])


@router.post("/v1/explain", response_model=ExplainResponse,
             responses={**ERROR_RESPONSES, 413: {"description": "Too many texts, or a body too large."}})
async def explain(request: TextsRequest, state: ExplainState) -> ExplainResponse:
    """Explain each text's predicted label with a score per token (classification runs). One model pass per
    token, so batches are capped lower than for /v1/predict. A tagger run answers 422. Needs scope `explain`."""
    limits = state.config.limits
    check_text_limits(request.texts, limits, limits.max_explain_texts, limits.max_explain_chars)
    return {"explanations": await state.batcher.run_exclusive(state.service.explain, request.texts)}
