"""AdamW with decoupled weight decay, exempting biases and normalisation weights."""

from __future__ import annotations

import torch
from torch import nn


def build_optimizer(model: nn.Module, learning_rate: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW over the trainable parameters, as one fused kernel per step where torch has one for them.

    The fused kernel reads and writes each parameter, gradient and moment once per step instead of once per
    elementwise operation (``foreach``), which matters when the step is memory-bound, as full fine-tuning of a
    small encoder on a CPU is (docs/benchmarks.md, "Speed").
    """
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        # decaying biases and LayerNorm gains only pulls them towards 0, which hurts (BERT, Devlin et al.)
        (no_decay if parameter.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    kernel = {"fused": True} if fused_supported(decay + no_decay) else {"foreach": True}
    return torch.optim.AdamW(groups, lr=learning_rate, **kernel)


def fused_supported(parameters: list[torch.Tensor]) -> bool:
    """True when every parameter is a floating-point tensor on a device with a fused AdamW kernel."""
    devices = {"cpu", "cuda", "mps", "xpu"}
    return bool(parameters) and all(p.device.type in devices and p.is_floating_point() for p in parameters)
