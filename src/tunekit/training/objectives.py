"""What the loop optimises: how a batch's targets are gathered, weighted and scored.

The loop stays task-agnostic: a text classifier scores one target per example, a tagger one per token.
Both sum their loss over the micro-batch and report the weight of the examples (or tokens) it covers,
so dividing by the step's total weight makes gradient accumulation exact.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from tunekit.training.loss import IGNORED_TOKEN, example_weights, summed_loss, summed_token_loss


class Objective(Protocol):
    def targets(self, indices: np.ndarray, seq_len: int) -> torch.Tensor:
        """Targets of the examples at ``indices``, for a batch padded to ``seq_len`` tokens."""

    def weight(self, indices: np.ndarray) -> float:
        """The examples' (or tokens') total weight in the loss, for the step's normalizer."""

    def summed_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The loss summed, not averaged, over the batch."""


class ExampleObjective:
    """One class id (or multi-hot row) per example, with optional class weights."""

    def __init__(self, targets: np.ndarray, class_weights: torch.Tensor | None = None,
                 device: torch.device | None = None) -> None:
        self.labels = torch.from_numpy(targets)
        self.class_weights = class_weights
        self._device_class_weights = None if class_weights is None else class_weights.to(device or "cpu")

    def targets(self, indices: np.ndarray, seq_len: int) -> torch.Tensor:
        return self.labels[indices]

    def weight(self, indices: np.ndarray) -> float:
        return float(example_weights(self.labels[indices], self.class_weights).sum())

    def summed_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return summed_loss(logits, targets, self._device_class_weights)


class TokenObjective:
    """One tag id per sub-word token; positions holding `IGNORED_TOKEN` (special tokens, non-first
    sub-words, padding) carry no loss."""

    def __init__(self, token_targets: list[np.ndarray], class_weights: torch.Tensor | None = None,
                 device: torch.device | None = None) -> None:
        self._token_targets = token_targets
        self._labelled = np.fromiter(((t != IGNORED_TOKEN).sum() for t in token_targets), dtype=np.int64,
                                     count=len(token_targets))
        self._class_weights = None if class_weights is None else class_weights.to(device or "cpu")

    def targets(self, indices: np.ndarray, seq_len: int) -> torch.Tensor:
        padded = np.full((len(indices), seq_len), IGNORED_TOKEN, dtype=np.int64)
        for row, i in enumerate(indices):
            labels = self._token_targets[i]
            padded[row, :len(labels)] = labels
        return torch.from_numpy(padded)

    def weight(self, indices: np.ndarray) -> float:
        if self._class_weights is None:
            return float(self._labelled[indices].sum())
        weights = self._class_weights.cpu()
        return float(sum(weights[t[t != IGNORED_TOKEN]].sum() for t in (self._token_targets[i] for i in indices)))

    def summed_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return summed_token_loss(logits, targets, self._class_weights)
