"""Methods that train a subset of the model's own weights: the result is a plain transformers model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from tunekit.config.schema import RunConfig
from tunekit.methods.protocol import StepHook
from tunekit.methods.tasks import AUTO_MODEL_CLASSES, head_modules, is_in_modules


@dataclass(frozen=True)
class PlainModelMethod:
    """Freeze everything but the parameters ``trains`` selects (and the head); nothing is added to the model.

    Saving writes the whole model (``model.safetensors``), so a run's model directory loads with plain
    transformers; merging is the identity; there is no adapter to disable.
    """

    name: str
    trains: Callable[[str], bool]
    """Whether the parameter of this name trains (the head's parameters always do)."""
    learning_rate: Callable[[int], float]
    weights_file: str = "model.safetensors"
    can_merge: bool = True
    has_adapter: bool = False

    def apply(self, model: nn.Module, config: RunConfig) -> nn.Module:
        head = head_modules(model)
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(self.trains(name) or is_in_modules(name, head))
        return model

    def default_learning_rate(self, hidden_size: int) -> float:
        return self.learning_rate(hidden_size)

    def save(self, model: nn.Module, target: Path) -> None:
        model.save_pretrained(target)

    def load(self, model_dir: Path, config: RunConfig, build_base: Callable[[], nn.Module]) -> nn.Module:
        return AUTO_MODEL_CLASSES[config.task].from_pretrained(model_dir, use_safetensors=True, dtype=torch.float32)

    def merge(self, model: nn.Module) -> nn.Module:
        return model

    def disabled(self, model: nn.Module):
        raise TypeError(f"`{self.name}` adds no adapter to disable: the trained weights are the model's own")

    def step_hook(self, model: nn.Module, config: RunConfig, total_steps: int) -> StepHook | None:
        return None
