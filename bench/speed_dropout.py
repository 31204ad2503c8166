"""nn.Dropout against tunekit's FastDropout on the CPU: forward + backward of one dropout, p = 0.1.

The shapes of a MiniLM-L6 training step at batch 16 × 16 tokens: hidden states (256, 384) and the FFN's
intermediate activations (256, 1536), fp32 and bf16, at 1 and 2 torch threads. The two modules alternate
repeat by repeat and the medians are printed, so load from other processes hits both alike.

    python bench/speed_dropout.py [REPEATS]
"""

from __future__ import annotations

import statistics
import sys
import time

import torch
from torch import nn

from tunekit.training.fast_dropout import FastDropout

SHAPES = ((256, 384), (256, 1536))
INNER = 20  # forward+backward calls per timed repeat


def forward_backward_ms(dropout: nn.Module, x: torch.Tensor, grad: torch.Tensor) -> float:
    started = time.perf_counter()
    for _ in range(INNER):
        dropout(x).backward(grad)
    return 1000 * (time.perf_counter() - started) / INNER


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    modules = {"nn.Dropout": nn.Dropout(0.1), "FastDropout": FastDropout(0.1)}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for dtype in (torch.float32, torch.bfloat16):
            for shape in SHAPES:
                x = torch.randn(shape, dtype=dtype, requires_grad=True)
                grad = torch.randn(shape, dtype=dtype)
                times: dict[str, list[float]] = {name: [] for name in modules}
                for module in modules.values():  # warm-up
                    forward_backward_ms(module, x, grad)
                for _ in range(repeats):
                    for name, module in modules.items():
                        times[name].append(forward_backward_ms(module, x, grad))
                medians = {name: statistics.median(t) for name, t in times.items()}
                print(f"threads {threads} {str(dtype).removeprefix('torch.'):8s} {shape[0]}x{shape[1]:<5d} "
                      + "  ".join(f"{name} {ms:.3f} ms" for name, ms in medians.items())
                      + f"  speed-up {medians['nn.Dropout'] / medians['FastDropout']:.1f}x", flush=True)


if __name__ == "__main__":
    main()
