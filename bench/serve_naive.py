"""The naive baseline for bench/serve_load.py: FastAPI + `transformers.pipeline`, one request at a time.

What a user would write in ten lines: no batching across requests, no key checks, inference on the event loop
(so requests are answered strictly one after another). Same request/response contract as `tunekit serve`.

    python bench/serve_naive.py MODEL_DIR --port 8001     # MODEL_DIR from `tunekit export RUN --merged`
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from transformers import pipeline


class TextsRequest(BaseModel):
    texts: list[str]


def create_naive_app(model_dir: str) -> FastAPI:
    classifier = pipeline("text-classification", model=model_dir, tokenizer=model_dir, device="cpu", top_k=None)
    app = FastAPI()

    @app.post("/v1/predict")
    async def predict(request: TextsRequest) -> dict:
        outputs = classifier(request.texts)
        return {"predictions": [{"label": max(scores, key=lambda s: s["score"])["label"],
                                 "probabilities": {s["label"]: s["score"] for s in scores}} for scores in outputs]}

    @app.get("/readyz")
    async def readyz() -> dict:
        return {"status": "ready"}

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    uvicorn.run(create_naive_app(args.model_dir), host="127.0.0.1", port=args.port, log_level="warning")
