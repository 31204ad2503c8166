"""POST /v1/predict: labels and probabilities (or entities) for a batch of texts."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, HTTPException, Response

from tunekit.serve.dependencies import ERROR_RESPONSES, PredictState
from tunekit.serve.schemas import PredictResponse, TextsRequest
from tunekit.serve.settings import LimitsConfig

router = APIRouter(tags=["predict"])


def check_text_limits(texts: list[str], limits: LimitsConfig, max_texts: int | None = None,
                      max_chars: int | None = None) -> None:
    """413 for too many texts, 422 for a text too long, each naming the limit."""
    max_texts = max_texts or limits.max_batch_texts
    max_chars = max_chars or limits.max_text_chars
    if len(texts) > max_texts:
        raise HTTPException(413, f"{len(texts)} texts in one request; the limit is {max_texts}: split the batch")
    for i, text in enumerate(texts):
        if len(text) > max_chars:
            raise HTTPException(422, f"texts[{i}] has {len(text)} characters; the limit is {max_chars}")


@router.post("/v1/predict", response_model=PredictResponse,
             responses={**ERROR_RESPONSES, 413: {"description": "Too many texts, or a body too large."}})
async def predict(request: TextsRequest, state: PredictState) -> Response:
    """Predict each text. Classification runs answer a label and a probability per label; tagger runs answer
    entities with character offsets. Predictions come back in input order. Needs scope `predict`."""
    check_text_limits(request.texts, state.config.limits)
    predictions = await state.batcher.predict(request.texts)
    # `ModelService.predict` answers plain JSON types in PredictResponse's shape (tests/serve check both task
    # kinds against it), so the body is written here: FastAPI re-validating it cost ~15 µs of CPU per request.
    return Response(orjson.dumps({"predictions": predictions}, option=orjson.OPT_SERIALIZE_NUMPY),
                    media_type="application/json")
