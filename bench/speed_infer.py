"""One inference system of the speed benchmark, run in its own process.

    python bench/speed_infer.py SYSTEM PARAMS_JSON OUT_JSON

SYSTEM is ``tunekit`` (``Predictor.from_run_dir``: length-sorted batches, bf16 autocast where native,
``inference_mode``), ``tunekit-int8`` (the same with the run's int8 ONNX model, ``tunekit compress``),
``tunekit-onnx-fp32`` (the same with the fp32 ONNX model of the run in PARAMS_JSON, ``tunekit compress --precision
fp32``) or ``pipeline`` (``transformers.pipeline("text-classification")`` on the same run's model directory, its
defaults otherwise). All classify the same texts, tokenisation included in the time, at the batch size in
PARAMS_JSON, after a short warm-up on other texts.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from speed_flops import inference_flops
from speed_train import mkl_as_for, sst2_dev


def predict_tunekit(run_dir: Path, texts: list[str], batch_size: int,
                    compressed: bool = False) -> tuple[list[int], torch.nn.Module, float, str]:
    from tunekit.inference.predictor import Predictor

    predictor = Predictor.from_run_dir(run_dir, batch_size=batch_size, compressed=compressed)
    predictor.predict(texts[-batch_size:][:64])
    started = time.perf_counter()
    labels = predictor.predict(texts)
    seconds = time.perf_counter() - started
    precision = predictor.compressed.precision if compressed else "bf16" if predictor.bf16 else "fp32"
    return [int(x) for x in labels], predictor.model, seconds, precision


def predict_pipeline(run_dir: Path, texts: list[str],
                     batch_size: int) -> tuple[list[int], torch.nn.Module, float, str]:
    from transformers import pipeline

    classify = pipeline("text-classification", model=str(run_dir / "model"), device="cpu")
    classify(texts[-batch_size:][:64], batch_size=batch_size)
    started = time.perf_counter()
    outputs = classify(texts, batch_size=batch_size)
    return [int(o["label"]) for o in outputs], classify.model, time.perf_counter() - started, "fp32"


def main() -> None:
    system, p, out = sys.argv[1], json.loads(sys.argv[2]), Path(sys.argv[3])
    mkl_path = mkl_as_for(system.startswith("tunekit") or p.get("mkl_avx2_on_amd", False))
    dev = sst2_dev(p.get("n_texts"))
    texts, batch_size = dev.texts, p["batch_size"]
    compressed = functools.partial(predict_tunekit, compressed=True)
    run = {"tunekit": predict_tunekit, "tunekit-int8": compressed, "tunekit-onnx-fp32": compressed,
           "pipeline": predict_pipeline}[system]
    predicted, model, seconds, precision = run(Path(p["run_dir"]), texts, batch_size)
    from transformers import AutoTokenizer

    lengths = np.array([len(ids) for ids in AutoTokenizer.from_pretrained(Path(p["run_dir"]) / "model")(
        texts, truncation=True, max_length=128)["input_ids"]], dtype=np.float64)
    flops = inference_flops(model, lengths.sum(), (lengths**2).sum(), len(lengths))
    out.write_text(json.dumps({
        "texts": len(texts), "batch_size": batch_size, "seconds": round(seconds, 3),
        "texts_per_second": len(texts) / seconds, "real_tokens_per_second": lengths.sum() / seconds,
        "model_tflops_per_second": flops / seconds / 1e12,
        "dev_accuracy": float(np.mean(np.array(predicted) == np.array([int(x) for x in dev.labels]))),
        "threads": torch.get_num_threads(), "precision": precision, "mkl_avx2_on_amd": mkl_path}, indent=2))


if __name__ == "__main__":
    main()
