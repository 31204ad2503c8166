"""Setting up a training run, shared by every recipe: claiming the run directory, resolving the training plan,
writing the run files."""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
from datetime import datetime
from pathlib import Path

import yaml

from tunekit.atomic import read_json, write_json, write_text
from tunekit.config import RunConfig, config_to_dict, load_config
from tunekit.config.schema import TrainConfig
from tunekit.errors import ConfigError, RunDirError
from tunekit.methods import METHODS
from tunekit.run.environment import describe_environment
from tunekit.run.layout import RunLayout
from tunekit.training.loop import LoopSettings, steps_per_epoch
from tunekit.training.schedule import resolve_warmup_steps

log = logging.getLogger("tunekit")
# entity micro-F1 is the figure NER is judged by; macro-F1 keeps rare classes visible in classification
DEFAULT_EARLY_STOPPING_METRIC = {"classification": "macro_f1", "token_classification": "micro_f1"}

MAX_AUTO_EPOCHS, MIN_AUTO_EPOCHS = 20, 2
EVALUATION_FILES = ("*_predictions.csv", "*_predictions.conll", "*_confusion_matrix.png", "*_reliability.png")


def default_run_dir(config_name: str = "run") -> Path:
    """``runs/<config name>-<timestamp>``."""
    return Path("runs") / f"{config_name}-{datetime.now():%Y%m%d-%H%M%S}"


def auto_epochs(per_epoch: int, min_steps: int) -> int:
    """Enough epochs for ``min_steps`` optimiser steps: small data gets more passes, big data fewer."""
    return max(MIN_AUTO_EPOCHS, min(MAX_AUTO_EPOCHS, math.ceil(min_steps / per_epoch)))

def write_run_files(layout: RunLayout, config: RunConfig, labels: dict) -> None:
    layout.root.mkdir(parents=True, exist_ok=True)
    write_text(layout.config, yaml.safe_dump(config_to_dict(config), sort_keys=False))
    write_json(layout.labels, labels)
    write_json(layout.environment, describe_environment(config.train.seed))
    write_json(layout.status, {"status": "running"})


def loop_settings(options: TrainConfig, total_steps: int, bf16: bool) -> LoopSettings:
    return LoopSettings(
        batch_size=options.batch_size, gradient_accumulation_steps=options.gradient_accumulation_steps,
        total_steps=total_steps, max_grad_norm=options.max_grad_norm, bf16=bf16, seed=options.seed,
        evaluations_per_epoch=options.evaluations_per_epoch, checkpoint_every_steps=options.checkpoint_every_steps,
        log_every_steps=options.log_every_steps, progress_bar=options.progress_bar)


def resolve_training_plan(config: RunConfig, n_train_examples: int, hidden_size: int, run_dir: Path) -> RunConfig:
    """The config with every automatic choice made explicit: epochs, learning rate, warmup steps, output dir.

    Written into the run directory, it re-runs (and resumes) exactly the same training.
    """
    options: TrainConfig = config.train
    per_epoch = steps_per_epoch(n_train_examples, options.batch_size, options.gradient_accumulation_steps)
    epochs = options.epochs or auto_epochs(per_epoch, options.min_steps)
    total_steps = options.max_steps or per_epoch * epochs
    resolved = dataclasses.replace(
        options,
        epochs=epochs,
        learning_rate=options.learning_rate or METHODS[config.method].default_learning_rate(hidden_size),
        warmup_steps=resolve_warmup_steps(total_steps, options.warmup_ratio, options.warmup_steps),
        warmup_ratio=None,
        early_stopping_metric=options.early_stopping_metric or DEFAULT_EARLY_STOPPING_METRIC[config.task],
    )
    return dataclasses.replace(config, train=resolved, output_dir=str(run_dir))


def prepare_run_dir(layout: RunLayout, resume: bool, overwrite: bool) -> None:
    """Check a run to resume, or claim a directory for a new one (never mixing two runs)."""
    if resume:
        if not layout.config.exists():
            raise RunDirError(f"{layout.root} has no config.yaml and no checkpoints to resume from",
                              "start a new run without --resume")
        if layout.status.exists() and read_json(layout.status).get("status") == "completed":
            raise RunDirError(f"{layout.root} already completed; there is nothing to resume",
                              f"evaluate it with `tunekit evaluate {layout.root} --data FILE`, or train a new run")
        if not layout.checkpoints.is_dir():
            log.warning("%s was stopped before its first checkpoint; starting it from step 0", layout.root)
        return
    if not (layout.config.exists() or layout.checkpoints.exists()):
        return
    if not overwrite:
        raise RunDirError(f"{layout.root} already holds a run",
                          "choose another output_dir, continue it with `tunekit train --resume`, "
                          "or pass --overwrite to replace it")
    for path in (layout.checkpoints, layout.tensorboard, layout.model, layout.evaluations, layout.compressed):
        shutil.rmtree(path, ignore_errors=True)
    stale = [layout.train_log, layout.metrics, layout.report, layout.status]
    stale += [path for pattern in EVALUATION_FILES for path in layout.root.glob(pattern)]
    for path in stale:
        path.unlink(missing_ok=True)


def check_sequence_length(max_seq_len: int, tokenizer, model) -> None:
    limit = min(getattr(tokenizer, "model_max_length", None) or 10**9,
                getattr(model.config, "max_position_embeddings", None) or 10**9)
    if max_seq_len > limit:
        raise ConfigError(f"`data.max_seq_len`={max_seq_len} exceeds this model's limit of {limit} tokens",
                          f"set data.max_seq_len={limit} or less (and data.long_text=chunk for long documents)")

def resume_config(run_dir: Path) -> RunConfig:
    """The resolved config of the run in ``run_dir``, for `tunekit train --resume`."""
    layout = RunLayout(run_dir)
    if not layout.config.is_file():
        raise RunDirError(f"{run_dir} has no config.yaml, so it is not a tunekit run", "pass a run directory")
    return load_config(layout.config)


def run_task(run_dir: Path) -> str:
    """The task (`classification` or `token_classification`) of the finished run in ``run_dir``.

    Raises:
        RunDirError: ``run_dir`` is not a finished run.
    """
    return load_config(RunLayout(run_dir).require_finished().config).task
