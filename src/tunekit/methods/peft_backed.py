"""Methods that `peft` implements: our side is a translation of the config, plus the head handling.

The classification head (and BERT's pooler, which feeds it) trains in full and is saved with the adapter
through ``modules_to_save``: without it the head stays at its random initialisation after reloading
(PEFT issues #310, #577, #1070).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from peft import PeftConfig, PeftModel, get_peft_model
from peft.utils import ModulesToSaveWrapper
from torch import nn

from tunekit.config.schema import RunConfig
from tunekit.errors import ConfigError, TunekitError
from tunekit.methods.protocol import StepHook

ConfigBuilder = Callable[[nn.Module, RunConfig], PeftConfig]
"""(base model, run config) -> the PEFT config, task type and ``modules_to_save`` included."""


@dataclass(frozen=True)
class PeftMethod:
    """A PEFT-backed method. ``model_dir`` holds ``adapter_config.json`` and ``adapter_model.safetensors``."""

    name: str
    peft_config: ConfigBuilder
    learning_rate: Callable[[int], float]
    cannot_merge: str | None = None
    """Why this method's weights cannot be folded into the base model (None: it can)."""
    make_step_hook: Callable[[nn.Module, RunConfig, int], StepHook | None] | None = None
    prepare: Callable[[nn.Module, RunConfig], None] | None = None
    """Called on the PEFT model after it is built or loaded (e.g. to register a forward hook)."""
    unsupported: Callable[[nn.Module, RunConfig], ConfigError | None] | None = None
    """The error naming why this base model cannot take the method (None when it can), checked before wrapping."""
    weights_file: str = "adapter_model.safetensors"
    has_adapter: bool = True

    @property
    def can_merge(self) -> bool:
        return self.cannot_merge is None

    def apply(self, model: nn.Module, config: RunConfig) -> nn.Module:
        problem = self.unsupported(model, config) if self.unsupported is not None else None
        if problem is not None:
            raise problem
        peft_config = self.peft_config(model, config)
        try:
            peft_model = get_peft_model(model, peft_config)
        except ValueError as exc:
            raise ConfigError(f"{self.name} could not be applied to this {model.config.model_type} model: {exc}",
                              "check the method's target modules against the model's module names, "
                              "or choose another `method`") from None
        self._prepare(peft_model, config)
        return peft_model

    def default_learning_rate(self, hidden_size: int) -> float:
        return self.learning_rate(hidden_size)

    def save(self, model: nn.Module, target: Path) -> None:
        model.save_pretrained(target, safe_serialization=True)

    def load(self, model_dir: Path, config: RunConfig, build_base: Callable[[], nn.Module]) -> nn.Module:
        model = PeftModel.from_pretrained(build_base(), model_dir)
        self._prepare(model, config)
        return model

    def merge(self, model: nn.Module) -> nn.Module:
        if self.cannot_merge is not None:
            raise TunekitError(f"`{self.name}` cannot be merged into the base weights: {self.cannot_merge}",
                               "use the run directory itself (tunekit predict / serve / Predictor load the adapter), "
                               "or train with lora, dora, ia3 or bitfit for a mergeable model")
        _unwrap_trained_heads(model)
        return model.merge_and_unload()

    def disabled(self, model: nn.Module) -> AbstractContextManager[None]:
        if model.peft_config[model.active_adapter].is_prompt_learning:
            return _prompt_learning_disabled(model)
        return model.disable_adapter()

    def step_hook(self, model: nn.Module, config: RunConfig, total_steps: int) -> StepHook | None:
        return None if self.make_step_hook is None else self.make_step_hook(model, config, total_steps)

    def _prepare(self, model: nn.Module, config: RunConfig) -> None:
        if self.prepare is not None:
            self.prepare(model, config)


def _unwrap_trained_heads(model: nn.Module) -> None:
    """Put the trained head copies in place of their ``modules_to_save`` wrappers.

    peft's IA3 unloading assumes every wrapped module is a Linear and fails on BERT's pooler; LoRA's does the same
    as this.
    """
    for name, module in list(model.base_model.model.named_modules()):
        if isinstance(module, ModulesToSaveWrapper):
            parent, _, child = name.rpartition(".")
            trained = module.modules_to_save[module.active_adapter]
            setattr(model.base_model.model.get_submodule(parent), child, trained)


@contextmanager
def _prompt_learning_disabled(model: nn.Module) -> Iterator[None]:
    """The base model's forward with the original heads.

    peft 0.21.2's ``disable_adapter`` fails for prompt learning on models without ``prepare_inputs_for_generation``
    (every encoder) and keeps the trained head copies active.
    """
    wrappers = [module for module in model.modules() if isinstance(module, ModulesToSaveWrapper)]
    model.forward = model.base_model.forward
    for wrapper in wrappers:
        wrapper.enable_adapters(False)
    try:
        yield
    finally:
        del model.forward  # back to the class's forward
        for wrapper in wrappers:
            wrapper.enable_adapters(True)
