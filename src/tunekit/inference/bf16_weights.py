"""Linear weights cast to bf16 once, for inference under bf16 autocast.

Autocast runs every `nn.Linear` in bf16 by casting its fp32 weight and bias on *every* forward call. For a
frozen model that work is the same each time: on a small serving batch it is a sizeable share of the call
(measured in docs/benchmarks.md). `bf16_linear_copy` does the cast once. Autocast then finds the weights
already in bf16 and casts only the activations, so the outputs are bit-identical to plain autocast.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def bf16_linear_copy(model: nn.Module) -> nn.Module:
    """A frozen copy of ``model`` for bf16-autocast inference whose `nn.Linear` weights are stored in bf16.

    Everything else (embeddings, layer norms) is shared with ``model``, not copied, and stays fp32 as autocast
    expects; the copy costs the Linear weights once in bf16 (half their fp32 size). Only run it under bf16
    autocast: its Linear layers expect bf16 inputs, which autocast provides.
    """
    linear_tensors = {id(t) for m in model.modules() if isinstance(m, nn.Linear) for t in m.parameters(recurse=False)}
    shared = {id(t): t for t in [*model.parameters(), *model.buffers()] if id(t) not in linear_tensors}
    fast = copy.deepcopy(model, memo=shared)  # tensors already in the memo are shared, not copied
    for module in fast.modules():
        if isinstance(module, nn.Linear):
            module.to(torch.bfloat16).requires_grad_(False)
    return fast.eval()


class InferenceWeights:
    """The module a predictor runs: its model, or for a frozen model under bf16 autocast the model's
    `bf16_linear_copy`, built on first use and kept."""

    def __init__(self, model: nn.Module, frozen: bool) -> None:
        self.model = model
        self.frozen = frozen
        """The weights will not change any more (a finished run): a cast copy stays valid."""
        self._cast: nn.Module | None = None

    def module(self, bf16: bool) -> nn.Module:
        if not (bf16 and self.frozen):
            return self.model
        if self._cast is None:
            self._cast = bf16_linear_copy(self.model)
        return self._cast

    def reset(self) -> None:
        """Forget the cast copy (after the model moved to another device)."""
        self._cast = None
