"""Recipe: compress a finished classifier run to an int8 ONNX model, kept only if it classifies as well.

``compress_run(run_dir)`` exports the run's model (adapters merged) with int8 weights
(`tunekit.compress.onnx_int8`), classifies a labeled check set with it and with the run's own model, and writes
``RUN_DIR/compressed/`` (``model.int8.onnx`` and ``compression.json``: both accuracies, how often the two predict
the same label (the same label set for multi-label runs),
the largest probability difference, both speeds and sizes) in one rename, only when the int8 model's accuracy is
at most ``max_accuracy_drop`` below the run's own. A refused or interrupted compression leaves any earlier
``compressed/`` as it was. The check set is a labeled file, or by default the run's own validation split,
re-read from its training data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from tunekit.atomic import atomic_path, read_json, write_json
from tunekit.compress.onnx_classifier import OnnxClassifier
from tunekit.compress.onnx_int8 import export_int8
from tunekit.config import load_config
from tunekit.data.examples import LabeledTexts
from tunekit.data.labels import LabelMap
from tunekit.data.prepare import load_labeled, load_splits
from tunekit.errors import DataError, TunekitError
from tunekit.inference.predictor import Predictor
from tunekit.methods import METHODS
from tunekit.run.layout import RunLayout
from tunekit.run.model_io import load_model

MAX_ACCURACY_DROP = 0.01
ACCURACY_TOLERANCE = 1e-9  # float rounding: 1.0 - 0.99 is 0.010000000000000009, a drop of exactly the allowance


@dataclass
class CheckedModel:
    """One model's pass over the check set."""

    probabilities: np.ndarray
    predicted: list[Any]
    accuracy: float
    texts_per_second: float


def compress_run(run_dir: Path, data_path: str | None = None, *,
                 max_accuracy_drop: float = MAX_ACCURACY_DROP) -> dict[str, Any]:
    """Write ``RUN_DIR/compressed/`` (see the module docstring); returns the report written to compression.json.

    Raises:
        TunekitError: the run is a tagger, its method cannot merge, the model does not export, there is no check
            set, or the int8 model's accuracy fell by more than ``max_accuracy_drop`` (nothing is written then).
    """
    layout = RunLayout(Path(run_dir)).require_finished()
    config = load_config(layout.config)
    if config.task != "classification":
        raise TunekitError(f"{run_dir} is a {config.task.replace('_', ' ')} run; `tunekit compress` compresses "
                           "classifiers", "serve the tagger from its run directory (tunekit predict / serve)")
    if not 0 <= max_accuracy_drop < 1:
        raise TunekitError(f"max accuracy drop {max_accuracy_drop} is not in [0, 1)",
                           "pass a fraction, e.g. --max-accuracy-drop 0.01 for one point of accuracy")
    check = _check_set(config, data_path)
    label_map = LabelMap.from_json(read_json(layout.labels))
    merged = METHODS[config.method].merge(load_model(layout.model, config, label_map))  # fails first if it can't
    predictor = Predictor.from_run_dir(run_dir)
    original = _classify(predictor, check)
    with atomic_path(layout.compressed) as scratch:
        scratch.mkdir()
        target = export_int8(merged, scratch / layout.compressed_model.name)
        predictor.compressed = OnnxClassifier(target)
        int8 = _classify(predictor, check)
        report = _report(check, original, int8, layout, target, max_accuracy_drop)
        if original.accuracy - int8.accuracy > max_accuracy_drop + ACCURACY_TOLERANCE:
            raise TunekitError(
                f"the int8 model's accuracy on {report['check_set']} is {int8.accuracy:.4f} against the run's "
                f"{original.accuracy:.4f}: {original.accuracy - int8.accuracy:.4f} lower, more than the "
                f"{max_accuracy_drop} allowed; nothing was written",
                "keep using the run uncompressed, or pass a larger --max-accuracy-drop if that loss is acceptable")
        write_json(scratch / layout.compression_report.name, report)
    return report


def _check_set(config, data_path: str | None) -> LabeledTexts:
    if data_path is not None:
        data = load_labeled(data_path, config.data)
    elif config.data.train and Path(config.data.train).exists():
        data = load_splits(config.data).validation  # the same seeded split the run validated on
    else:
        raise DataError("no labeled texts to check the compressed model on: the run's training data "
                        f"({config.data.train or 'in-memory data'}) is not on this machine",
                        "pass a labeled file with --data PATH (the columns the run was trained with)")
    if len(data) == 0:
        raise DataError(f"{data.source} has no texts to check the compressed model on", "pass a labeled file")
    return data


def _classify(predictor: Predictor, data: LabeledTexts) -> CheckedModel:
    predictor.predict_proba(data.texts[:8], None if data.pairs is None else data.pairs[:8])  # warm-up
    started = time.perf_counter()
    probabilities = predictor.predict_proba(data.texts, data.pairs)
    seconds = time.perf_counter() - started
    predicted = predictor.labels_from_probabilities(probabilities)
    encode = predictor.label_map.encode
    delimiter = predictor.config.data.label_delimiter
    if predictor.label_map.multi_label:  # exact match of the label sets
        gold = encode(data.labels, source=data.source, delimiter=delimiter)
        correct = (encode(predicted, source="predictions") == gold).all(axis=1)
    else:
        correct = encode(predicted, source="predictions") == encode(data.labels, source=data.source)
    return CheckedModel(probabilities, predicted, float(correct.mean()), len(data) / seconds)


def _report(check: LabeledTexts, original: CheckedModel, int8: CheckedModel, layout: RunLayout, target: Path,
            max_accuracy_drop: float) -> dict[str, Any]:
    agree = np.mean([a == b for a, b in zip(original.predicted, int8.predicted, strict=True)])  # label sets too
    run_bytes = sum(f.stat().st_size for f in layout.model.rglob("*") if f.is_file())
    return {
        "format": "onnx, int8 weights per output channel, activations quantised per batch (dynamic)",
        "check_set": f"{check.source} ({len(check)} texts)",
        "accuracy": {"run": round(original.accuracy, 6), "int8": round(int8.accuracy, 6)},
        "max_accuracy_drop": max_accuracy_drop,
        "prediction_agreement": round(float(agree), 6),
        "max_probability_difference": round(float(np.abs(original.probabilities - int8.probabilities).max()), 6),
        "texts_per_second": {"run": round(original.texts_per_second, 1), "int8": round(int8.texts_per_second, 1)},
        "size_mb": {"run": round(run_bytes / 2**20, 1), "int8": round(target.stat().st_size / 2**20, 1)},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "packages": {name: version(name) for name in ("torch", "onnx", "onnxruntime")},
    }
