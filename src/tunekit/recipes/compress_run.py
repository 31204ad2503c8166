"""Recipe: compress a finished classifier run to an int8 (or fp32) ONNX model, kept only if it classifies as well.

``compress_run(run_dir)`` exports the run's model (adapters merged) with int8 weights
(`tunekit.compress.onnx_int8`), classifies a labeled check set with it and with the run's own model, and writes
``RUN_DIR/compressed/`` (``model.int8.onnx`` and ``compression.json``: both models' accuracy and macro-F1, how
many texts each gets right that the other gets wrong, the largest probability difference, both speeds and sizes,
the CPU it was checked on and a fingerprint of the weights it was made from) through `atomic_path`, only when
neither metric of the int8 model is more than ``max_accuracy_drop`` below the run's own. A refused or interrupted
compression leaves any earlier ``compressed/`` as it was. The check set is a labeled file, or by default the run's
own validation split, re-read from its training data.

``precision="fp32"`` writes ``model.fp32.onnx`` instead: the same graph with the run's own fp32 weights, for ONNX
Runtime's CPU kernels without the int8 model's rounding. On a CPU without native bf16 it classified SST-2 2.1-2.8x
faster than the run's torch model one text at a time and 1.06-1.13x at batch 64 (docs/compress.md). It goes
through the same check.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from tunekit.atomic import atomic_path, read_json, write_json
from tunekit.compress.onnx_classifier import OnnxClassifier
from tunekit.compress.onnx_int8 import export_fp32, export_int8
from tunekit.compress.source import source_fingerprint
from tunekit.config import RunConfig, load_config
from tunekit.data.examples import LabeledTexts
from tunekit.data.labels import LabelMap
from tunekit.data.prepare import load_labeled, run_splits
from tunekit.errors import DataError, TunekitError
from tunekit.evaluation.metrics import ClassificationMetrics
from tunekit.inference.predictor import Predictor
from tunekit.methods import METHODS
from tunekit.run.layout import COMPRESSED_PRECISIONS, RunLayout, described_precision
from tunekit.run.model_io import load_model

MAX_ACCURACY_DROP = 0.01
TOLERANCE = 1e-9  # float rounding: 1.0 - 0.99 is 0.010000000000000009, a drop of exactly the allowance
GATED = {"accuracy": "accuracy", "macro_f1": "macro-F1"}  # report key: how the table and errors name it
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")  # what int8 matmul kernels dispatch on
EXPORTS = {"int8": export_int8, "fp32": export_fp32}
UNROUNDED_FIX = "compress with --precision fp32 (the run's own weights, no rounding), "  # when int8 is refused
FORMATS = {"int8": "onnx, int8 weights per output channel limited to -64..64, activations quantised per matmul call "
                   "(dynamic)",
           "fp32": "onnx, the run's fp32 weights"}


@dataclass
class CheckSet:
    data: LabeledTexts
    targets: np.ndarray  # label ids (n,), or multi-hot (n, k) for multi-label runs


@dataclass
class CheckedModel:
    """One model's pass over the check set."""

    probabilities: np.ndarray
    predicted: np.ndarray  # (n,) label ids, or (n, k) bool label sets for multi-label runs
    correct: np.ndarray  # (n,) bool: the text's label (label set) predicted exactly
    metrics: dict[str, float]
    texts_per_second: float


def compress_run(run_dir: Path, data_path: str | None = None, *, max_accuracy_drop: float = MAX_ACCURACY_DROP,
                 precision: str = "int8") -> dict[str, Any]:
    """Write ``RUN_DIR/compressed/`` (see the module docstring) with the model in ``precision`` (``int8`` or
    ``fp32``); returns the report written to compression.json.

    Raises:
        TunekitError: the run is a tagger, its method cannot merge, the model does not export, there is no check
            set, ``precision`` is unknown, or the exported model's accuracy or macro-F1 fell by more than
            ``max_accuracy_drop`` (nothing is written then).
    """
    layout = RunLayout(Path(run_dir)).require_finished()
    config = load_config(layout.config)
    if config.task != "classification":
        raise TunekitError(f"{run_dir} is a {config.task.replace('_', ' ')} run; `tunekit compress` compresses "
                           "classifiers", "serve the tagger from its run directory (tunekit predict / serve)")
    if precision not in EXPORTS:
        raise TunekitError(f"unknown precision {precision!r} for the compressed model",
                           f"pass one of: {', '.join(COMPRESSED_PRECISIONS)}")
    if not 0 <= max_accuracy_drop < 1:
        raise TunekitError(f"max accuracy drop {max_accuracy_drop} is not in [0, 1)",
                           "pass a fraction, e.g. --max-accuracy-drop 0.01 for one point of accuracy")
    for stale in layout.root.glob(f".{layout.compressed.name}.*.tmp"):  # left by a compression that was killed
        shutil.rmtree(stale, ignore_errors=True)
    label_map = LabelMap.from_json(read_json(layout.labels))
    check = _check_set(config, label_map, data_path)  # before any model runs: a bad label fails in seconds
    merged = METHODS[config.method].merge(load_model(layout.model, config, label_map))  # fails first if it can't
    predictor = Predictor.from_run_dir(run_dir)
    original = _classify(predictor, check)
    with atomic_path(layout.compressed) as scratch:
        scratch.mkdir()
        target = EXPORTS[precision](merged, scratch / layout.compressed_model_for(precision).name)
        predictor.compressed = OnnxClassifier(target)
        exported = _classify(predictor, check)
        report = _report(check, original, exported, precision, merged, target, max_accuracy_drop) | {
            "source_fingerprint": source_fingerprint(layout)}
        _gate(report, original, exported, max_accuracy_drop, len(check.data))
        write_json(scratch / layout.compression_report.name, report)
    return report


def print_compression_report(report: dict[str, Any], console: Console) -> None:
    """The check's figures as a table, then where the model went and how to use it."""
    precision = described_precision(report)
    table = Table(title=f"{precision} model checked on {report['check_set']}")
    for column in ("", "accuracy", "macro-F1", "texts/s", "size (MB)"):
        table.add_column(column, justify="left" if not column else "right")
    for name, label in (("run", "run's model (fp32)"), (precision, f"{precision} ONNX")):
        table.add_row(label, f"{report['accuracy'][name]:.4f}", f"{report['macro_f1'][name]:.4f}",
                      f"{report['texts_per_second'][name]:.1f}", f"{report['size_mb'][name]:.1f}")
    console.print(table)
    flips = report["texts_flipped"]
    console.print(f"the same prediction for {report['prediction_agreement']:.1%} of texts; "
                  f"{flips['right_to_wrong']} went from right to wrong, {flips['wrong_to_right']} the other way")


def _check_set(config: RunConfig, label_map: LabelMap, data_path: str | None) -> CheckSet:
    if data_path is not None:
        data = load_labeled(data_path, config.data)
    elif (splits := run_splits(config.data)) is not None:
        data = splits.validation
    else:
        raise DataError("no labeled texts to check the compressed model on: the run's training data "
                        f"({config.data.train or 'in-memory data'}) is not on this machine",
                        "pass a labeled file with --data PATH (the columns the run was trained with)")
    return CheckSet(data, label_map.encode(data.labels, source=data.source, delimiter=config.data.label_delimiter))


def _classify(predictor: Predictor, check: CheckSet) -> CheckedModel:
    data = check.data
    predictor.predict_proba(data.texts[:8], None if data.pairs is None else data.pairs[:8])  # warm-up
    started = time.perf_counter()
    probabilities = predictor.predict_proba(data.texts, data.pairs)
    seconds = time.perf_counter() - started
    metrics = ClassificationMetrics(predictor.classes, predictor.label_map.multi_label,
                                    thresholds=predictor.thresholds)
    metrics.update(probabilities, check.targets)
    if predictor.label_map.multi_label:
        predicted = probabilities >= predictor.thresholds
        correct = (predicted == (check.targets > 0.5)).all(axis=1)
    else:
        predicted = probabilities.argmax(axis=1)
        correct = predicted == check.targets
    computed = metrics.compute()
    return CheckedModel(probabilities, predicted, correct, {name: computed[name] for name in GATED},
                        len(data) / seconds)


def _gate(report: dict[str, Any], original: CheckedModel, exported: CheckedModel, max_drop: float, n: int) -> None:
    for name, shown in GATED.items():
        drop = original.metrics[name] - exported.metrics[name]
        if drop > max_drop + TOLERANCE:
            small = (f"; with {n} texts one text is {1 / n:.4f} of accuracy, more than the allowance: check on more "
                     "texts with --data" if n * max_drop < 1 else "")
            raise TunekitError(
                f"the {report['precision']} model's {shown} on {report['check_set']} is "
                f"{exported.metrics[name]:.4f} "
                f"against the run's {original.metrics[name]:.4f}: {drop:.4f} lower, more than the {max_drop} "
                f"allowed; nothing was written{small}",
                (UNROUNDED_FIX if report["precision"] == "int8" else "") + "keep using the run uncompressed, or pass "
                "a larger --max-accuracy-drop if that loss is acceptable")


def _report(check: CheckSet, original: CheckedModel, exported: CheckedModel, precision: str,
            merged: torch.nn.Module, target: Path, max_accuracy_drop: float) -> dict[str, Any]:
    """compression.json's figures; the exported model's are under its precision's key (``int8``, ``fp32``)."""
    fp32_bytes = sum(p.numel() * p.element_size() for p in merged.parameters())
    return {
        "precision": precision,
        "format": FORMATS[precision],
        "check_set": f"{check.data.source} ({len(check.data)} texts)",
        **{name: {"run": round(original.metrics[name], 6), precision: round(exported.metrics[name], 6)}
           for name in GATED},
        "max_accuracy_drop": max_accuracy_drop,
        "prediction_agreement": round(float(np.mean(_same_rows(original.predicted, exported.predicted))), 6),
        "texts_flipped": {"right_to_wrong": int((original.correct & ~exported.correct).sum()),
                          "wrong_to_right": int((~original.correct & exported.correct).sum())},
        "max_probability_difference": round(float(np.abs(original.probabilities - exported.probabilities).max()), 6),
        "texts_per_second": {"run": round(original.texts_per_second, 1),
                             precision: round(exported.texts_per_second, 1)},
        "size_mb": {"run": round(fp32_bytes / 2**20, 1), precision: round(target.stat().st_size / 2**20, 1)},
        "checked_on": {"cpu_flags": _cpu_flags(), "threads": torch.get_num_threads()},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "packages": {name: version(name) for name in ("torch", "onnx", "onnxruntime")},
    }


def _same_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per text, whether two predictions (label ids, or label-set rows) are the same."""
    same = a == b
    return same.all(axis=1) if same.ndim == 2 else same


def _cpu_flags() -> list[str]:
    """The int8-relevant instruction sets of this CPU (Linux's /proc/cpuinfo; empty elsewhere): ONNX Runtime picks
    its int8 kernels by them, and their rounding can differ, so a check holds for CPUs like the one it ran on."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return [flag for flag in CPU_FLAGS if flag in flags]
