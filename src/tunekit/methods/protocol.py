"""What every adaptation method provides: the `AdaptationMethod` protocol the registry holds."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from torch import nn

from tunekit.config.schema import RunConfig

StepHook = Callable[[int], None]
"""Called with the new optimiser-step number right after each optimiser step, before gradients are cleared."""


class AdaptationMethod(Protocol):
    """An adaptation method: how it freezes or wraps a model, saves, loads, merges and disables what it trained.

    Every callable works for both tasks (``config.task``: sequence or token classification).
    """

    name: str
    weights_file: str
    """The weights file `save` writes into a model directory (always safetensors)."""
    can_merge: bool
    """Whether `merge` gives a plain transformers model (else it raises, saying why)."""
    has_adapter: bool
    """Whether the method adds something to the base model that `disabled` can switch off."""

    def apply(self, model: nn.Module, config: RunConfig) -> nn.Module:
        """Freeze or wrap a freshly built base model; returns the model to train."""

    def default_learning_rate(self, hidden_size: int) -> float:
        """Peak learning rate used when `train.learning_rate` is not set."""

    def save(self, model: nn.Module, target: Path) -> None:
        """Write the trained weights (and whatever `load` needs) into the directory ``target``."""

    def load(self, model_dir: Path, config: RunConfig, build_base: Callable[[], nn.Module]) -> nn.Module:
        """Restore a model saved by `save`; ``build_base`` makes a fresh base model when the method needs one."""

    def merge(self, model: nn.Module) -> nn.Module:
        """A plain transformers model computing the same outputs. Raises `TunekitError` if the method cannot merge."""

    def disabled(self, model: nn.Module) -> AbstractContextManager[None]:
        """A context in which ``model`` computes the outputs of the base model it was built on (head included).

        Raises:
            TypeError: the method has no adapter (``has_adapter`` is False).
        """

    def step_hook(self, model: nn.Module, config: RunConfig, total_steps: int) -> StepHook | None:
        """What to call after every optimiser step of a ``total_steps`` run (None: nothing)."""
