"""AdamW over a bf16 gradient with an fp32 master weight, in one pass, compiled by numba.

The step reads the bf16 gradient, the fp32 weight and both fp32 moments once, and writes the weight, the moments
and the weight's bf16 copy (what the next forward pass multiplies by) once: 26 bytes per parameter. Torch's
fused AdamW needs an fp32 gradient of the fp32 weight, so under autocast each trained weight also pays a cast to
bf16 in the forward pass and its gradient a cast back to fp32 in the backward pass, 12 more bytes and two
allocations per parameter per step. `tunekit.training.bf16_working_copies` says when the kernels are used.

The arithmetic is torch's fused AdamW kernel's (``aten/src/ATen/native/cpu/FusedAdamKernel.cpp``, fp32 math):
decoupled decay ``w *= 1 - lr·wd``, then ``m += (1-β1)(g - m)``, ``v = β2·v + (1-β2)·g²``,
``w -= lr/(1-β1^t) · m / (√v / √(1-β2^t) + ε)`` (with one division, so within a few float32 roundings
of torch's); the bf16 copy is the new weight rounded to nearest even, as
``Tensor.to(torch.bfloat16)`` rounds. Arrays are 1-D and contiguous; bf16 tensors are passed as their uint16
bit patterns. The kernels release the GIL, so threads can step different weights at once; they are compiled on
first use (a few seconds) and cached on disk by numba.
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
