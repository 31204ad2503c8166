"""Interleaved A/B of two ways to run a run's int8 model, on a finished classifier run.

    flock /tmp/tunekit-heavy.lock python bench/compress_ab.py [RUN_DIR] [ROUNDS] [COMPARISON] [BATCH]

COMPARISON ``first-token`` (the default): the export's first-token last layer (`tunekit.compress.first_token`)
against the plain export of the same model; both int8 models are written to a scratch directory from the run's
merged model (`export_int8`, the plain one with `first_token_applies` switched off).
``one-batch-per-core``: the first-token export run one batch per core (`OnnxClassifier.logits_per_batch`) against
one batch at a time on every core (``batches_at_once=1``).

One `Predictor` (batch BATCH, default 64) classifies the GLUE SST-2 dev texts with each in turn, ROUNDS rounds
(default 6) in alternating order, so drift hits both alike; prints every round's texts/s, the medians, their ratio,
the median of the per-round ratios and each model's dev accuracy. Results quoted in docs/compress.md.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from speed_train import sst2_dev
from tunekit.atomic import read_json
from tunekit.compress import onnx_int8
from tunekit.compress.onnx_classifier import OnnxClassifier
from tunekit.config import load_config
from tunekit.data.labels import LabelMap
from tunekit.inference.predictor import Predictor
from tunekit.methods import METHODS
from tunekit.run.layout import RunLayout
from tunekit.run.model_io import load_model

ROOT = Path(__file__).resolve().parents[1]


def exported(layout: RunLayout, scratch: Path, first_token: bool) -> Path:
    config = load_config(layout.config)
    label_map = LabelMap.from_json(read_json(layout.labels))
    merged = METHODS[config.method].merge(load_model(layout.model, config, label_map))
    applies = onnx_int8.first_token_applies
    onnx_int8.first_token_applies = applies if first_token else (lambda model: False)
    try:
        path = onnx_int8.export_int8(merged, scratch / f"first-token-{first_token}.onnx")
    finally:
        onnx_int8.first_token_applies = applies
    return path


def classifiers(comparison: str, layout: RunLayout, scratch: Path) -> dict[str, OnnxClassifier]:
    """The baseline first, then the variant."""
    if comparison == "first-token":
        return {"plain": OnnxClassifier(exported(layout, scratch, False)),
                "first-token": OnnxClassifier(exported(layout, scratch, True))}
    if comparison == "one-batch-per-core":
        path = exported(layout, scratch, True)
        return {"one-batch-at-a-time": OnnxClassifier(path, batches_at_once=1),
                "one-batch-per-core": OnnxClassifier(path)}
    raise SystemExit(f"unknown comparison {comparison!r}: first-token or one-batch-per-core")


def main() -> None:
    run_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench" / "runs" / "sst2-full"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    comparison = sys.argv[3] if len(sys.argv) > 3 else "first-token"
    batch_size = int(sys.argv[4]) if len(sys.argv) > 4 else 64
    dev = sst2_dev(None)
    gold = np.array([int(label) for label in dev.labels])
    predictor = Predictor.from_run_dir(run_dir, batch_size=batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        models = classifiers(comparison, RunLayout(run_dir), Path(tmp))
        speeds: dict[str, list[float]] = {name: [] for name in models}
        accuracy: dict[str, float] = {}
        for r in range(rounds):
            for name in (list(models) if r % 2 == 0 else list(reversed(models))):
                predictor.compressed = models[name]
                predictor.predict_proba(dev.texts[:64])
                started = time.perf_counter()
                probabilities = predictor.predict_proba(dev.texts)
                speeds[name].append(len(dev.texts) / (time.perf_counter() - started))
                accuracy[name] = float((probabilities.argmax(axis=1) == gold).mean())
    for name, values in speeds.items():
        print(f"{name}: {[round(v, 1) for v in values]} median {statistics.median(values):.1f} texts/s, "
              f"dev accuracy {accuracy[name]:.4f}")
    baseline, variant = list(speeds)
    ratio = statistics.median(speeds[variant]) / statistics.median(speeds[baseline])
    paired = statistics.median(v / b for v, b in zip(speeds[variant], speeds[baseline], strict=True))
    print(f"{variant} / {baseline}: x{ratio:.3f} (median of the rounds' ratios x{paired:.3f}), batch {batch_size}")


if __name__ == "__main__":
    main()
