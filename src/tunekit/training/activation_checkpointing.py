"""Gradient (activation) checkpointing for any encoder: recompute each layer's activations in backward.

Hugging Face models only support it where the architecture opted in (transformers 5 has it for BERT but not
for MPNet), so tunekit wraps the forward of every block of the encoder's layer list itself, the same way for
every model, with or without adapters. The wrapped forward is an instance attribute: parameter names, saved
weights and inference are unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from tunekit.errors import ConfigError

LAYER_LISTS = ("layer", "layers")  # encoder.layer (BERT, RoBERTa, MPNet), transformer.layers (others)


def checkpoint_layers(model: nn.Module) -> int:
    """Make every block of the model's repeated layer list(s) recompute its activations during backward.

    Trades about one extra forward pass per step for storing only each block's input: peak memory
    then grows with one block's activations instead of all of them.

    Returns:
        How many blocks were wrapped.

    Raises:
        ConfigError: the model has no layer list to checkpoint.
    """
    wrapped = 0
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and name.rsplit(".", 1)[-1] in LAYER_LISTS:
            for block in module:
                block.forward = functools.partial(_checkpointed, block, block.forward)
                wrapped += 1
    if not wrapped:
        raise ConfigError(f"`train.gradient_checkpointing`: {type(model).__name__} has no encoder layer list "
                          "(`layer` or `layers`) to checkpoint", "set train.gradient_checkpointing=false")
    return wrapped


def is_checkpointed(block: nn.Module) -> bool:
    """True when `checkpoint_layers` wrapped ``block``."""
    forward = vars(block).get("forward")
    return isinstance(forward, functools.partial) and forward.func is _checkpointed


def run_checkpointed(block: nn.Module, function: Callable, *args, **kwargs):
    """``function(*args, **kwargs)``, recomputed in backward when ``block`` trains (as a checkpointed block's own
    forward is): for code that runs a checkpointed block's computation other than through its ``forward``."""
    return _checkpointed(block, function, *args, **kwargs)


def _checkpointed(block: nn.Module, forward: Callable, *args, **kwargs):
    if not (block.training and torch.is_grad_enabled()):
        return forward(*args, **kwargs)
    # non-reentrant: gradients reach frozen-input blocks (LoRA) and keyword arguments pass through;
    # the RNG state is replayed so dropout masks in the recomputation match the original pass
    return checkpoint(forward, *args, use_reentrant=False, **kwargs)
