"""Per-label decision thresholds for multi-label classifiers, tuned on validation data."""

from __future__ import annotations

import numpy as np

GRID = np.round(np.arange(0.05, 0.951, 0.05), 2)


def tune_thresholds(probabilities: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """For each label, the grid threshold with the best F1 on ``(n, k)`` probabilities; 0.5 if no positives."""
    targets = targets > 0.5
    thresholds = np.full(probabilities.shape[1], 0.5)
    for label in range(probabilities.shape[1]):
        positives = targets[:, label]
        if not positives.any():
            continue
        predicted = probabilities[:, label][:, None] >= GRID[None, :]
        tp = (predicted & positives[:, None]).sum(axis=0)
        fp = (predicted & ~positives[:, None]).sum(axis=0)
        fn = (~predicted & positives[:, None]).sum(axis=0)
        f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
        best = np.flatnonzero(f1 == f1.max())
        # the middle of a tied range, not its lowest end: a separable label would otherwise get 0.05
        thresholds[label] = GRID[best[len(best) // 2]]
    return thresholds
