"""FLOP accounting for model FLOPs utilisation (MFU), and the GEMM peak it is measured against.

Model FLOPs count only the work the model needs, on real (non-pad) tokens (PaLM, Chowdhery et al. 2022,
appendix B): every ``nn.Linear`` weight costs 2 FLOPs per token forward, 2 more for the gradient with respect
to its input, and 2 more for its own gradient if it is trained; attention scores and the weighted sum cost
4·seq·hidden per token per layer forward, twice that backward. Embedding lookups, LayerNorm, softmax and
GELU are not counted (they are memory-bound, not FLOPs). Full fine-tuning is therefore ≈ 6·N per token,
LoRA ≈ 4·N + 6·N_adapter.
"""

from __future__ import annotations

import time

import torch
from torch import nn


def gemm_peak_gflops(dtype: torch.dtype, sizes: tuple[int, ...] = (2048, 4096), reps: int = 3) -> float:
    """Best GFLOP/s of ``torch.matmul`` on square ``size × size`` matrices, at the current thread count."""
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        torch.matmul(a, b)  # warm-up: kernel selection and page faults
        for _ in range(reps):
            started = time.perf_counter()
            torch.matmul(a, b)
            best = max(best, 2 * n**3 / (time.perf_counter() - started) / 1e9)
    return best


def shaped_gemm_gflops(shapes: dict[str, tuple[int, int, int]], dtype: torch.dtype = torch.bfloat16,
                       reps: int = 50) -> dict[str, float]:
    """GFLOP/s of ``(m × k) @ (k × n)`` matmuls at the given shapes: the ceiling a model's own GEMMs can reach."""
    result = {}
    for name, (m, k, n) in shapes.items():
        a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
        for _ in range(5):
            torch.matmul(a, b)
        started = time.perf_counter()
        for _ in range(reps):
            torch.matmul(a, b)
        result[name] = 2 * m * k * n * reps / (time.perf_counter() - started) / 1e9
    return result


# MiniLM-L6 at batch 16 × ~16 padded tokens = 256 rows: attention projections, FFN up and down
MINILM_STEP_SHAPES = {"256x384x384": (256, 384, 384), "256x384x1536": (256, 384, 1536),
                      "256x1536x384": (256, 1536, 384), "4096x384x1536": (4096, 384, 1536)}


def linear_weights(model: nn.Module) -> tuple[int, int]:
    """(all, trainable) ``nn.Linear`` weight elements used in the forward pass.

    PEFT keeps an unused copy of each ``modules_to_save`` module under ``original_module``; it is skipped.
    """
    total = trainable = 0
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and "original_module" not in name:
            total += module.weight.numel()
            trainable += module.weight.numel() if module.weight.requires_grad else 0
    return total, trainable


def training_flops(model: nn.Module, tokens: float, squared_lengths: float) -> float:
    """Model FLOPs of training steps over ``tokens`` real tokens whose examples' squared lengths sum to
    ``squared_lengths`` (attention is quadratic in each example's own length)."""
    total, trainable = linear_weights(model)
    layers, hidden = model.config.num_hidden_layers, model.config.hidden_size
    attention = 3 * 4 * layers * hidden * squared_lengths  # forward 4·s·h per token; backward twice that
    return float((4 * total + 2 * trainable) * tokens + attention)


def inference_flops(model: nn.Module, tokens: float, squared_lengths: float) -> float:
    """Model FLOPs of one forward pass over ``tokens`` real tokens (see `training_flops`)."""
    total, _ = linear_weights(model)
    return float(2 * total * tokens + 4 * model.config.num_hidden_layers * model.config.hidden_size * squared_lengths)


class TokenCounter:
    """Counts real and padded tokens of every training-mode forward pass of a model (a forward pre-hook:
    the same count for any training loop, with no effect on it)."""

    def __init__(self, model: nn.Module) -> None:
        self.real = self.padded = self.squared_lengths = self.examples = 0
        self._handle = model.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        if not module.training:
            return
        mask = kwargs.get("attention_mask")
        ids = kwargs.get("input_ids")
        lengths = mask.sum(dim=1).to(torch.float64) if mask is not None else torch.full((ids.shape[0],), ids.shape[1])
        self.real += float(lengths.sum())
        self.squared_lengths += float((lengths**2).sum())
        self.padded += ids.numel()
        self.examples += ids.shape[0]

    def remove(self) -> None:
        self._handle.remove()


def main() -> None:
    """``python bench/speed_flops.py OUT_JSON``: the bf16 and fp32 GEMM peaks at the default thread count."""
    import json
    import sys
    from pathlib import Path

    Path(sys.argv[1]).write_text(json.dumps({
        "threads": torch.get_num_threads(),
        "bf16_gflops": gemm_peak_gflops(torch.bfloat16), "fp32_gflops": gemm_peak_gflops(torch.float32),
        "bf16_gflops_at_model_shapes": shaped_gemm_gflops(MINILM_STEP_SHAPES)}))


if __name__ == "__main__":
    main()
