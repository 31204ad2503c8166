"""Learning-rate schedules: linear warmup then linear, cosine or constant."""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

DEFAULT_WARMUP_RATIO = 0.06  # RoBERTa's fine-tuning recipe


def resolve_warmup_steps(total_steps: int, warmup_ratio: float | None, warmup_steps: int | None) -> int:
    if warmup_steps is not None:
        return min(warmup_steps, total_steps)
    ratio = DEFAULT_WARMUP_RATIO if warmup_ratio is None else warmup_ratio
    return int(math.ceil(ratio * total_steps))


def lr_multiplier(step: int, total_steps: int, warmup_steps: int, kind: str) -> float:
    """The factor applied to the peak learning rate at optimiser step ``step`` (0-based)."""
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    if kind == "constant":
        return 1.0
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    progress = min(progress, 1.0)
    if kind == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0 - progress


def build_scheduler(optimizer: Optimizer, kind: str, warmup_steps: int, total_steps: int) -> LambdaLR:
    return LambdaLR(optimizer, lambda step: lr_multiplier(step, total_steps, warmup_steps, kind))
