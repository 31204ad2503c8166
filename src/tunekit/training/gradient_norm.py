"""The L2 norm of a model's gradients, for the clip, taken as one BLAS dot product per tensor on the CPU.

``torch.nn.utils.get_total_norm`` takes each tensor's norm with ATen's reduction kernel, which on a CPU runs one
thread per tensor at these sizes: over MiniLM-L6's 11M encoder gradients it read ~9 GB/s, 4.9 ms of a ~120 ms
fp32 step on a 2-core AVX-512 CPU. ``torch.dot(g, g)`` is BLAS's ``sdot``, which uses every core and the widest
vectors: the same sum of squares in ~2 ms. The squares are summed across tensors in float64. Other devices, and
dtypes BLAS has no dot for, keep torch's norm.

Measured on the speed benchmark: docs/benchmarks.md, "Speed".
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

BLAS_DTYPES = (torch.float32, torch.float64)


def total_norm(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """The L2 norm of all of ``tensors`` together, as ``torch.nn.utils.get_total_norm(tensors)`` gives it (a
    0-dim float32 tensor for float32 inputs); an empty sequence has norm 0."""
    if not tensors:
        return torch.zeros(())
    if any(t.device.type != "cpu" for t in tensors):
        return torch.nn.utils.get_total_norm(tensors)
    squares = [_sum_of_squares(t).double() for t in tensors]
    dtype = torch.promote_types(tensors[0].dtype, torch.float32) if tensors[0].is_floating_point() else torch.float32
    return torch.stack(squares).sum().sqrt().to(dtype)


def _sum_of_squares(tensor: torch.Tensor) -> torch.Tensor:
    """The sum of the squares of ``tensor``'s elements (any shape), in its own precision or float32."""
    if tensor.dtype in BLAS_DTYPES:
        flat = tensor.reshape(-1)
        return torch.dot(flat, flat)
    return torch.linalg.vector_norm(tensor, dtype=torch.float32).square()
