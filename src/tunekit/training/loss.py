"""Classification and tagging losses, normalised per optimiser step so gradient accumulation is exact."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

IGNORED_TOKEN = -100  # target of positions without a label (special tokens, non-first sub-words, padding)


def balanced_class_weights(label_ids: np.ndarray, num_labels: int) -> torch.Tensor:
    """Inverse-frequency weights ``n / (k * count)`` (scikit-learn's "balanced"); ``(num_labels,)``."""
    if label_ids.ndim == 2:  # multi-hot: weight each label's positives against its negatives
        positives = label_ids.sum(axis=0)
        return torch.tensor((len(label_ids) - positives) / np.maximum(positives, 1), dtype=torch.float32)
    counts = np.bincount(label_ids, minlength=num_labels)
    return torch.tensor(len(label_ids) / (num_labels * np.maximum(counts, 1)), dtype=torch.float32)


def example_weights(targets: torch.Tensor, class_weights: torch.Tensor | None) -> torch.Tensor:
    """Each example's weight in the loss ``(batch,)``: its class weight, or 1."""
    if class_weights is None or targets.ndim == 2:
        return torch.ones(targets.shape[0])
    return class_weights[targets]


def summed_loss(logits: torch.Tensor, targets: torch.Tensor, class_weights: torch.Tensor | None) -> torch.Tensor:
    """The loss summed (not averaged) over the batch.

    Dividing the sums of all micro-batches by the total example weight of the optimiser step makes
    an accumulated step equal to one large batch, whatever the micro-batch sizes (torchtune #2307).

    Args:
        logits: ``(batch, num_labels)``.
        targets: ``(batch,)`` class ids, or ``(batch, num_labels)`` multi-hot floats.
        class_weights: ``(num_labels,)`` or None.
    """
    logits = logits.float()
    if targets.ndim == 2:
        per_label = F.binary_cross_entropy_with_logits(logits, targets, pos_weight=class_weights, reduction="none")
        return per_label.mean(dim=1).sum()
    return F.cross_entropy(logits, targets, weight=class_weights, reduction="sum")


def summed_token_loss(logits: torch.Tensor, targets: torch.Tensor, class_weights: torch.Tensor | None) -> torch.Tensor:
    """Token-level cross-entropy summed over every labelled position of the batch.

    Args:
        logits: ``(batch, seq_len, num_labels)``.
        targets: ``(batch, seq_len)`` tag ids, `IGNORED_TOKEN` where a position carries no label.
        class_weights: ``(num_labels,)`` or None.
    """
    return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), weight=class_weights,
                           ignore_index=IGNORED_TOKEN, reduction="sum")
