"""AdaLoRA through `peft` (Zhang et al. 2023, "AdaLoRA: Adaptive Budget Allocation for Parameter-Efficient
Fine-Tuning", arXiv:2303.10512): SVD-shaped LoRA updates whose rank budget is pruned during training towards the
matrices that matter most.

The budget schedule is in optimiser steps, and the step count is known only once the data is read: `apply`
builds the adapter with a provisional schedule and `step_hook(model, config, total_steps)` fixes it from the run's real
step count (``adalora.tinit_ratio`` and ``adalora.tfinal_ratio`` of it) before training starts. The hook then
calls peft's ``update_and_allocate`` after every optimiser step, while the gradients still exist.

tunekit computes the loss outside the model, so peft's orthogonality regulariser (added only to a loss the model
computes itself) is not applied.
"""

from __future__ import annotations

import warnings

from peft import AdaLoraConfig
from torch import nn

from tunekit.config.schema import RunConfig
from tunekit.methods.lora import target_modules
from tunekit.methods.peft_backed import PeftMethod
from tunekit.methods.protocol import StepHook
from tunekit.methods.tasks import PEFT_TASK_TYPES, head_modules

# Loading a pruned adapter: peft checks the saved rank pattern against module names before it resizes the modules
# by that pattern (which then succeeds), and reads a rank pruned to 0 as an unsharded DeepSpeed tensor.
warnings.filterwarnings("ignore", message="The following rank_pattern keys did not match", category=RuntimeWarning)
warnings.filterwarnings("ignore", message=".*LoRA tensor\\(s\\) have invalid shape")

PROVISIONAL_TOTAL_STEPS = 1000  # replaced by the run's real step count in `step_hook`


def schedule(total_steps: int, tinit_ratio: float, tfinal_ratio: float) -> tuple[int, int]:
    """(tinit, tfinal) in optimiser steps: warm-up at full rank, and the final phase at the fixed rank pattern."""
    return int(tinit_ratio * total_steps), int(tfinal_ratio * total_steps)


def _peft_config(model: nn.Module, config: RunConfig) -> AdaLoraConfig:
    options, lora = config.adalora, config.lora
    total = config.train.max_steps or PROVISIONAL_TOTAL_STEPS
    tinit, tfinal = schedule(total, options.tinit_ratio, options.tfinal_ratio)
    return AdaLoraConfig(
        task_type=PEFT_TASK_TYPES[config.task], init_r=options.init_r, target_r=options.target_r,
        lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=target_modules(model, config),
        tinit=tinit, tfinal=tfinal, deltaT=options.delta_t, beta1=options.beta1, beta2=options.beta2,
        total_step=total, modules_to_save=head_modules(model))


def _step_hook(model: nn.Module, config: RunConfig, total_steps: int) -> StepHook:
    peft_config = model.peft_config[model.active_adapter]
    tinit, tfinal = schedule(total_steps, config.adalora.tinit_ratio, config.adalora.tfinal_ratio)
    peft_config.total_step, peft_config.tinit, peft_config.tfinal = total_steps, tinit, tfinal

    def update_and_allocate(step: int) -> None:
        model.base_model.update_and_allocate(step)

    return update_and_allocate


METHOD = PeftMethod(
    name="adalora", peft_config=_peft_config, make_step_hook=_step_hook,
    learning_rate=lambda hidden_size: 1e-3 if hidden_size <= 512 else 5e-4,  # LoRA's
)
