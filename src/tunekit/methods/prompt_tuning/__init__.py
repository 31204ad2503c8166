"""Prompt tuning through `peft` (Lester et al. 2021, "The Power of Scale for Parameter-Efficient Prompt Tuning",
arXiv:2104.08691): ``prompt.num_virtual_tokens`` trained embeddings are prepended to every input.

For token classification peft returns logits for the virtual tokens too; a forward hook drops them, so that the
logits line up with the input tokens, ``(batch, seq_len, num_labels)``. Virtual tokens are not weights of the
base model: the method cannot merge.
"""

from __future__ import annotations

from peft import PromptTuningConfig
from torch import nn

from tunekit.config.schema import RunConfig
from tunekit.errors import ConfigError
from tunekit.methods.peft_backed import PeftMethod
from tunekit.methods.tasks import PEFT_TASK_TYPES, head_modules


def _peft_config(model: nn.Module, config: RunConfig) -> PromptTuningConfig:
    return PromptTuningConfig(task_type=PEFT_TASK_TYPES[config.task],
                              num_virtual_tokens=config.prompt.num_virtual_tokens, modules_to_save=head_modules(model))


def positions_left(model: nn.Module, config: RunConfig) -> ConfigError | None:
    """Virtual tokens take position ids too: `data.max_seq_len` + them must fit the position embeddings."""
    limit = getattr(model.config, "max_position_embeddings", None)
    needed = config.data.max_seq_len + config.prompt.num_virtual_tokens
    if limit is None or needed <= limit:
        return None
    return ConfigError(f"`data.max_seq_len` + `prompt.num_virtual_tokens` = {needed} exceeds this model's "
                       f"{limit} positions",
                       f"lower data.max_seq_len to {limit - config.prompt.num_virtual_tokens} or fewer, "
                       "or lower prompt.num_virtual_tokens")


def _drop_virtual_token_logits(module: nn.Module, args: tuple, kwargs: dict, output):
    """Keep the last ``seq_len`` positions of token-level logits (a no-op while the adapter is disabled)."""
    inputs = kwargs.get("input_ids", kwargs.get("inputs_embeds", args[0] if args else None))
    if inputs is not None and output.logits.dim() == 3:
        output.logits = output.logits[:, output.logits.shape[1] - inputs.shape[1]:]
    return output


def _prepare(model: nn.Module, config: RunConfig) -> None:
    if config.task == "token_classification":
        model.register_forward_hook(_drop_virtual_token_logits, with_kwargs=True)


METHOD = PeftMethod(
    name="prompt_tuning", peft_config=_peft_config, prepare=_prepare, unsupported=positions_left,
    cannot_merge="its virtual tokens are extra inputs, not a change to any weight",
    learning_rate=lambda hidden_size: 3e-2,  # prompt embeddings need large steps (Lester et al. train with 0.3)
)
