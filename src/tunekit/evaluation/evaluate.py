"""Evaluate a `Predictor` on labeled data, streaming: metrics, predictions file and plots."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from tunekit.atomic import atomic_path
from tunekit.data.examples import LabeledTexts
from tunekit.evaluation.metrics import ClassificationMetrics
from tunekit.evaluation.plots import plot_confusion_matrix, plot_reliability
from tunekit.inference.predictor import BLOCK_SIZE, Predictor


def evaluate_split(predictor: Predictor, data: LabeledTexts, out_dir: Path, name: str,
                   label_delimiter: str | None = None, calibration_bins: int = 15) -> dict[str, Any]:
    """Score ``data`` block by block; write ``<name>_predictions.csv`` and the plots into ``out_dir``.

    Returns:
        The metrics dict, with ``plots`` naming the PNG files written.
    """
    label_map = predictor.label_map
    targets = label_map.encode(data.labels, source=data.source, delimiter=label_delimiter)
    metrics = ClassificationMetrics(list(label_map.classes), label_map.multi_label, calibration_bins,
                                    thresholds=predictor.thresholds)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / f"{name}_predictions.csv") as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label", "predicted", *(f"p_{c}" for c in label_map.classes)])
        start = 0
        for probabilities in predictor.iter_predict_proba(data.texts, data.pairs, BLOCK_SIZE):
            end = start + len(probabilities)
            metrics.update(probabilities, targets[start:end])
            predicted = predictor.labels_from_probabilities(probabilities)
            for i, row in enumerate(probabilities):
                writer.writerow([data.texts[start + i], data.labels[start + i], predicted[i],
                                 *(f"{p:.6f}" for p in row)])
            start = end
    result = metrics.compute()
    title = f"{name} ({Path(data.source).name})"
    plots = {"reliability diagram": f"{name}_reliability.png"}
    plot_reliability(metrics.reliability(), result["ece"], out_dir / plots["reliability diagram"], title)
    if not label_map.multi_label:
        plots["confusion matrix"] = f"{name}_confusion_matrix.png"
        plot_confusion_matrix(metrics.confusion, [str(c) for c in label_map.classes],
                              out_dir / plots["confusion matrix"], title)
    result["plots"] = plots
    return result
