"""LoRA through `peft` (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models", arXiv:2106.09685),
and two variants peft offers, registered under their own names so that they compare side by side:

- ``rslora``: rank-stabilised scaling alpha / sqrt(r) instead of alpha / r (Kalajdzievski 2023, arXiv:2312.03732);
- ``dora``: weight-decomposed LoRA, a trained magnitude per output feature (Liu et al. 2024, arXiv:2402.09353).

All three read the `lora` config section and merge into the base weights.
"""

from __future__ import annotations

from peft import LoraConfig
from torch import nn

from tunekit.config.schema import RunConfig
from tunekit.errors import ConfigError
from tunekit.methods.peft_backed import PeftMethod
from tunekit.methods.tasks import PEFT_TASK_TYPES, head_modules

# Attention and feed-forward projections per architecture; adapting the FFN as well as attention
# closes most of the gap to full fine-tuning on small encoders.
DEFAULT_TARGETS = {
    "bert": ["query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"],
    "mpnet": ["attn.q", "attn.k", "attn.v", "attn.o", "intermediate.dense", "output.dense"],
}


def target_modules(model: nn.Module, config: RunConfig) -> list[str]:
    """`lora.target_modules`, or the architecture's attention and feed-forward projections."""
    model_type = model.config.model_type
    targets = config.lora.target_modules or DEFAULT_TARGETS.get(model_type)
    if targets is None:
        raise ConfigError(f"no default LoRA target modules for model type `{model_type}`",
                          "set `lora.target_modules` to the names of its linear layers, e.g. [query, value]")
    return targets


def _lora_config(use_rslora: bool = False, use_dora: bool = False):
    def build(model: nn.Module, config: RunConfig) -> LoraConfig:
        options = config.lora
        return LoraConfig(task_type=PEFT_TASK_TYPES[config.task], r=options.r, lora_alpha=options.alpha,
                          lora_dropout=options.dropout, target_modules=target_modules(model, config),
                          modules_to_save=head_modules(model), use_rslora=use_rslora, use_dora=use_dora)
    return build


def _learning_rate(hidden_size: int) -> float:
    return 1e-3 if hidden_size <= 512 else 5e-4


LORA = PeftMethod(name="lora", peft_config=_lora_config(), learning_rate=_learning_rate)
RSLORA = PeftMethod(name="rslora", peft_config=_lora_config(use_rslora=True),
                    # alpha / sqrt(r) scales the update sqrt(r) = 4x LoRA's at r=16: smaller steps compensate
                    learning_rate=lambda hidden_size: _learning_rate(hidden_size) / 2)
DORA = PeftMethod(name="dora", peft_config=_lora_config(use_dora=True), learning_rate=_learning_rate)
