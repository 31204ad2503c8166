"""Would numpy's OpenBLAS make tunekit's fp32 step faster than torch's MKL? A diagnostic, not a comparison.

On the AVX2-only Zen 3 host (no native bf16, every matmul fp32), torch's MKL ``mm`` at the shapes of a batch-16
MiniLM step ran well below numpy's bundled OpenBLAS timed alone. This script measures both, then times tunekit's
training step (`bench/speed_step_profile.py tunekit full`) with every fp32 ``nn.functional.linear`` — forward,
and both matmuls of its backward — computed by numpy's matmul on the tensors' memory, against the step as it is:

    flock /tmp/tunekit-heavy.lock python bench/speed_blas_linear.py gemms         # the matmuls alone
    flock /tmp/tunekit-heavy.lock python bench/speed_blas_linear.py step THREADS  # the step, OpenBLAS linears
    flock /tmp/tunekit-heavy.lock python bench/speed_blas_linear.py baseline 2    # the step, torch's linears

THREADS is torch's thread count; OpenBLAS keeps its own pool (``OPENBLAS_NUM_THREADS``, default every core).
Results: docs/benchmarks.md, "On a CPU without native bf16".
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

import speed_step_profile

STEP_SHAPES = [(217, 384, 1152), (217, 384, 384), (217, 384, 1536), (217, 1536, 384), (384, 217, 1536),
               (1536, 217, 384)]  # (m, k, n): the forward projections at 217 real tokens, and two weight gradients


class NumpyLinear(torch.autograd.Function):
    """``x @ w.T + b`` and its gradients with numpy's matmul (OpenBLAS) on the tensors' own memory."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1]).contiguous()
        out = torch.empty(rows.shape[0], weight.shape[0])
        np.matmul(rows.detach().numpy(), weight.detach().numpy().T, out=out.numpy())
        if bias is not None:
            out += bias.detach()
        ctx.save_for_backward(rows, weight)
        ctx.input_shape, ctx.has_bias = x.shape, bias is not None
        return out.view(*x.shape[:-1], weight.shape[0])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        rows, weight = ctx.saved_tensors
        grad_rows = grad.reshape(-1, grad.shape[-1]).contiguous().numpy()
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.empty(rows.shape)
            np.matmul(grad_rows, weight.detach().numpy(), out=grad_x.numpy())
            grad_x = grad_x.view(ctx.input_shape)
        if ctx.needs_input_grad[1]:
            grad_weight = torch.empty(weight.shape)
            np.matmul(grad_rows.T, rows.detach().numpy(), out=grad_weight.numpy())
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = torch.from_numpy(grad_rows.sum(axis=0))
        return grad_x, grad_weight, grad_bias


def numpy_linear(torch_linear):
    """``nn.functional.linear`` with fp32 CPU matrices routed through `NumpyLinear`, anything else unchanged."""

    def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        if x.dtype == weight.dtype == torch.float32 and x.device.type == "cpu" and weight.dim() == 2 and (
                weight.is_contiguous()):
            return NumpyLinear.apply(x, weight, bias)
        return torch_linear(x, weight, bias)

    return linear


def gemm_rates(rounds: int = 3, reps: int = 40) -> None:
    """GFLOP/s of torch's and numpy's matmul at `STEP_SHAPES`, alternated, ``rounds`` times each."""
    def seconds(call) -> float:
        for _ in range(3):
            call()
        started = time.perf_counter()
        for _ in range(reps):
            call()
        return (time.perf_counter() - started) / reps

    rates: dict[tuple[int, int, int], tuple[list[int], list[int]]] = {s: ([], []) for s in STEP_SHAPES}
    for _ in range(rounds):
        for m, k, n in STEP_SHAPES:
            a, b, out = torch.randn(m, k), torch.randn(k, n), np.empty((m, n), np.float32)
            flops = 2 * m * k * n / 1e9
            rates[m, k, n][0].append(round(flops / seconds(lambda: torch.mm(a, b))))  # noqa: B023
            rates[m, k, n][1].append(round(flops / seconds(lambda: np.matmul(a.numpy(), b.numpy(), out=out))))  # noqa: B023
    for shape, (mkl, openblas) in rates.items():
        print(f"{'x'.join(map(str, shape))}: torch (MKL) {mkl} GFLOP/s, numpy (OpenBLAS) {openblas} GFLOP/s")


def main() -> None:
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what not in ("gemms", "step", "baseline"):
        raise SystemExit("usage: speed_blas_linear.py gemms | step [THREADS] | baseline [THREADS]")
    if what == "gemms":
        gemm_rates()
        return
    if what == "step":
        F.linear = numpy_linear(F.linear)
    threads = sys.argv[2] if len(sys.argv) > 2 else "2"
    sys.argv = ["speed_step_profile.py", "tunekit", "full", threads, "fast", "100", "16"]
    speed_step_profile.main()


if __name__ == "__main__":
    main()
