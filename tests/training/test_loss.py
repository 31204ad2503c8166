"""Loss normalisation under gradient accumulation, and balanced class weights (parity with torch/sklearn)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.utils.class_weight import compute_class_weight

from tunekit.training.loss import balanced_class_weights, example_weights, summed_loss

NUM_LABELS = 3
MICRO_BATCHES = (slice(0, 5), slice(5, 16))  # 5 + 11: unequal on purpose


def _model_and_data(multi_label: bool = False):
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, NUM_LABELS))
    features = torch.randn(16, 6, generator=generator)
    if multi_label:
        targets = (torch.rand(16, NUM_LABELS, generator=generator) > 0.6).float()
    else:
        targets = torch.tensor([0, 1, 2, 2, 2, 0, 1, 2, 2, 2, 2, 1, 2, 2, 0, 2])
    return model, features, targets


def _gradients(model) -> list[torch.Tensor]:
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    return grads


def _accumulated(model, features, targets, class_weights):
    """What the training loop does: summed losses over micro-batches / the step's total example weight."""
    normalizer = sum(float(example_weights(targets[b], class_weights).sum()) for b in MICRO_BATCHES)
    for b in MICRO_BATCHES:
        (summed_loss(model(features[b]), targets[b], class_weights) / normalizer).backward()
    return _gradients(model)


def _assert_all_close(left, right):
    assert all(torch.allclose(a, b, atol=1e-6, rtol=0) for a, b in zip(left, right, strict=True))


def test_accumulated_unequal_micro_batches_equal_one_batch_mean():
    model, features, targets = _model_and_data()
    accumulated = _accumulated(model, features, targets, None)
    F.cross_entropy(model(features), targets).backward()
    _assert_all_close(accumulated, _gradients(model))


def test_averaging_per_micro_batch_would_not_be_exact():
    """The formula torchtune #2307 warned about: it weighs the 5 examples like the 11."""
    model, features, targets = _model_and_data()
    for b in MICRO_BATCHES:
        (F.cross_entropy(model(features[b]), targets[b]) / len(MICRO_BATCHES)).backward()
    naive = _gradients(model)
    F.cross_entropy(model(features), targets).backward()
    reference = _gradients(model)
    assert not all(torch.allclose(a, b, atol=1e-6, rtol=0) for a, b in zip(naive, reference, strict=True))


def test_accumulated_with_class_weights_equals_weighted_cross_entropy_mean():
    model, features, targets = _model_and_data()
    class_weights = balanced_class_weights(targets.numpy(), NUM_LABELS)
    assert not torch.allclose(class_weights, torch.ones(NUM_LABELS))
    accumulated = _accumulated(model, features, targets, class_weights)
    F.cross_entropy(model(features), targets, weight=class_weights).backward()
    _assert_all_close(accumulated, _gradients(model))


@pytest.mark.parametrize("use_pos_weight", [False, True])
def test_accumulated_multi_label_equals_one_batch_mean(use_pos_weight):
    model, features, targets = _model_and_data(multi_label=True)
    pos_weight = balanced_class_weights(targets.numpy(), NUM_LABELS) if use_pos_weight else None
    accumulated = _accumulated(model, features, targets, pos_weight)
    F.binary_cross_entropy_with_logits(model(features), targets, pos_weight=pos_weight).backward()
    _assert_all_close(accumulated, _gradients(model))


def test_summed_loss_is_a_sum_not_a_mean():
    logits = torch.randn(7, NUM_LABELS, generator=torch.Generator().manual_seed(1))
    targets = torch.tensor([0, 1, 2, 0, 1, 2, 0])
    expected = F.cross_entropy(logits, targets, reduction="none").sum()
    assert torch.allclose(summed_loss(logits, targets, None), expected)
    assert torch.allclose(summed_loss(logits.bfloat16(), targets, None).float(),
                          F.cross_entropy(logits.bfloat16().float(), targets, reduction="sum"))


def test_example_weights():
    targets = torch.tensor([2, 0, 2])
    assert torch.equal(example_weights(targets, None), torch.ones(3))
    class_weights = torch.tensor([0.5, 1.0, 3.0])
    assert torch.equal(example_weights(targets, class_weights), torch.tensor([3.0, 0.5, 3.0]))
    assert torch.equal(example_weights(torch.ones(4, NUM_LABELS), class_weights), torch.ones(4))


@pytest.mark.parametrize("labels", [
    [0, 0, 0, 1, 2, 2],
    [1, 0] * 5 + [0] * 7,
    [int(i % 4 == 0) for i in range(50)],
    [3, 1, 0, 2, 3, 3, 3, 1],
])
def test_balanced_class_weights_match_sklearn(labels):
    label_ids = np.asarray(labels, dtype=np.int64)
    num_labels = int(label_ids.max()) + 1
    expected = compute_class_weight("balanced", classes=np.arange(num_labels), y=label_ids)
    weights = balanced_class_weights(label_ids, num_labels)
    assert weights.dtype == torch.float32 and weights.shape == (num_labels,)
    np.testing.assert_allclose(weights.numpy(), expected, rtol=1e-6)


def test_balanced_multi_label_weights_are_negatives_over_positives():
    multi_hot = np.array([[1, 0, 1], [1, 0, 0], [1, 1, 0], [0, 0, 0]], dtype=np.float32)
    weights = balanced_class_weights(multi_hot, 3)
    np.testing.assert_allclose(weights.numpy(), [1 / 3, 3 / 1, 3 / 1])
