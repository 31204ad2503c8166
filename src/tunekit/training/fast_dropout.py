"""Dropout whose mask comes from a compiled SplitMix64 kernel instead of ATen's CPU Bernoulli sampler.

On a CPU, ``nn.Dropout`` costs about 6 ns per element, almost all of it in ``bernoulli_`` (one scalar draw per
element); MiniLM-L6 with LoRA runs over fifty dropouts per forward, about half of its forward time. `dropout_bits` fills
16 random bits per element and turns them into the multiplier tensor (0 or 1/(1-p), in the input's dtype) in
~0.1 ns per element. The module then returns ``x * noise``, the same expression ATen's CPU dropout evaluates,
so autograd, saved memory and the backward (``grad * noise``) are those of ``nn.Dropout``; only the random stream
differs. (A saved bool mask would take less memory, but on a CPU ATen's bool × float multiply and bool → float
conversion each cost several times a same-dtype multiply, more than the whole dropout here.)

The stream is a pure function of torch's global CPU generator: each call draws the SplitMix64 seed with one
``torch.randint``. Seeding with ``torch.manual_seed``, restoring ``torch.get_rng_state()`` from a checkpoint, and
gradient checkpointing's RNG replay therefore reproduce the masks exactly.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import nn

THRESHOLD_LEVELS = 65536  # one uint16 of randomness per element: p is quantised to a multiple of 1/65536
_BIT_PATTERN = {2: (np.int16, torch.int16), 4: (np.int32, torch.int32), 8: (np.int64, torch.int64)}  # by itemsize


class FastDropout(nn.Module):
    """Inverted dropout like ``nn.Dropout(p)``: in training mode, zero each element with probability ``p`` and scale
    the others by ``1 / (1 - p)``; the identity in eval mode or when ``p == 0``.

    The drop probability is quantised to ``round(p * 65536) / 65536`` (at most 7.6e-6 from ``p``) and the scale
    uses that quantised value, so the expected output still equals the input. As in ATen's CPU dropout, the scale
    is rounded to the input's dtype (bf16: 1/0.9 becomes 1.109375). Floating-point inputs of any shape and device;
    the mask is drawn on the CPU, so on a GPU ``nn.Dropout`` is the faster choice.

    Args:
        p: drop probability, in [0, 1].
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = p  # read by attention layers that hand their dropout rate to SDPA
        self.threshold = round(p * THRESHOLD_LEVELS)  # a uint16 draw below this drops its element

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` of any shape; returns a tensor of the same shape and dtype."""
        if not self.training or self.threshold == 0:
            return x
        return x * dropout_noise(x.shape, self.threshold, x.dtype).to(x.device, non_blocking=True)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def dropout_noise(shape: torch.Size | tuple[int, ...], threshold: int, dtype: torch.dtype) -> torch.Tensor:
    """The multiplier tensor of one dropout call, on the CPU: ``1 / (1 - threshold / 65536)`` rounded to ``dtype``
    where a uint16 draw is at least ``threshold``, else 0.

    Draws one SplitMix64 seed from torch's global CPU generator, so the result is a function of its state.
    """
    from tunekit.training.dropout_bits import fill_keep_mask  # numba loads with the first dropout, not with inference

    numpy_bits, scale_bits = _scale_bits(threshold, dtype)
    seed = int(torch.randint(0, 2**62, (1,)))
    noise = np.empty(math.prod(shape), dtype=numpy_bits)
    # the scale's bit pattern as a signed integer: no float arithmetic, so any float width works alike
    fill_keep_mask(seed, threshold, numpy_bits(scale_bits), noise)
    return torch.from_numpy(noise).view(dtype).view(shape)


@functools.cache
def _scale_bits(threshold: int, dtype: torch.dtype) -> tuple[type, int]:
    """The numpy signed integer type as wide as ``dtype`` and the bit pattern of the scale in ``dtype`` (positive,
    so the sign bit is clear and it fits the signed type)."""
    if not dtype.is_floating_point or dtype.itemsize not in _BIT_PATTERN:
        raise TypeError(f"dropout needs a 16, 32 or 64-bit floating-point input, got {dtype}")
    numpy_bits, torch_bits = _BIT_PATTERN[dtype.itemsize]
    kept = 1.0 - threshold / THRESHOLD_LEVELS
    scale = torch.tensor(1.0 / kept if kept > 0 else 0.0, dtype=dtype)
    return numpy_bits, int(scale.view(torch_bits))


def use_fast_dropout(model: nn.Module) -> int:
    """Replace every ``nn.Dropout`` with ``p > 0`` in ``model`` by a ``FastDropout`` of the same ``p``, in place.

    Covers hidden-state dropouts, the attention dropout modules whose rate SDPA reads (``.p`` is kept), and PEFT's
    ``lora_dropout`` entries. The replacements have no parameters or buffers: state dicts and saved weights are
    unchanged. A module shared by several parents is replaced by one shared ``FastDropout``.

    Returns:
        How many distinct dropout modules were replaced.
    """
    replacements: dict[int, FastDropout] = {}
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Dropout and child.p > 0:
                if id(child) not in replacements:
                    replacements[id(child)] = FastDropout(child.p).train(child.training)
                setattr(parent, name, replacements[id(child)])
    return len(replacements)
