"""Full fine-tuning: every weight of the encoder and the new head is trained."""

from __future__ import annotations

from torch import nn

from tunekit.config.schema import RunConfig


def apply(model: nn.Module, config: RunConfig) -> nn.Module:
    """Leave every parameter trainable."""
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    return model


def default_learning_rate(hidden_size: int) -> float:
    # small encoders tolerate (and need) larger steps; 768-wide models diverge above ~5e-5
    return 1e-4 if hidden_size <= 512 else 3e-5
