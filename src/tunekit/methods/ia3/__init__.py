"""(IA)^3 through `peft` (Liu et al. 2022, "Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper than
In-Context Learning", arXiv:2205.05638): learned vectors rescale the attention keys and values and the
feed-forward activations. The rescaling is elementwise, so it merges into the base weights."""

from __future__ import annotations

from peft import IA3Config
from torch import nn

from tunekit.config.schema import RunConfig
from tunekit.errors import ConfigError
from tunekit.methods.peft_backed import PeftMethod
from tunekit.methods.tasks import PEFT_TASK_TYPES, head_modules

# (targets, feed-forward targets) as full-name regular expressions: BERT's "output.dense" suffix names both the
# attention output and the second FFN layer, and only the FFN one has its input (the activation) rescaled.
TARGETS = {
    "bert": (r".*\.layer\.\d+\.(attention\.self\.(key|value)|output\.dense)", r".*\.layer\.\d+\.output\.dense"),
    "mpnet": (r".*\.layer\.\d+\.(attention\.attn\.(k|v)|output\.dense)", r".*\.layer\.\d+\.output\.dense"),
}


def _peft_config(model: nn.Module, config: RunConfig) -> IA3Config:
    model_type = model.config.model_type
    if model_type not in TARGETS:
        raise ConfigError(f"ia3 has no target modules for model type `{model_type}`",
                          f"choose a method that supports it, e.g. lora with `lora.target_modules`; ia3 supports "
                          f"{', '.join(TARGETS)}")
    targets, feedforward = TARGETS[model_type]
    return IA3Config(task_type=PEFT_TASK_TYPES[config.task], target_modules=targets, feedforward_modules=feedforward,
                     modules_to_save=head_modules(model))


METHOD = PeftMethod(
    name="ia3", peft_config=_peft_config,
    learning_rate=lambda hidden_size: 3e-3,  # the paper's 3e-3: few parameters, each a multiplicative scale near 1
)
