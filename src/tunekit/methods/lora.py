"""LoRA through `peft` (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models").

The classification head (and BERT's pooler, which feeds it) is trained in full and saved with the
adapter via ``modules_to_save``: without it the head stays at its random initialisation after
reloading (PEFT issues #310, #577, #1070).
"""

from __future__ import annotations

from peft import LoraConfig, TaskType, get_peft_model
from torch import nn

from tunekit.config.schema import RunConfig
from tunekit.errors import ConfigError

# Attention and feed-forward projections per architecture; adapting the FFN as well as attention
# closes most of the gap to full fine-tuning on small encoders.
DEFAULT_TARGETS = {
    "bert": ["query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"],
    "mpnet": ["attn.q", "attn.k", "attn.v", "attn.o", "intermediate.dense", "output.dense"],
}


def head_modules(model: nn.Module) -> list[str]:
    """Names of the freshly initialised modules that must train in full and be saved with the adapter."""
    names = ["classifier"]
    base = getattr(model, getattr(model, "base_model_prefix", ""), None)
    if getattr(base, "pooler", None) is not None:
        names.append("pooler")
    return names


def apply(model: nn.Module, config: RunConfig) -> nn.Module:
    """Wrap ``model`` in a PEFT LoRA model with the head in ``modules_to_save``."""
    options = config.lora
    model_type = model.config.model_type
    targets = options.target_modules or DEFAULT_TARGETS.get(model_type)
    if targets is None:
        raise ConfigError(f"no default LoRA target modules for model type `{model_type}`",
                          "set `lora.target_modules` to the names of its linear layers, e.g. [query, value]")
    lora_config = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=options.r,
        lora_alpha=options.alpha,
        lora_dropout=options.dropout,
        target_modules=targets,
        modules_to_save=head_modules(model),
    )
    try:
        return get_peft_model(model, lora_config)
    except ValueError as exc:
        raise ConfigError(f"LoRA could not be applied: {exc}",
                          "check `lora.target_modules` against the model's module names") from None


def default_learning_rate(hidden_size: int) -> float:
    return 1e-3 if hidden_size <= 512 else 5e-4
