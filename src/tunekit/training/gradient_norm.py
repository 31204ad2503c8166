"""The sum of the squares of a model's gradients, for the clip, taken as one BLAS dot product per tensor on the CPU.

``torch.nn.utils.get_total_norm`` takes each tensor's norm with ATen's reduction kernel, which on a CPU runs one
thread per tensor at these sizes: over MiniLM-L6's 11M encoder gradients it read ~9 GB/s, 4.8 ms of a ~120 ms
fp32 step on a 2-core AVX-512 CPU. ``torch.dot(g, g)`` is BLAS's ``sdot``, which uses every core and the widest
vectors: the same sum of squares in ~2 ms. Each tensor's sum is added to the others in float64, so the clip
(`OptimizerStep`) takes one square root of everything, the bf16 working copies' squares included.

Float16 and bfloat16 tensors, which BLAS has no dot for, are summed in float32 (torch's norm would sum them in
their own precision); complex tensors and tensors on other devices go through torch's norms.

Measured on the speed benchmark: docs/benchmarks.md, "Speed".
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

BLAS_DTYPES = (torch.float32, torch.float64)


@torch.no_grad()
def sum_of_squares(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """The sum of the squares of every element of ``tensors``.

    Args:
        tensors: gradients (any shapes; strided, or the values of sparse rows).

    Returns:
        A 0-dim float64 tensor (0 for no tensors); on the tensors' device when they are not on the CPU.
    """
    if not tensors:
        return torch.zeros((), dtype=torch.float64)
    if any(t.device.type != "cpu" or t.is_complex() for t in tensors):
        return torch.nn.utils.get_total_norm(tensors).double().square()
    return torch.stack([_squares_of(t) for t in tensors]).sum()


def _squares_of(tensor: torch.Tensor) -> torch.Tensor:
    """The sum of the squares of one real CPU tensor's elements, as a 0-dim float64 tensor."""
    if tensor.dtype in BLAS_DTYPES:
        flat = tensor.reshape(-1)
        return torch.dot(flat, flat).double()
    return torch.linalg.vector_norm(tensor, dtype=torch.float32).double().square()
