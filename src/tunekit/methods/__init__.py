"""Adaptation methods, one module each, registered in `METHODS`."""

from __future__ import annotations

from types import ModuleType

from tunekit.methods import full, lora

METHODS: dict[str, ModuleType] = {"full": full, "lora": lora}


def trainable_parameters(model) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
