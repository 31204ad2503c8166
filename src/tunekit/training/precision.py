"""bfloat16 autocast where the hardware runs it natively."""

from __future__ import annotations

import contextlib
from functools import cache
from pathlib import Path

import torch


@cache
def cpu_has_native_bf16() -> bool:
    """True on CPUs with AVX512-BF16 or AMX, where bf16 matmuls beat fp32 severalfold."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags for flag in ("avx512_bf16", "amx_bf16"))


def resolve_bf16(setting: str, device: torch.device) -> bool:
    """Decide whether to autocast to bf16 for the `train.bf16` setting (auto/on/off)."""
    if setting == "off":
        return False
    if setting == "on":
        return True
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return cpu_has_native_bf16()


def autocast(enabled: bool, device: torch.device):
    """An autocast context to bf16 on ``device``, or a no-op."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
