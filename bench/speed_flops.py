"""FLOP accounting for model FLOPs utilisation (MFU), and the GEMM peak it is measured against.

Model FLOPs count only the work the model needs, on real (non-pad) tokens (PaLM, Chowdhery et al. 2022,
appendix B): every ``nn.Linear`` weight costs 2 FLOPs per token forward, 2 more for the gradient with respect
to its input, and 2 more for its own gradient if it is trained; attention scores and the weighted sum cost
4·seq·hidden per token per layer forward, twice that backward. Embedding lookups, LayerNorm, softmax and
GELU are not counted (they are memory-bound, not FLOPs). Full fine-tuning is therefore ≈ 6·N per token,
LoRA ≈ 4·N + 6·N_adapter. A sequence classifier whose head reads only the first token's output needs its last
layer for that token alone (and every token's key and value): that is what is counted for every system, whether
it computes the rest of the layer (Trainer, the pipeline) or not (tunekit, since 2026-12-03 21:30). MFU figures
before that counted the whole last layer: for MiniLM-L6 training on SST-2 (16 examples, 215 real tokens a step)
that is 1.145× the FLOPs counted now.
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


FIRST_TOKEN_HEADS = ("BertForSequenceClassification", "MPNetForSequenceClassification")  # read only token 0's output
KEY_VALUE = {"key", "value", "k", "v"}  # BERT's and MPNet's key and value projection names


def first_token_weights(model: nn.Module) -> tuple[int, int]:
    """(all, trainable) ``nn.Linear`` weight elements that a classifier reading only the first token's output needs
    for that token alone: the last encoder layer's, except its key and value projections (the first token attends
    to every token's key and value). (0, 0) for other models."""
    if not any(type(module).__name__ in FIRST_TOKEN_HEADS for module in model.modules()):
        return 0, 0
    linears = [(name.split("."), module) for name, module in model.named_modules()
               if isinstance(module, nn.Linear) and "original_module" not in name]
    layer_of = {id(module): _layer_index(parts) for parts, module in linears}
    last = max(index for index in layer_of.values() if index is not None)
    total = trainable = 0
    for parts, module in linears:
        if layer_of[id(module)] == last and not KEY_VALUE & set(parts):
            total += module.weight.numel()
            trainable += module.weight.numel() if module.weight.requires_grad else 0
    return total, trainable


def _layer_index(parts: list[str]) -> int | None:
    """The encoder layer a module path (``…layer.5.…``, split at dots) lies in, or None."""
    return next((int(parts[i + 1]) for i in range(len(parts) - 1) if parts[i] == "layer" and parts[i + 1].isdigit()),
                None)


def _attended(model: nn.Module, tokens: float, squared_lengths: float, first_token_only: bool) -> float:
    """Query–key pairs summed over layers: every token's query in each layer (each example's squared length), but
    one query per example in the last layer of a first-token classifier (its length)."""
    layers = model.config.num_hidden_layers
    return squared_lengths * (layers - 1) + tokens if first_token_only else squared_lengths * layers


def training_flops(model: nn.Module, tokens: float, squared_lengths: float, examples: float) -> float:
    """Model FLOPs of training steps over ``examples`` examples of ``tokens`` real tokens whose squared lengths
    sum to ``squared_lengths`` (attention is quadratic in each example's own length). For a classifier that
    reads only the first token (`first_token_weights`), its last layer counts that token's work alone, plus the
    keys and values of every token: one query per example, 4·s·h attention FLOPs per example."""
    total, trainable = linear_weights(model)
    last_total, last_trainable = first_token_weights(model)
    linear = (4 * total + 2 * trainable) * tokens - (4 * last_total + 2 * last_trainable) * (tokens - examples)
    attention = 3 * 4 * model.config.hidden_size * _attended(model, tokens, squared_lengths, last_total > 0)
    return float(linear + attention)  # attention: forward 4·s·h per query token, backward twice that


def inference_flops(model: nn.Module, tokens: float, squared_lengths: float, examples: float) -> float:
    """Model FLOPs of one forward pass over ``examples`` examples of ``tokens`` real tokens (see
    `training_flops`)."""
    total, _ = linear_weights(model)
    last_total, _ = first_token_weights(model)
    attention = 4 * model.config.hidden_size * _attended(model, tokens, squared_lengths, last_total > 0)
    return float(2 * total * tokens - 2 * last_total * (tokens - examples) + attention)


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
    """``python bench/speed_flops.py OUT_JSON``: the bf16 and fp32 GEMM peaks at the default thread count, and GEMMs
    at a MiniLM step's shapes in the precision a model trains in here (bf16 where the CPU runs it natively, else
    fp32). Where bf16 is emulated (~1 GFLOP/s), its peak is taken on one 1024³ matmul: the usual sizes would take
    minutes."""
    import json
    import sys
    from pathlib import Path

    from tunekit.mkl_on_amd import use_mkl_avx2_on_amd
    from tunekit.training.precision import cpu_has_native_bf16

    mkl_path = use_mkl_avx2_on_amd().value  # the peak is the fastest path this CPU's matmuls have
    native = cpu_has_native_bf16()
    precision = "bf16" if native else "fp32"
    Path(sys.argv[1]).write_text(json.dumps({
        "threads": torch.get_num_threads(), "compute_precision": precision, "mkl_avx2_on_amd": mkl_path,
        "bf16_gflops": gemm_peak_gflops(torch.bfloat16) if native else gemm_peak_gflops(torch.bfloat16, (1024,), 1),
        "fp32_gflops": gemm_peak_gflops(torch.float32),
        f"{precision}_gflops_at_model_shapes": shaped_gemm_gflops(
            MINILM_STEP_SHAPES, torch.bfloat16 if native else torch.float32)}))


if __name__ == "__main__":
    main()
