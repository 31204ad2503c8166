"""nn.Dropout against tunekit's FastDropout on the CPU: forward + backward of one dropout, p = 0.1.

The shapes of a MiniLM-L6 training step at batch 16 × 16 tokens: hidden states (256, 384) and the FFN's
intermediate activations (256, 1536), fp32 and bf16, at 1 and 2 torch threads. Three dropouts: ATen's, FastDropout
with its masks from numpy's PCG64 (as before the SplitMix64 kernel), and FastDropout as it is. They alternate
repeat by repeat and the medians are printed, so load from other processes hits all alike.

    python bench/speed_dropout.py [REPEATS]
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import time
from unittest import mock

import numpy as np
import torch
from torch import nn

from tunekit.training import dropout_bits
from tunekit.training.fast_dropout import FastDropout

SHAPES = ((256, 384), (256, 1536))
INNER = 20  # forward+backward calls per timed repeat


def pcg64_keep_mask(seed: int, threshold: int, kept: np.integer, out: np.ndarray) -> None:
    """`tunekit.training.dropout_bits.fill_keep_mask` as `FastDropout` drew its masks before: numpy's PCG64."""
    draws = np.random.PCG64(seed).random_raw(-(-out.size // 4)).view(np.uint16)[:out.size]
    np.multiply(draws >= threshold, kept, dtype=out.dtype, out=out)


def pcg64_dropout() -> contextlib.AbstractContextManager:
    """Inside the block, `FastDropout` draws its masks from numpy's PCG64."""
    return mock.patch.object(dropout_bits, "fill_keep_mask", pcg64_keep_mask)


def forward_backward_ms(dropout: nn.Module, x: torch.Tensor, grad: torch.Tensor,
                        context: contextlib.AbstractContextManager) -> float:
    with context:
        started = time.perf_counter()
        for _ in range(INNER):
            dropout(x).backward(grad)
        return 1000 * (time.perf_counter() - started) / INNER


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    modules = {"nn.Dropout": (nn.Dropout(0.1), contextlib.nullcontext),
               "FastDropout-PCG64": (FastDropout(0.1), pcg64_dropout),
               "FastDropout": (FastDropout(0.1), contextlib.nullcontext)}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for dtype in (torch.float32, torch.bfloat16):
            for shape in SHAPES:
                x = torch.randn(shape, dtype=dtype, requires_grad=True)
                grad = torch.randn(shape, dtype=dtype)
                times: dict[str, list[float]] = {name: [] for name in modules}
                for module, context in modules.values():  # warm-up (and the kernel's first compile)
                    forward_backward_ms(module, x, grad, context())
                for _ in range(repeats):
                    for name, (module, context) in modules.items():
                        times[name].append(forward_backward_ms(module, x, grad, context()))
                medians = {name: statistics.median(t) for name, t in times.items()}
                print(f"threads {threads} {str(dtype).removeprefix('torch.'):8s} {shape[0]}x{shape[1]:<5d} "
                      + "  ".join(f"{name} {ms:.3f} ms" for name, ms in medians.items())
                      + f"  speed-up {medians['nn.Dropout'] / medians['FastDropout']:.1f}x over nn.Dropout, "
                      f"{medians['FastDropout-PCG64'] / medians['FastDropout']:.1f}x over PCG64", flush=True)


if __name__ == "__main__":
    main()
