"""ClassificationMetrics against scikit-learn, fed in several batches."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
)

from tunekit.evaluation.metrics import ClassificationMetrics


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def feed(metrics: ClassificationMetrics, probabilities, targets, batch_sizes=(7, 1, 30)):
    start, i = 0, 0
    while start < len(targets):
        size = batch_sizes[i % len(batch_sizes)]
        metrics.update(probabilities[start:start + size], targets[start:start + size])
        start, i = start + size, i + 1
    return metrics.compute()


def single_label_case(seed: int, n: int = 157, k: int = 6):
    """Random predictions; class 0 is never predicted, class k-1 is never predicted and has no support."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(n, k))
    logits[:, 0] -= 20  # never the argmax
    logits[:, k - 1] -= 20
    targets = rng.integers(0, k - 1, size=n)  # class k-1 never occurs
    return softmax(logits), targets


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_single_label_parity_with_sklearn(seed):
    k = 6
    probabilities, targets = single_label_case(seed, k=k)
    predicted = probabilities.argmax(axis=1)
    assert 0 in targets and 0 not in predicted and k - 1 not in predicted  # the edge cases are present
    result = feed(ClassificationMetrics(list("abcdef")), probabilities, targets)
    labels = list(range(k))

    assert result["examples"] == len(targets)
    assert result["accuracy"] == pytest.approx(accuracy_score(targets, predicted))
    expected_confusion = confusion_matrix(targets, predicted, labels=labels)
    np.testing.assert_array_equal(result["confusion_matrix"], expected_confusion)
    assert result["loss"] == pytest.approx(log_loss(targets, probabilities, labels=labels), rel=1e-9)

    p, r, f, s = precision_recall_fscore_support(targets, predicted, labels=labels, average=None,
                                                 zero_division=0)
    for i, name in enumerate("abcdef"):
        row = result["per_class"][name]
        assert (row["precision"], row["recall"], row["f1"]) == pytest.approx((p[i], r[i], f[i]))
        assert row["support"] == s[i]
    # averages follow sklearn's default label set: the classes present in truth or predictions (class k-1 is in
    # neither, so averaging over all six, as `labels=range(k)` would, gives a different macro figure)
    for average in ("macro", "micro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(targets, predicted, average=average, zero_division=0)
        assert result[f"{average}_precision"] == pytest.approx(p), average
        assert result[f"{average}_recall"] == pytest.approx(r), average
        assert result[f"{average}_f1"] == pytest.approx(f), average


def test_batching_does_not_change_the_result():
    probabilities, targets = single_label_case(5)
    whole = ClassificationMetrics(list(range(6)))
    whole.update(probabilities, targets)
    batched = feed(ClassificationMetrics(list(range(6))), probabilities, targets, batch_sizes=(1, 2, 3))
    expected = whole.compute()
    assert batched.keys() == expected.keys()
    for key, value in expected.items():
        if isinstance(value, float):
            assert batched[key] == pytest.approx(value), key
        else:
            assert batched[key] == value, key


def test_perfect_and_confident_predictions():
    targets = np.array([0, 1, 2, 1])
    probabilities = np.eye(3)[targets]
    result = feed(ClassificationMetrics(["x", "y", "z"]), probabilities, targets)
    assert result["accuracy"] == 1.0
    assert result["macro_f1"] == 1.0
    assert result["loss"] == pytest.approx(0.0, abs=1e-9)
    assert result["ece"] == pytest.approx(0.0, abs=1e-12)


def test_compute_without_examples_raises():
    with pytest.raises(ValueError, match="no examples"):
        ClassificationMetrics(["a", "b"]).compute()


def multi_label_case(seed: int, n: int = 120, k: int = 5):
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, k)) < 0.3).astype(np.float32)
    targets[:, 4] = 0  # a label with no support
    probabilities = np.clip(0.6 * targets + 0.5 * rng.random((n, k)), 0.0, 1.0)
    probabilities[:, 3] *= 0.3  # a label that is never predicted
    return probabilities, targets


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_multi_label_parity_with_sklearn(seed):
    probabilities, targets = multi_label_case(seed)
    predicted = (probabilities >= 0.5).astype(int)
    assert predicted[:, 3].sum() == 0 and targets[:, 4].sum() == 0
    result = feed(ClassificationMetrics(list("vwxyz"), multi_label=True), probabilities, targets)
    truth = targets.astype(int)
    assert 0 < result["accuracy"] < 1
    assert result["accuracy"] == pytest.approx(accuracy_score(truth, predicted))
    for average in ("micro", "macro", "weighted"):
        assert result[f"{average}_f1"] == pytest.approx(f1_score(truth, predicted, average=average,
                                                                 zero_division=0)), average
    p, r, f, s = precision_recall_fscore_support(truth, predicted, average=None, zero_division=0)
    for i, name in enumerate("vwxyz"):
        row = result["per_class"][name]
        assert (row["precision"], row["recall"], row["f1"]) == pytest.approx((p[i], r[i], f[i]))
        assert row["support"] == s[i]
    p = np.clip(probabilities, 1e-12, 1 - 1e-12)
    bce = -(targets * np.log(p) + (1 - targets) * np.log(1 - p)).mean()
    assert result["loss"] == pytest.approx(bce)
    assert "confusion_matrix" not in result


def test_multi_label_thresholds_are_applied():
    probabilities = np.array([[0.3, 0.9], [0.2, 0.1]])
    targets = np.array([[1, 1], [0, 0]])
    default = feed(ClassificationMetrics(["a", "b"], multi_label=True), probabilities, targets)
    tuned = feed(ClassificationMetrics(["a", "b"], multi_label=True, thresholds=np.array([0.25, 0.5])),
                 probabilities, targets)
    assert default["accuracy"] == 0.5
    assert tuned["accuracy"] == 1.0


def reference_ece(confidence: np.ndarray, correct: np.ndarray, bins: int) -> float:
    """Guo et al. (2017): sum over equal-width bins of |bin accuracy - bin confidence| × bin share."""
    total = 0.0
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        inside = (confidence >= low) & ((confidence < high) if b < bins - 1 else (confidence <= high))
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return total


@pytest.mark.parametrize(("seed", "bins"), [(0, 15), (1, 10), (2, 4)])
def test_ece_matches_reference(seed, bins):
    probabilities, targets = single_label_case(seed, n=300)
    metrics = ClassificationMetrics(list(range(6)), calibration_bins=bins)
    result = feed(metrics, probabilities, targets)
    expected = reference_ece(probabilities.max(axis=1), probabilities.argmax(axis=1) == targets, bins)
    assert expected > 0.01
    assert result["ece"] == pytest.approx(expected)
    reliability = metrics.reliability()
    assert sum(reliability["count"]) == 300
    assert len(reliability["confidence"]) == bins


def test_multi_label_ece_matches_reference():
    probabilities, targets = multi_label_case(4)
    metrics = ClassificationMetrics(list("vwxyz"), multi_label=True, calibration_bins=10)
    result = feed(metrics, probabilities, targets)
    confidence = np.maximum(probabilities, 1 - probabilities).ravel()
    correct = ((probabilities >= 0.5) == (targets > 0.5)).ravel()
    assert result["ece"] == pytest.approx(reference_ece(confidence, correct, 10))


def test_overconfident_model_has_large_ece():
    targets = np.array([0, 1] * 50)
    probabilities = np.tile([0.99, 0.01], (100, 1))  # always says class 0 with 99%: right half the time
    result = feed(ClassificationMetrics(["a", "b"]), probabilities, targets)
    assert result["ece"] == pytest.approx(0.49)
