"""AdamW steps compiled by numba, for two layouts torch's fused AdamW kernel cannot take in one call.

`adamw_bf16_step`: an fp32 master weight with a bf16 gradient, writing the weight's bf16 copy too. It reads the
bf16 gradient, the fp32 weight and both fp32 moments once, and writes the weight, the moments and the bf16 copy
(what the next forward pass multiplies by) once: 26 bytes per parameter. Torch's fused AdamW needs an fp32
gradient of the fp32 weight, so under autocast each trained weight also pays a cast to bf16 in the forward pass
and its gradient a cast back to fp32 in the backward pass, 12 more bytes and two allocations per parameter per
step. `tunekit.training.bf16_working_copies` uses it.

`adamw_rows_step`: chosen rows of an embedding table, stepped in place with compact moments, from the gradient
rows of the ones a batch touched. Torch's kernel needs the rows gathered into a block and scattered back, two
more passes over them. `tunekit.training.touched_rows_adamw` uses it.

The arithmetic is torch's fused AdamW kernel's (``aten/src/ATen/native/cpu/FusedAdamKernel.cpp``, fp32 math):
the gradient divided by the clip divisor, decoupled decay ``w *= 1 - lr·wd``, then ``m += (1-β1)(g - m)``,
``v = β2·v + (1-β2)·g²``, ``w -= lr/(1-β1^t) · m / (√v / √(1-β2^t) + ε)`` (in `adamw_bf16_step` with one
division, ``lr·c2/c1 · m / (√v + ε·c2)``, so within a few float32 roundings of torch's); the bf16 copy is the new
weight rounded to nearest even, as ``Tensor.to(torch.bfloat16)`` rounds. Arrays are contiguous; bf16 tensors
are passed as their uint16 bit patterns. The kernels release the GIL; they are compiled on first use (a few
seconds) and cached on disk by numba.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit
from numba.core import types
from numba.extending import intrinsic

BF16_NAN = np.uint16(0x7FC0)  # what torch rounds every NaN to
REDUCE_BLOCK = 4096  # squares per fp32 partial sum: the partial sums stay short, so their rounding stays small

# error_model="numpy": float division by zero gives inf instead of raising, which is what lets LLVM vectorise it
_COMPILE = {"cache": True, "nogil": True, "error_model": "numpy"}
# the reduction may be reassociated (several partial sums, so it vectorises); NaN and inf still propagate
_REDUCE = {**_COMPILE, "fastmath": {"reassoc", "contract", "nsz", "arcp"}}


@intrinsic
def _as_float32(typing_context, bits):
    """The float32 whose bit pattern is the uint32 ``bits`` (numba has no scalar bit cast)."""
    def codegen(context, builder, signature, arguments):
        return builder.bitcast(arguments[0], ir.FloatType())
    return types.float32(types.uint32), codegen


@intrinsic
def _as_uint32(typing_context, value):
    """The bit pattern of the float32 ``value``."""
    def codegen(context, builder, signature, arguments):
        return builder.bitcast(arguments[0], ir.IntType(32))
    return types.uint32(types.float32), codegen


@njit(**_COMPILE)
def adamw_bf16_step(weight: np.ndarray, gradient_bits: np.ndarray, exp_avg: np.ndarray, exp_avg_sq: np.ndarray,
                    weight_bits_out: np.ndarray, learning_rate: float, beta1: float, beta2: float, eps: float,
                    weight_decay: float, bias_correction1: float, bias_correction2_sqrt: float,
                    gradient_divisor: float) -> None:
    """One AdamW step of ``weight`` (fp32) from ``gradient_bits`` (bf16) divided by ``gradient_divisor``, in place;
    ``weight_bits_out`` (bf16) receives the new weight."""
    decay = np.float32(1.0 - learning_rate * weight_decay)
    average_weight, beta2_ = np.float32(1.0 - beta1), np.float32(beta2)
    square_weight, inverse_divisor = np.float32(1.0 - beta2), np.float32(1.0 / gradient_divisor)
    # lr/c1 · m / (√v/c2 + ε) as lr·c2/c1 · m / (√v + ε·c2): one division per element instead of two
    step_size = np.float32(learning_rate / bias_correction1 * bias_correction2_sqrt)
    eps_ = np.float32(eps * bias_correction2_sqrt)
    for i in range(weight.size):
        g = _as_float32(np.uint32(gradient_bits[i]) << np.uint32(16)) * inverse_divisor
        m = exp_avg[i] + average_weight * (g - exp_avg[i])
        v = beta2_ * exp_avg_sq[i] + square_weight * g * g
        exp_avg[i], exp_avg_sq[i] = m, v
        new = weight[i] * decay - step_size * m / (np.sqrt(v) + eps_)
        weight[i] = new
        bits = _as_uint32(new)
        rounded = np.uint16((bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16))
        weight_bits_out[i] = BF16_NAN if (bits & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000) else rounded


@njit(**_REDUCE)
def bf16_sum_of_squares(bits: np.ndarray) -> float:
    """The sum of the squares of a bf16 array (its uint16 bit patterns), accumulated in fp32 per block of
    `REDUCE_BLOCK` and in fp64 across blocks."""
    total = 0.0
    for start in range(0, bits.size, REDUCE_BLOCK):
        block = bits[start:start + REDUCE_BLOCK]
        partial = np.float32(0.0)
        for j in range(block.size):
            value = _as_float32(np.uint32(block[j]) << np.uint32(16))
            partial += value * value
        total += partial
    return total


@njit(**_COMPILE)
def adamw_rows_step(weight: np.ndarray, rows: np.ndarray, gradient_rows: np.ndarray, gradient_of_row: np.ndarray,
                    exp_avg: np.ndarray, exp_avg_sq: np.ndarray, learning_rate: float, beta1: float, beta2: float,
                    eps: float, weight_decay: float, bias_correction1: float, bias_correction2_sqrt: float,
                    gradient_divisor: float) -> None:
    """One AdamW step of rows ``rows`` ``(count,)`` of ``weight`` ``(table_rows, dim)`` (fp32, in place), with
    moments ``exp_avg``/``exp_avg_sq`` ``(≥ count, dim)``, row ``k`` of them for ``weight[rows[k]]``. Row ``k``'s
    gradient is ``gradient_rows[gradient_of_row[k]]`` ``(dim,)`` divided by ``gradient_divisor``, or zero where
    ``gradient_of_row[k]`` is negative."""
    step_size, decay = np.float32(learning_rate / bias_correction1), np.float32(1.0 - learning_rate * weight_decay)
    average_weight, beta2_, square_weight = np.float32(1.0 - beta1), np.float32(beta2), np.float32(1.0 - beta2)
    eps_, correction2, divisor = np.float32(eps), np.float32(bias_correction2_sqrt), np.float32(gradient_divisor)
    no_gradient = np.zeros(weight.shape[1], dtype=np.float32)
    for k in range(rows.size):
        source = gradient_of_row[k]
        _adamw_row(weight[rows[k]], gradient_rows[source] if source >= 0 else no_gradient, exp_avg[k], exp_avg_sq[k],
                   step_size, decay, average_weight, beta2_, square_weight, eps_, correction2, divisor)


@njit(**_COMPILE)
def _adamw_row(w: np.ndarray, gradient: np.ndarray, m: np.ndarray, v: np.ndarray, step_size: np.float32,
               decay: np.float32, average_weight: np.float32, beta2: np.float32, square_weight: np.float32,
               eps: np.float32, correction2: np.float32, divisor: np.float32) -> None:
    """Torch's fused AdamW arithmetic on one row, in place."""
    for j in range(w.size):
        g = gradient[j] / divisor
        m_j = m[j] + average_weight * (g - m[j])
        v_j = beta2 * v[j] + square_weight * g * g
        m[j], v[j] = m_j, v_j
        w[j] = w[j] * decay - step_size * m_j / (np.sqrt(v_j) / correction2 + eps)
