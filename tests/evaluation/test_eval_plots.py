"""Confusion-matrix and reliability plots are written as PNG files."""

from __future__ import annotations

import numpy as np
import pytest

from tunekit.evaluation.metrics import ClassificationMetrics
from tunekit.evaluation.plots import plot_confusion_matrix, plot_reliability

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 1000
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary files left


@pytest.mark.parametrize("k", [3, 77])
def test_confusion_matrix_png(tmp_path, k):
    rng = np.random.default_rng(k)
    confusion = rng.integers(0, 20, size=(k, k))
    confusion[0] = 0  # a class with no support must not divide by zero
    target = tmp_path / "plots" / f"confusion_{k}.png"
    returned = plot_confusion_matrix(confusion, [f"class_{i}" for i in range(k)], target, title="test")
    assert returned == target
    assert_png(target)


@pytest.mark.parametrize("k", [3, 77])
def test_reliability_png(tmp_path, k):
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3, size=(400, k))
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    metrics = ClassificationMetrics(list(range(k)))
    metrics.update(probabilities, rng.integers(0, k, size=400))
    target = tmp_path / "reliability.png"
    plot_reliability(metrics.reliability(), metrics.expected_calibration_error(), target, title="test")
    assert_png(target)


def test_plot_replaces_previous_file(tmp_path):
    target = tmp_path / "c.png"
    target.write_bytes(b"old")
    plot_confusion_matrix(np.eye(2, dtype=int), ["a", "b"], target, title="t")
    assert_png(target)
