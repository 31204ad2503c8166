"""Bottleneck adapters, our own small module: `adapters` (AdapterHub) 1.3.0 pins transformers ~=4.57 and peft has
none. Adapters are added by wrapping existing modules by name (no model class is subclassed or re-declared).

- ``houlsby`` (Houlsby et al. 2019, "Parameter-Efficient Transfer Learning for NLP", arXiv:1902.00751): an adapter
  after the attention output projection and one after the feed-forward output, in every layer; the LayerNorms
  train too, as in the paper.
- ``pfeiffer`` (Pfeiffer et al. 2020, "AdapterFusion: Non-Destructive Task Composition for Transfer Learning",
  arXiv:2005.00247): one adapter per layer, after the feed-forward output only; the pretrained LayerNorms stay
  frozen.

Both read the `adapter` config section. The adapter's nonlinearity means it cannot be folded into the weights.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from tunekit.config.schema import RunConfig
from tunekit.errors import ConfigError, RunDirError, TunekitError
from tunekit.methods.bottleneck.layer import Bottleneck, WithAdapter
from tunekit.methods.protocol import StepHook
from tunekit.methods.tasks import head_modules, is_in_modules

ATTENTION_OUTPUT = {"bert": r"layer\.\d+\.attention\.output\.dense", "mpnet": r"layer\.\d+\.attention\.attn\.o"}
FEED_FORWARD_OUTPUT = {"bert": r"layer\.\d+\.output\.dense", "mpnet": r"layer\.\d+\.output\.dense"}
BASE_STATE = "_tunekit_base_state"  # the trained non-adapter parameters' initial values, for `disabled`


@dataclass(frozen=True)
class BottleneckMethod:
    """Bottleneck adapters after the modules ``placements`` names (per architecture, as name regexes)."""

    name: str
    placements: tuple[dict[str, str], ...]
    train_layer_norms: bool
    weights_file: str = "bottleneck_adapters.safetensors"
    can_merge: bool = False
    has_adapter: bool = True

    def apply(self, model: nn.Module, config: RunConfig) -> nn.Module:
        model_type = model.config.model_type
        if model_type not in self.placements[0]:
            raise ConfigError(f"{self.name} adapters have no placement for model type `{model_type}`",
                              f"use lora with `lora.target_modules`; {self.name} supports "
                              f"{', '.join(self.placements[0])}")
        pattern = re.compile(r"(.*\.)?(" + "|".join(place[model_type] for place in self.placements) + ")")
        hidden_size = model.config.hidden_size
        bottleneck_size = max(1, hidden_size // config.adapter.reduction_factor)
        for name, module in list(model.named_modules()):
            if pattern.fullmatch(name):
                parent, _, child = name.rpartition(".")
                adapter = Bottleneck(hidden_size, bottleneck_size, config.adapter.nonlinearity)
                setattr(model.get_submodule(parent), child, WithAdapter(module, adapter))
        trained = head_modules(model) + (["LayerNorm"] if self.train_layer_norms else [])
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(".adapter." in name or is_in_modules(name, trained))
        setattr(model, BASE_STATE, {name: p.detach().clone() for name, p in model.named_parameters()
                                    if p.requires_grad and ".adapter." not in name})
        return model

    def default_learning_rate(self, hidden_size: int) -> float:
        return 1e-3 if hidden_size <= 512 else 3e-4  # Houlsby et al. search 3e-5..3e-3 for BERT-large

    def save(self, model: nn.Module, target: Path) -> None:
        target.mkdir(parents=True, exist_ok=True)
        tensors = {name: p.detach().contiguous() for name, p in model.named_parameters() if p.requires_grad}
        save_file(tensors, str(target / self.weights_file), metadata={"method": self.name})

    def load(self, model_dir: Path, config: RunConfig, build_base: Callable[[], nn.Module]) -> nn.Module:
        model = self.apply(build_base(), config)
        tensors = load_file(str(model_dir / self.weights_file))
        parameters = dict(model.named_parameters())
        expected = {name for name, p in parameters.items() if p.requires_grad}
        if set(tensors) != expected:
            raise RunDirError(f"{model_dir / self.weights_file} does not match a {self.name} model built from "
                              f"this config ({len(set(tensors) ^ expected)} tensors differ)",
                              "load it with the config.yaml of the run that saved it")
        with torch.no_grad():
            for name, tensor in tensors.items():
                parameters[name].copy_(tensor)
        return model

    def merge(self, model: nn.Module) -> nn.Module:
        raise TunekitError(f"`{self.name}` adapters cannot be merged into the base weights: the nonlinearity "
                           "between their down- and up-projection is not a linear map",
                           "use the run directory itself (tunekit predict / serve / Predictor load the adapters), "
                           "or train with lora, dora, ia3 or bitfit for a mergeable model")

    @contextmanager
    def disabled(self, model: nn.Module):
        wrappers = [module for module in model.modules() if isinstance(module, WithAdapter)]
        parameters = dict(model.named_parameters())
        trained = {name: parameters[name].detach().clone() for name in getattr(model, BASE_STATE)}
        with torch.no_grad():
            for name, value in getattr(model, BASE_STATE).items():
                parameters[name].copy_(value)
        for wrapper in wrappers:
            wrapper.enabled = False
        try:
            yield
        finally:
            for wrapper in wrappers:
                wrapper.enabled = True
            with torch.no_grad():
                for name, value in trained.items():
                    parameters[name].copy_(value)

    def step_hook(self, model: nn.Module, config: RunConfig, total_steps: int) -> StepHook | None:
        return None


HOULSBY = BottleneckMethod(name="houlsby", placements=(ATTENTION_OUTPUT, FEED_FORWARD_OUTPUT), train_layer_norms=True)
PFEIFFER = BottleneckMethod(name="pfeiffer", placements=(FEED_FORWARD_OUTPUT,), train_layer_norms=False)
