"""How many modules hold each parameter: a parameter held by two (a tied weight) gets gradients from both."""

from __future__ import annotations

from collections import Counter

from torch import nn


def modules_per_parameter(model: nn.Module) -> Counter[int]:
    """For each parameter of ``model``, by ``id``, the number of its modules that hold it directly."""
    return Counter(id(parameter) for module in model.modules() for parameter in module.parameters(recurse=False))
