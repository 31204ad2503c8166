"""Linear layers with their activation or residual add fused in, for bf16 inference on a CPU.

A BERT layer's feed-forward block is ``gelu(x·W₁ + b₁)`` and each of its two sub-layers ends in
``LayerNorm(x·W + b + residual)``. Run as separate operators, the GELU and the add are each a read and a write of
a ``(tokens, features)`` activation after the matmul has written it. oneDNN, the matmul library under torch on
x86 CPUs, applies them as post-operations while the matmul's output tile is still in cache
(``torch.ops.mkldnn._linear_pointwise``, the operator torch.compile's CPU backend emits for the same pattern).
The results equal the unfused bf16 operators up to bf16 rounding of the intermediate sum.

Used by the padding-free layers at inference (`tunekit.training.padding_free`); measured with
``bench/speed_ab_inference.py fused-linear``: docs/benchmarks.md, "Speed".
"""

from __future__ import annotations

from functools import cache

import torch
from torch import nn
from transformers.activations import GELUActivation

from tunekit.training.precision import cpu_has_native_bf16


@cache
def onednn_linear_available() -> bool:
    """Whether this torch build has oneDNN's fused linear operator (x86 CPU builds do) and the CPU runs bf16
    natively (oneDNN has no bf16 kernels to fall back on without it)."""
    try:
        available = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
    except (AttributeError, RuntimeError):
        return False
    return available and cpu_has_native_bf16()


def fusable(x: torch.Tensor, *linears: nn.Linear) -> bool:
    """Whether ``x`` ``(tokens, features)`` and the ``linears`` (the caller checks that nothing is attached to them
    that a fused call would skip) can run fused: no autograd, bf16 CPU tensors, biases present."""
    if torch.is_grad_enabled() or x.device.type != "cpu" or x.dtype != torch.bfloat16 or x.dim() != 2:
        return False
    return onednn_linear_available() and all(
        m.weight.dtype == torch.bfloat16 and m.weight.device.type == "cpu" and m.bias is not None for m in linears)


def linear_activation(x: torch.Tensor, layer: nn.Linear, activation: nn.Module) -> torch.Tensor:
    """``activation(layer(x))``, the activation fused in when it is the exact (erf) GELU."""
    if isinstance(activation, GELUActivation) and activation.act is nn.functional.gelu:
        return torch.ops.mkldnn._linear_pointwise(x, layer.weight, layer.bias, "gelu", [], "none")
    return activation(linear(x, layer.weight, layer.bias))


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``x·weightᵀ + bias`` through the same operator (its cached oneDNN primitive runs faster than ``addmm``)."""
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


def linear_add(x: torch.Tensor, layer: nn.Linear, residual: torch.Tensor) -> torch.Tensor:
    """``layer(x) + residual``, the add fused in; ``residual`` ``(tokens, out_features)`` in ``x``'s dtype."""
    return torch.ops.mkldnn._linear_pointwise.binary(x, residual.contiguous(), layer.weight, layer.bias, "add")
