"""Everything a recipe sets up before its first optimiser step, the same for every task: device and precision,
step budget, optimiser and schedule, early stopping, and the state restored from a checkpoint on resume."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tunekit.config.schema import RunConfig
from tunekit.methods import trainable_parameters
from tunekit.methods.lora.lean_forward import use_lean_lora_forward
from tunekit.training.activation_checkpointing import checkpoint_layers
from tunekit.training.checkpoint import TrainerState, latest_checkpoint, load_checkpoint
from tunekit.training.early_stopping import EarlyStopping
from tunekit.training.fast_dropout import use_fast_dropout
from tunekit.training.loop import steps_per_epoch
from tunekit.training.optimizer import build_optimizer
from tunekit.training.precision import resolve_bf16
from tunekit.training.schedule import build_scheduler

log = logging.getLogger("tunekit")


@dataclass
class TrainingSession:
    device: torch.device
    bf16: bool
    total_steps: int
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    early_stopping: EarlyStopping
    state: TrainerState
    trainable_parameters: int
    total_parameters: int

    @classmethod
    def start(cls, model: nn.Module, config: RunConfig, n_examples: int, checkpoints: Path,
              resume: bool) -> TrainingSession:
        """Move ``model`` to the device and build the optimiser state for a resolved ``config`` (restored from the
        latest checkpoint in ``checkpoints`` when resuming)."""
        options = config.train
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        model.to(device)
        if options.gradient_checkpointing:
            checkpoint_layers(model)
        if options.fast_dropout and device.type == "cpu":  # a GPU's own dropout kernel is already fast
            log.debug("fast dropout: %d dropout modules replaced", use_fast_dropout(model))
        log.debug("lean LoRA forward: %d layers", len(use_lean_lora_forward(model)))
        total_steps = options.max_steps or options.epochs * steps_per_epoch(
            n_examples, options.batch_size, options.gradient_accumulation_steps)
        optimizer = build_optimizer(model, options.learning_rate, options.weight_decay)
        scheduler = build_scheduler(optimizer, options.lr_schedule, options.warmup_steps, total_steps)
        early_stopping = EarlyStopping(options.early_stopping_metric, options.early_stopping_patience)
        state = TrainerState()
        checkpoint = latest_checkpoint(checkpoints) if resume else None
        if checkpoint is not None:
            state = load_checkpoint(checkpoint, model, optimizer, scheduler)
            early_stopping.load_state_dict(state.early_stopping or {})
            log.info("resuming from %s (step %d of %d)", checkpoint.name, state.step, total_steps)
        trainable, total = trainable_parameters(model)
        session = cls(device, resolve_bf16(options.bf16, device), total_steps, optimizer, scheduler, early_stopping,
                      state, trainable, total)
        log.info("%s: %s trainable of %s parameters (%.2f%%), %d examples, %d epochs, %d steps, lr %.1e, bf16 %s",
                 config.method, f"{trainable:,}", f"{total:,}", 100 * trainable / total, n_examples,
                 options.epochs, total_steps, options.learning_rate, session.bf16)
        return session

    def summary(self, config: RunConfig, state: TrainerState, train_examples: int) -> dict[str, Any]:
        """The ``training`` section of metrics.json, for the ``state`` training ended in."""
        options, stopping = config.train, self.early_stopping
        return {
            "method": config.method, "model": config.model.name, "trainable_parameters": self.trainable_parameters,
            "total_parameters": self.total_parameters, "epochs": options.epochs, "steps": state.step,
            "learning_rate": options.learning_rate, "bf16": self.bf16, "best_step": stopping.best_step,
            f"best_validation_{stopping.metric}": stopping.best, "examples_seen": state.examples_seen,
            "train_examples": train_examples}
