"""AdamW with decoupled weight decay, exempting biases and normalisation weights."""

from __future__ import annotations

import torch
from torch import nn


def build_optimizer(model: nn.Module, learning_rate: float, weight_decay: float) -> torch.optim.AdamW:
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        # decaying biases and LayerNorm gains only pulls them towards 0, which hurts (BERT, Devlin et al.)
        (no_decay if parameter.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=learning_rate, foreach=True)
