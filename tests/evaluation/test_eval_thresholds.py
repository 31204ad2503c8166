"""tune_thresholds: per-label thresholds that maximise F1."""

from __future__ import annotations

import numpy as np

from tunekit.evaluation.thresholds import GRID, tune_thresholds


def test_separable_label_gets_a_separating_threshold():
    rng = np.random.default_rng(0)
    n = 200
    targets = np.zeros((n, 3))
    targets[:, 0] = rng.random(n) < 0.4
    probabilities = rng.random((n, 3)) * 0.9
    # label 0: positives score in [0.22, 0.3], negatives in [0, 0.18]; 0.5 would miss every positive
    probabilities[:, 0] = np.where(targets[:, 0] > 0, 0.22 + 0.08 * rng.random(n), 0.18 * rng.random(n))
    targets[:, 1] = rng.random(n) < 0.5  # label 1: noise
    thresholds = tune_thresholds(probabilities, targets)
    assert thresholds.shape == (3,)
    assert 0.18 < thresholds[0] <= 0.22
    predicted = probabilities[:, 0] >= thresholds[0]
    np.testing.assert_array_equal(predicted, targets[:, 0] > 0)
    assert thresholds[2] == 0.5  # no positives: the default
    assert thresholds[1] in GRID


def test_threshold_maximises_f1_on_the_grid():
    rng = np.random.default_rng(1)
    targets = (rng.random((300, 1)) < 0.3).astype(float)
    probabilities = np.clip(0.35 * targets + 0.6 * rng.random((300, 1)), 0, 1)
    best = tune_thresholds(probabilities, targets)[0]

    def f1(t):
        predicted = probabilities[:, 0] >= t
        positive = targets[:, 0] > 0
        tp = (predicted & positive).sum()
        return 2 * tp / (2 * tp + (predicted & ~positive).sum() + (~predicted & positive).sum())

    assert f1(best) == max(f1(t) for t in GRID)
    assert f1(best) > f1(0.5)
