"""Batched, length-sorted inference over pre-tokenised examples, with chunk pooling."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from tunekit.data.batching import collate, sorted_batches
from tunekit.data.tokenize import EncodedTexts
from tunekit.training.padding_free import padding_free_encoders
from tunekit.training.precision import autocast


def logits_to_probabilities(logits: torch.Tensor, multi_label: bool) -> torch.Tensor:
    logits = logits.float()
    return torch.sigmoid(logits) if multi_label else torch.softmax(logits, dim=-1)


@runtime_checkable
class RunsBatchesAtOnce(Protocol):
    """A model that takes every batch in one call and may run several at once (`OnnxClassifier`). Its worker
    threads do not inherit the caller's ``inference_mode`` or autocast: those are per thread."""

    def logits_per_batch(self, batches: Iterable[dict[str, torch.Tensor]]) -> Iterator[torch.Tensor]: ...


def batch_logits(model: nn.Module, batches: Iterable[dict[str, torch.Tensor]]) -> Iterator[torch.Tensor]:
    """``model``'s logits for each batch, in order."""
    if isinstance(model, RunsBatchesAtOnce):
        return model.logits_per_batch(batches)
    return (model(**batch).logits for batch in batches)


def example_probabilities(model: nn.Module, encoded: EncodedTexts, *, batch_size: int, pad_id: int,
                          multi_label: bool, bf16: bool, device: torch.device, frozen: bool = False) -> np.ndarray:
    """Probabilities ``(n_examples, num_labels)`` for every encoded example, in input order.

    Batches are formed longest-first so each is padded only to its own longest member, and BERT encoders run on
    the real tokens only (`padding_free_encoders`; ``frozen``: the weights will not change any more). A model
    that runs batches at once (`RunsBatchesAtOnce`, the compressed `OnnxClassifier`) gets them all in one call.
    """
    model.eval()
    out: np.ndarray | None = None
    with torch.inference_mode(), autocast(bf16, device), padding_free_encoders(model, frozen):
        batch_indices = sorted_batches(encoded.lengths, batch_size)
        collated = ({k: v.to(device) for k, v in collate(encoded, indices, pad_id).items()}
                    for indices in batch_indices)
        for indices, logits in zip(batch_indices, batch_logits(model, collated), strict=True):
            probs = logits_to_probabilities(logits, multi_label).cpu().numpy()
            if out is None:
                out = np.empty((len(encoded), probs.shape[1]), dtype=np.float32)
            out[indices] = probs
    if out is None:
        raise ValueError("no examples to predict")
    return out


def pool_chunks(probabilities: np.ndarray, owner: np.ndarray, n_texts: int, pooling: str = "mean",
                multi_label: bool = False) -> np.ndarray:
    """Combine per-chunk probabilities ``(n_chunks, k)`` into per-text ``(n_texts, k)``.

    Max pooling of softmax outputs is renormalised so each single-label row still sums to 1.
    """
    if len(owner) == n_texts and np.array_equal(owner, np.arange(n_texts)):
        return probabilities
    pooled = np.zeros((n_texts, probabilities.shape[1]), dtype=np.float32)
    if pooling == "max":
        np.maximum.at(pooled, owner, probabilities)
        return pooled if multi_label else pooled / pooled.sum(axis=1, keepdims=True)
    np.add.at(pooled, owner, probabilities)
    return pooled / np.bincount(owner, minlength=n_texts)[:, None]
