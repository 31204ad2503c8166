"""Streaming classification metrics: update batch by batch, never holding every prediction.

Per-class precision/recall/F1, their macro/micro/weighted averages and accuracy follow
scikit-learn's definitions (``zero_division=0``); tests check parity with `sklearn.metrics`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

EPSILON = 1e-12


class ClassificationMetrics:
    """Accumulates a confusion matrix (or per-label counts), log-loss and calibration bins.

    Args:
        classes: class names, id ``i`` is ``classes[i]``.
        multi_label: targets are multi-hot and predictions thresholded per label.
        calibration_bins: equal-width confidence bins for ECE.
        thresholds: per-label decision thresholds for multi-label data (default 0.5).
    """

    def __init__(self, classes: list[Any], multi_label: bool = False, calibration_bins: int = 15,
                 thresholds: np.ndarray | None = None) -> None:
        k = len(classes)
        self.classes = list(classes)
        self.multi_label = multi_label
        self.thresholds = np.full(k, 0.5) if thresholds is None else np.asarray(thresholds)
        self.confusion = np.zeros((k, k), dtype=np.int64)  # rows: true, columns: predicted
        self.label_counts = np.zeros((k, 3), dtype=np.int64)  # multi-label: tp, fp, fn per label
        self.exact_matches = 0
        self.count = 0
        self.loss_sum = 0.0
        self.bin_count = np.zeros(calibration_bins, dtype=np.int64)
        self.bin_confidence = np.zeros(calibration_bins)
        self.bin_correct = np.zeros(calibration_bins)

    def update(self, probabilities: np.ndarray, targets: np.ndarray) -> None:
        """Add a batch: ``probabilities (b, k)``; ``targets (b,)`` ids or ``(b, k)`` multi-hot."""
        probabilities = np.asarray(probabilities, dtype=np.float64)
        self.count += len(probabilities)
        if self.multi_label:
            self._update_multi_label(probabilities, np.asarray(targets) > 0.5)
        else:
            self._update_single_label(probabilities, np.asarray(targets, dtype=np.int64))

    def _update_single_label(self, probabilities: np.ndarray, targets: np.ndarray) -> None:
        predicted = probabilities.argmax(axis=1)
        np.add.at(self.confusion, (targets, predicted), 1)
        self.loss_sum -= np.log(np.clip(probabilities[np.arange(len(targets)), targets], EPSILON, 1.0)).sum()
        self._add_calibration(probabilities.max(axis=1), predicted == targets)

    def _update_multi_label(self, probabilities: np.ndarray, targets: np.ndarray) -> None:
        predicted = probabilities >= self.thresholds
        self.label_counts[:, 0] += (predicted & targets).sum(axis=0)
        self.label_counts[:, 1] += (predicted & ~targets).sum(axis=0)
        self.label_counts[:, 2] += (~predicted & targets).sum(axis=0)
        self.exact_matches += int((predicted == targets).all(axis=1).sum())
        p = np.clip(probabilities, EPSILON, 1 - EPSILON)
        self.loss_sum -= (targets * np.log(p) + (~targets) * np.log(1 - p)).mean(axis=1).sum()
        binary_predicted = probabilities >= 0.5
        self._add_calibration(np.maximum(probabilities, 1 - probabilities).ravel(),
                              (binary_predicted == targets).ravel())

    def _add_calibration(self, confidence: np.ndarray, correct: np.ndarray) -> None:
        bins = len(self.bin_count)
        index = np.minimum((confidence * bins).astype(np.int64), bins - 1)
        np.add.at(self.bin_count, index, 1)
        np.add.at(self.bin_confidence, index, confidence)
        np.add.at(self.bin_correct, index, correct.astype(np.float64))

    def _true_false_counts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.multi_label:
            return self.label_counts[:, 0], self.label_counts[:, 1], self.label_counts[:, 2]
        tp = np.diag(self.confusion)
        return tp, self.confusion.sum(axis=0) - tp, self.confusion.sum(axis=1) - tp

    def compute(self) -> dict[str, Any]:
        """All metrics as plain Python values (JSON-ready)."""
        if self.count == 0:
            raise ValueError("no examples were added")
        tp, fp, fn = self._true_false_counts()
        precision, recall, f1 = _prf(tp, fp, fn)
        support = tp + fn
        micro_p, micro_r, micro_f1 = (float(v) for v in _prf(tp.sum(), fp.sum(), fn.sum()))
        weights = support / max(support.sum(), 1)
        # sklearn's default: macro averages run over the labels present in truth or predictions; for
        # multi-label data over every label (its label set is the indicator matrix's columns)
        present = np.ones_like(support, dtype=bool) if self.multi_label else (support + tp + fp) > 0
        accuracy = (self.exact_matches if self.multi_label else np.trace(self.confusion)) / self.count
        result: dict[str, Any] = {
            "examples": int(self.count),
            "accuracy": float(accuracy),
            "loss": float(self.loss_sum / self.count),
            "macro_precision": float(precision[present].mean()),
            "macro_recall": float(recall[present].mean()),
            "macro_f1": float(f1[present].mean()),
            "micro_precision": micro_p,
            "micro_recall": micro_r,
            "micro_f1": micro_f1,
            "weighted_precision": float((precision * weights).sum()),
            "weighted_recall": float((recall * weights).sum()),
            "weighted_f1": float((f1 * weights).sum()),
            "ece": self.expected_calibration_error(),
            "per_class": {
                str(c): {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                         "support": int(support[i])}
                for i, c in enumerate(self.classes)
            },
        }
        if not self.multi_label:
            result["confusion_matrix"] = self.confusion.tolist()
        return result

    def expected_calibration_error(self) -> float:
        """Sum over bins of (bin share) × |accuracy − mean confidence| (Guo et al. 2017)."""
        filled = self.bin_count > 0
        gap = np.abs(self.bin_correct[filled] - self.bin_confidence[filled])  # sums, not means: divide once
        return float(gap.sum() / self.bin_count.sum())

    def reliability(self) -> dict[str, list[float]]:
        """Per-bin mean confidence, accuracy and count, for the reliability diagram."""
        count = np.maximum(self.bin_count, 1)
        return {"confidence": (self.bin_confidence / count).tolist(), "accuracy": (self.bin_correct / count).tolist(),
                "count": self.bin_count.tolist()}


def _prf(tp, fp, fn):
    tp, fp, fn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn))
    precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=(tp + fp) > 0)
    recall = np.divide(tp, tp + fn, out=np.zeros_like(tp), where=(tp + fn) > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=(precision + recall) > 0)
    return precision, recall, f1
