"""Prefix tuning through `peft` (Li & Liang 2021, "Prefix-Tuning: Optimizing Continuous Prompts for Generation",
arXiv:2101.00190): ``prompt.num_virtual_tokens`` trained key/value vectors are prepended in every attention layer.

It needs an encoder that accepts ``past_key_values``: BERT does in transformers 5.23, MPNet does not, and for it
`apply` raises a ConfigError naming that reason. Prefixes are extra inputs: the method cannot merge.
"""

from __future__ import annotations

import inspect

from peft import PrefixTuningConfig
from torch import nn

from tunekit.config.schema import RunConfig
from tunekit.errors import ConfigError
from tunekit.methods.peft_backed import PeftMethod
from tunekit.methods.prompt_tuning import positions_left
from tunekit.methods.tasks import PEFT_TASK_TYPES, head_modules


def _peft_config(model: nn.Module, config: RunConfig) -> PrefixTuningConfig:
    return PrefixTuningConfig(task_type=PEFT_TASK_TYPES[config.task],
                              num_virtual_tokens=config.prompt.num_virtual_tokens, modules_to_save=head_modules(model))


def _unsupported(model: nn.Module, config: RunConfig) -> ConfigError | None:
    """peft passes the prefixes as ``past_key_values``; it checks the encoder's signature only at the first forward.
    The input's position ids then start after the prefix, as after a cache."""
    encoder = getattr(model, model.base_model_prefix)
    if "past_key_values" in inspect.signature(encoder.forward).parameters:
        return positions_left(model, config)
    return ConfigError(
        f"prefix tuning needs an encoder that accepts past key values (the prefixes are passed that way); "
        f"`{model.config.model_type}` in this transformers version does not",
        "use prompt_tuning (virtual tokens at the input) or lora with this model, "
        "or prefix_tuning with a BERT model such as minilm-l6")


METHOD = PeftMethod(
    name="prefix_tuning", peft_config=_peft_config, unsupported=_unsupported,
    cannot_merge="its prefixes are extra keys and values in every layer, not a change to any weight",
    learning_rate=lambda hidden_size: 1e-2,  # no reparameterisation MLP: P-Tuning v2 (Liu et al. 2022) uses 5e-3-1e-2
)
