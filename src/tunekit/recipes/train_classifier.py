"""Recipe: fine-tune a text classifier and evaluate it, from a config to a finished run directory."""

from __future__ import annotations

import logging
import math
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
import yaml
from rich.console import Console

from tunekit.atomic import read_json, write_json, write_text
from tunekit.config import RunConfig, config_to_dict, load_config
from tunekit.data.prepare import DataSplits, load_splits
from tunekit.data.tokenize import encode_texts
from tunekit.errors import RunDirError
from tunekit.evaluation.evaluate import evaluate_split
from tunekit.evaluation.metrics import ClassificationMetrics
from tunekit.evaluation.report import markdown_section, print_summary
from tunekit.evaluation.thresholds import tune_thresholds
from tunekit.inference.batch import example_probabilities, pool_chunks
from tunekit.inference.predictor import Predictor
from tunekit.methods import METHODS, trainable_parameters
from tunekit.run.environment import describe_environment
from tunekit.run.layout import RunLayout
from tunekit.run.model_io import build_model, load_tokenizer, save_model
from tunekit.training.checkpoint import TrainerState, latest_checkpoint, load_checkpoint, load_trainable
from tunekit.training.early_stopping import EarlyStopping
from tunekit.training.logger import TrainingLogger
from tunekit.training.loop import LoopSettings, steps_per_epoch, train_loop
from tunekit.training.loss import balanced_class_weights
from tunekit.training.optimizer import build_optimizer
from tunekit.training.precision import resolve_bf16
from tunekit.training.schedule import build_scheduler, resolve_warmup_steps

log = logging.getLogger("tunekit")

MAX_AUTO_EPOCHS, MIN_AUTO_EPOCHS = 20, 2


def default_run_dir(config_name: str = "run") -> Path:
    return Path("runs") / f"{config_name}-{datetime.now():%Y%m%d-%H%M%S}"


def auto_epochs(per_epoch: int, min_steps: int) -> int:
    """Enough epochs for ``min_steps`` optimiser steps: small data gets more passes, big data fewer."""
    return max(MIN_AUTO_EPOCHS, min(MAX_AUTO_EPOCHS, math.ceil(min_steps / per_epoch)))


def train_classifier(config: RunConfig, run_dir: Path, *, splits: DataSplits | None = None,
                     resume: bool = False, on_step_end: Callable[[TrainerState], None] | None = None,
                     console: Console | None = None, overwrite: bool = False) -> Path:
    """Train, pick the best validation checkpoint, evaluate, and write everything into ``run_dir``.

    Args:
        config: the validated run config (written resolved into the run directory).
        run_dir: output directory; with ``resume``, an interrupted run to continue.
        splits: in-memory data (the Python API); read from ``config.data`` when None.
        on_step_end: called after every optimiser step (progress hooks, tests).
        console: where to print the evaluation summary; None prints nothing.
        overwrite: replace a previous run in ``run_dir`` instead of refusing to touch it.
    """
    layout = RunLayout(run_dir)
    if resume and not layout.checkpoints.is_dir():
        raise RunDirError(f"{run_dir} has no checkpoints to resume from", "start a new run without --resume")
    if not resume:
        _claim_run_dir(layout, overwrite)
    torch.set_num_threads(config.train.num_threads or torch.get_num_threads())
    splits = splits or load_splits(config.data)
    label_map = splits.label_map
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text(layout.config, yaml.safe_dump(config_to_dict(config), sort_keys=False))
    write_json(layout.labels, label_map.to_json())
    write_json(layout.environment, describe_environment(config.train.seed))
    write_json(layout.status, {"status": "running"})

    model, model_dir = build_model(config, label_map)
    tokenizer = load_tokenizer(model_dir)
    trainable, total = trainable_parameters(model)
    data = config.data
    encode = lambda split: encode_texts(tokenizer, split.texts, split.pairs, max_seq_len=data.max_seq_len,  # noqa: E731
                                        long_text=data.long_text, chunk_stride=data.chunk_stride)
    train_encoded, validation_encoded = encode(splits.train), encode(splits.validation)
    train_targets = label_map.encode(splits.train.labels, delimiter=data.label_delimiter)[train_encoded.owner]
    validation_targets = label_map.encode(splits.validation.labels, source=splits.validation.source,
                                          delimiter=data.label_delimiter)

    train = config.train
    per_epoch = steps_per_epoch(len(train_encoded), train.batch_size, train.gradient_accumulation_steps)
    epochs = train.epochs or auto_epochs(per_epoch, train.min_steps)
    total_steps = train.max_steps or per_epoch * epochs
    method = METHODS[config.method]
    learning_rate = train.learning_rate or method.default_learning_rate(model.config.hidden_size)
    optimizer = build_optimizer(model, learning_rate, train.weight_decay)
    scheduler = build_scheduler(optimizer, train.lr_schedule,
                                resolve_warmup_steps(total_steps, train.warmup_ratio, train.warmup_steps), total_steps)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    bf16 = resolve_bf16(train.bf16, device)
    class_weights = balanced_class_weights(train_targets, label_map.num_labels) if train.class_weights == "balanced" \
        else None
    early_stopping = EarlyStopping(train.early_stopping_metric, train.early_stopping_patience)
    state = TrainerState()
    if resume and (checkpoint := latest_checkpoint(layout.checkpoints)) is not None:
        state = load_checkpoint(checkpoint, model, optimizer, scheduler)
        early_stopping.load_state_dict(state.early_stopping or {})
        log.info("resuming from %s (step %d of %d)", checkpoint.name, state.step, total_steps)
    log.info("%s: %s trainable of %s parameters (%.2f%%), %d examples, %d epochs, %d steps, lr %.1e, bf16 %s",
             config.method, f"{trainable:,}", f"{total:,}", 100 * trainable / total, len(splits.train), epochs,
             total_steps, learning_rate, bf16)

    def validation_probabilities() -> np.ndarray:
        """``(n_validation_texts, num_labels)``: chunk probabilities pooled per text."""
        return pool_chunks(
            example_probabilities(model, validation_encoded, batch_size=config.eval.batch_size,
                                  pad_id=tokenizer.pad_token_id, multi_label=label_map.multi_label, bf16=bf16,
                                  device=device),
            validation_encoded.owner, len(splits.validation), data.chunk_pooling)

    def validate() -> dict:
        metrics = ClassificationMetrics(list(label_map.classes), label_map.multi_label, config.eval.calibration_bins)
        metrics.update(validation_probabilities(), validation_targets)
        return metrics.compute()

    settings = LoopSettings(
        batch_size=train.batch_size, gradient_accumulation_steps=train.gradient_accumulation_steps,
        total_steps=total_steps, max_grad_norm=train.max_grad_norm, bf16=bf16, seed=train.seed,
        evaluations_per_epoch=train.evaluations_per_epoch, checkpoint_every_steps=train.checkpoint_every_steps,
        log_every_steps=train.log_every_steps, progress_bar=train.progress_bar)
    logger = TrainingLogger(layout.train_log, layout.tensorboard if train.tensorboard else None)
    try:
        state = train_loop(model, train_encoded, train_targets, pad_id=tokenizer.pad_token_id, optimizer=optimizer,
                           scheduler=scheduler, settings=settings, state=state, early_stopping=early_stopping,
                           evaluate=validate, checkpoints=layout.checkpoints, logger=logger,
                           class_weights=class_weights, device=device, on_step_end=on_step_end)
    finally:
        logger.close()

    load_trainable(model, layout.best / "trainable.safetensors")
    model.eval()
    thresholds = None
    if label_map.multi_label:
        thresholds = tune_thresholds(validation_probabilities(), validation_targets)
        write_json(layout.labels, {**label_map.to_json(), "thresholds": thresholds.tolist()})
    save_model(model, tokenizer, layout.model)

    predictor = Predictor(model, tokenizer, label_map, config, thresholds)
    results = {"training": {
        "method": config.method, "model": config.model.name, "trainable_parameters": trainable,
        "total_parameters": total, "epochs": epochs, "steps": state.step, "learning_rate": learning_rate,
        "bf16": bf16, "best_step": early_stopping.best_step,
        f"best_validation_{early_stopping.metric}": early_stopping.best,
        "examples_seen": state.examples_seen, "train_examples": len(splits.train)}}
    sections = []
    for name, split in (("validation", splits.validation), ("test", splits.test)):
        if split is None:
            continue
        results[name] = evaluate_split(predictor, split, run_dir, name, data.label_delimiter,
                                       config.eval.calibration_bins)
        sections.append(markdown_section(f"{name} — {split.source}", results[name], results[name]["plots"]))
        if console is not None:
            print_summary(results[name], f"{name}: {split.source}", console)
    write_json(layout.metrics, results)
    write_text(layout.report, _report_header(config, results) + "\n".join(sections))
    write_json(layout.status, {"status": "completed"})
    return run_dir


def _claim_run_dir(layout: RunLayout, overwrite: bool) -> None:
    """Refuse to mix a new run into an old one; with ``overwrite``, clear the old run's artefacts first."""
    if not (layout.config.exists() or layout.checkpoints.exists()):
        return
    if not overwrite:
        raise RunDirError(f"{layout.root} already holds a run",
                          "choose another output_dir, continue it with `tunekit train --resume`, "
                          "or pass --overwrite to replace it")
    for path in (layout.checkpoints, layout.tensorboard, layout.model, layout.evaluations):
        shutil.rmtree(path, ignore_errors=True)
    for path in (layout.train_log, layout.metrics, layout.report, layout.status):
        path.unlink(missing_ok=True)


def _report_header(config: RunConfig, results: dict) -> str:
    t = results["training"]
    return "\n".join([
        f"# tunekit report: {config.model.name}, {config.method}", "",
        f"- trainable parameters: {t['trainable_parameters']:,} of {t['total_parameters']:,} "
        f"({100 * t['trainable_parameters'] / t['total_parameters']:.2f}%)",
        f"- training: {t['train_examples']} examples, {t['epochs']} epochs planned, {t['steps']} optimiser steps "
        f"run, learning rate {t['learning_rate']:.1e}, bf16 {t['bf16']}",
        f"- best checkpoint: step {t['best_step']}", "", ""])


def resume_config(run_dir: Path) -> RunConfig:
    layout = RunLayout(run_dir)
    if not layout.config.is_file():
        raise RunDirError(f"{run_dir} has no config.yaml, so it is not a tunekit run", "pass a run directory")
    if layout.status.is_file() and read_json(layout.status).get("status") == "completed":
        log.warning("%s already completed; resuming re-evaluates the final checkpoint", run_dir)
    return load_config(layout.config)
