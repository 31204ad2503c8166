"""The training loop: accumulation, clipping, evaluation, early stopping and resumable checkpoints."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tunekit.data.batching import collate, length_grouped_batches
from tunekit.data.tokenize import EncodedTexts
from tunekit.training.bf16_working_copies import bf16_working_copies_for_loop
from tunekit.training.checkpoint import TrainerState, save_checkpoint, save_trainable
from tunekit.training.early_stopping import EarlyStopping
from tunekit.training.heap import retain_freed_memory
from tunekit.training.logger import TrainingLogger
from tunekit.training.objectives import Objective
from tunekit.training.optimizer_step import OptimizerStep
from tunekit.training.padding_free import padding_free_encoders
from tunekit.training.precision import autocast
from tunekit.training.progress import TrainingProgress


@dataclass
class LoopSettings:
    """Plain numbers the loop needs; the recipe derives them from the config."""

    batch_size: int
    gradient_accumulation_steps: int
    total_steps: int
    max_grad_norm: float | None
    bf16: bool
    seed: int
    evaluations_per_epoch: int
    checkpoint_every_steps: int | None
    log_every_steps: int
    progress_bar: bool


def steps_per_epoch(n_examples: int, batch_size: int, accumulation: int) -> int:
    return math.ceil(math.ceil(n_examples / batch_size) / accumulation)


def epoch_batches(lengths: np.ndarray, batch_size: int, accumulation: int, seed: int,
                  epoch: int) -> list[list[np.ndarray]]:
    """The epoch's micro-batches grouped per optimiser step; a pure function of (seed, epoch), so resuming
    mid-epoch replays the same order."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    batches = length_grouped_batches(lengths, batch_size, generator)
    return [batches[i:i + accumulation] for i in range(0, len(batches), accumulation)]


def train_loop(model: nn.Module, encoded: EncodedTexts, objective: Objective, *, pad_id: int,
               optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler,
               settings: LoopSettings, state: TrainerState, early_stopping: EarlyStopping,
               evaluate: Callable[[], dict], checkpoints: Path, logger: TrainingLogger,
               device: torch.device | None = None, after_optimizer_step: Callable[[int], None] | None = None,
               on_step_end: Callable[[TrainerState], None] | None = None) -> TrainerState:
    """Train until the step budget is spent or early stopping fires; returns the final state.

    Args:
        objective: gathers each batch's targets and scores the logits (per example or per token).
        after_optimizer_step: called with the new step number right after each optimiser step, before
            the gradients are cleared (AdaLoRA's rank allocation reads them).
        on_step_end: called with the state at the end of every step (progress hooks, tests).

    The best model's trainable tensors are kept in ``checkpoints/best`` and restored at the end.
    """
    device = device or torch.device("cpu")
    lengths = encoded.lengths
    per_epoch = steps_per_epoch(len(encoded), settings.batch_size, settings.gradient_accumulation_steps)
    evaluation_points = {max(1, round(per_epoch * j / settings.evaluations_per_epoch))
                         for j in range(1, settings.evaluations_per_epoch + 1)}
    running_loss = torch.zeros((), device=device)
    window_start, window_examples = time.perf_counter(), 0
    model.train()
    retain_freed_memory()
    working_copies = None if after_optimizer_step is not None else bf16_working_copies_for_loop(
        model, optimizer, bf16=settings.bf16, device=device,
        micro_batches_per_step=settings.gradient_accumulation_steps)  # the hook may read the fp32 weights' .grad
    with (TrainingProgress(settings.total_steps, settings.progress_bar) as progress,
          OptimizerStep(model, optimizer, settings.max_grad_norm, working_copies) as clip_and_step,
          padding_free_encoders(model)):
        progress.update(state.step)
        while state.step < settings.total_steps and not state.finished:
            groups = epoch_batches(lengths, settings.batch_size, settings.gradient_accumulation_steps,
                                   settings.seed, state.epoch)
            for group in groups[state.batches_done_in_epoch:]:
                normalizer = max(sum(objective.weight(b) for b in group), 1e-12)  # a step may hold no labelled token
                for indices in group:
                    batch = {k: v.to(device) for k, v in collate(encoded, indices, pad_id).items()}
                    targets = objective.targets(indices, batch["input_ids"].shape[1]).to(device)
                    with autocast(settings.bf16, device):
                        logits = clip_and_step.forward(model, batch).logits
                    loss = objective.summed_loss(logits, targets) / normalizer
                    loss.backward()
                    running_loss += loss.detach()
                    window_examples += len(indices)
                clip_and_step()
                scheduler.step()
                state.step += 1
                if after_optimizer_step is not None:
                    clip_and_step.settle()
                    after_optimizer_step(state.step)
                optimizer.zero_grad(set_to_none=True)
                state.batches_done_in_epoch += 1
                state.examples_seen += sum(len(b) for b in group)
                if state.step % settings.log_every_steps == 0:  # the only host sync of the step
                    elapsed = time.perf_counter() - window_start
                    mean_loss = running_loss.item() / settings.log_every_steps
                    speed = window_examples / max(elapsed, 1e-9)
                    logger.log("train", state.step, {"loss": mean_loss, "learning_rate": scheduler.get_last_lr()[0],
                                                     "samples_per_second": speed, "epoch": state.epoch})
                    progress.update(state.step, mean_loss, speed)
                    running_loss.zero_()
                    window_start, window_examples = time.perf_counter(), 0
                else:
                    progress.update(state.step)
                last_step = state.step >= settings.total_steps
                if state.batches_done_in_epoch in evaluation_points or last_step:
                    clip_and_step.settle()
                    _evaluate_and_checkpoint(model, evaluate, early_stopping, state, logger, checkpoints,
                                             optimizer, scheduler)
                    model.train()
                elif settings.checkpoint_every_steps and state.step % settings.checkpoint_every_steps == 0:
                    clip_and_step.settle()
                    save_checkpoint(checkpoints, model, optimizer, scheduler, state)
                if on_step_end is not None:
                    clip_and_step.settle()
                    on_step_end(state)
                if state.finished or last_step:
                    break
            else:
                state.epoch += 1
                state.batches_done_in_epoch = 0
    return state


def _evaluate_and_checkpoint(model, evaluate, early_stopping: EarlyStopping, state: TrainerState,
                             logger: TrainingLogger, checkpoints: Path, optimizer, scheduler) -> None:
    metrics = evaluate()
    logger.log("validation", state.step, {k: v for k, v in metrics.items() if isinstance(v, int | float)})
    if early_stopping.update(metrics[early_stopping.metric], state.step, metrics.get("loss")):
        save_trainable(model, checkpoints / "best" / "trainable.safetensors")
    state.early_stopping = early_stopping.state_dict()
    state.finished = early_stopping.should_stop
    save_checkpoint(checkpoints, model, optimizer, scheduler, state)
