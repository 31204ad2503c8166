"""A bf16 copy of a frozen model, for inference under bf16 autocast.

Autocast runs every `nn.Linear` in bf16 by casting its fp32 weight and bias on *every* forward call, and leaves
the rest of the model (embeddings, layer norms, residual adds) in fp32, so each layer's output is cast back and
forth. For a frozen model the weight casts are the same work each time: `bf16_copy` does them once, for the
whole model. Activations then stay bf16 from the embeddings to the logits: half the memory traffic of the
element-wise work, no casts between layers, and the padding-free BERT layers can fuse their GELU and residual
adds into the matmuls (`tunekit.inference.fused_linear`). The probabilities differ from fp32-residual autocast
by bf16 rounding (at most 0.03 on the SST-2 dev set, the same predictions and accuracy: docs/benchmarks.md,
"Speed"); explanations keep the fp32 model.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def bf16_copy(model: nn.Module) -> nn.Module:
    """A frozen copy of ``model`` with every parameter in bf16, in eval mode.

    Buffers keep their dtype: a rotary embedding's fp32 ``inv_freq`` rounded to bf16 would shift every position's
    angle. ``model`` itself is untouched (it stays fp32 for explanations); the copy costs half its size.
    """
    cast = {id(p): nn.Parameter(p.detach().to(torch.bfloat16), requires_grad=False)  # no transient fp32 copy
            for p in model.parameters() if p.is_floating_point()}
    return copy.deepcopy(model, memo=cast).requires_grad_(False).eval()


class InferenceWeights:
    """The module a predictor runs: its model, or for a frozen model under bf16 autocast the model's `bf16_copy`,
    built on first use and kept."""

    def __init__(self, model: nn.Module, frozen: bool) -> None:
        self.model = model
        self.frozen = frozen
        """The weights will not change any more (a finished run): a cast copy stays valid."""
        self._cast: nn.Module | None = None

    def module(self, bf16: bool) -> nn.Module:
        if not (bf16 and self.frozen):
            return self.model
        if self._cast is None:
            self._cast = bf16_copy(self.model)
        return self._cast

    def reset(self) -> None:
        """Forget the cast copy (after the model moved to another device)."""
        self._cast = None
