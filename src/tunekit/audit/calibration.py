"""Calibration on the audit data: expected calibration error and a reliability diagram, reusing
`tunekit.evaluation` (the same binning as `tunekit evaluate`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tunekit.evaluation.metrics import ClassificationMetrics
from tunekit.evaluation.plots import plot_reliability


def calibration_report(probabilities: np.ndarray, targets: np.ndarray, classes: list, bins: int,
                       plot: Path | None = None) -> dict:
    """``ece``, per-bin ``reliability`` and, with ``plot``, a reliability diagram PNG at that path."""
    metrics = ClassificationMetrics(list(classes), calibration_bins=bins)
    metrics.update(probabilities, targets)
    ece, reliability = metrics.expected_calibration_error(), metrics.reliability()
    result = {"ece": ece, "bins": bins, "reliability": reliability}
    if plot is not None:
        plot_reliability(reliability, ece, plot, "audit data")
        result["plot"] = plot.name
    return result
