"""Recipe: fine-tune a text classifier and evaluate it, from a config to a finished run directory."""

from __future__ import annotations

import dataclasses
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
from tunekit.config.schema import DataConfig, TrainConfig
from tunekit.data.prepare import DataSplits, load_splits
from tunekit.data.tokenize import EncodedTexts, encode_texts
from tunekit.errors import ConfigError, RunDirError
from tunekit.evaluation.evaluate import evaluate_split
from tunekit.evaluation.metrics import ClassificationMetrics
from tunekit.evaluation.report import markdown_section, print_summary
from tunekit.evaluation.thresholds import tune_thresholds
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
from tunekit.training.objectives import ExampleObjective
from tunekit.training.optimizer import build_optimizer
from tunekit.training.precision import resolve_bf16
from tunekit.training.schedule import build_scheduler, resolve_warmup_steps

log = logging.getLogger("tunekit")

MAX_AUTO_EPOCHS, MIN_AUTO_EPOCHS = 20, 2
EVALUATION_FILES = ("*_predictions.csv", "*_confusion_matrix.png", "*_reliability.png")


def default_run_dir(config_name: str = "run") -> Path:
    """``runs/<config name>-<timestamp>``."""
    return Path("runs") / f"{config_name}-{datetime.now():%Y%m%d-%H%M%S}"


def auto_epochs(per_epoch: int, min_steps: int) -> int:
    """Enough epochs for ``min_steps`` optimiser steps: small data gets more passes, big data fewer."""
    return max(MIN_AUTO_EPOCHS, min(MAX_AUTO_EPOCHS, math.ceil(min_steps / per_epoch)))


@dataclasses.dataclass
class EncodedSplits:
    train: EncodedTexts
    train_targets: np.ndarray
    validation: EncodedTexts
    validation_targets: np.ndarray


def train_classifier(config: RunConfig, run_dir: Path, *, splits: DataSplits | None = None,
                     resume: bool = False, on_step_end: Callable[[TrainerState], None] | None = None,
                     console: Console | None = None, overwrite: bool = False) -> Path:
    """Train, pick the best validation checkpoint, evaluate, and write everything into ``run_dir``.

    Args:
        config: the validated run config; its resolved form (chosen epochs, learning rate, warmup)
            is written into the run directory.
        run_dir: output directory; with ``resume``, an interrupted run to continue.
        splits: in-memory data (the Python API); read from ``config.data`` when None.
        resume: continue from the run's last checkpoint (from step 0 if it was killed before the first).
        on_step_end: called after every optimiser step (progress hooks, tests).
        console: where to print the evaluation summary; None prints nothing.
        overwrite: replace a previous run in ``run_dir`` instead of refusing to touch it.

    Raises:
        TunekitError: bad data, config, model or run directory, before any training starts.
    """
    layout = RunLayout(run_dir)
    _prepare_run_dir(layout, resume, overwrite)
    torch.set_num_threads(config.train.num_threads or torch.get_num_threads())
    splits = splits or load_splits(config.data)
    label_map = splits.label_map
    model, model_dir = build_model(config, label_map)
    tokenizer = load_tokenizer(model_dir)
    _check_sequence_length(config.data.max_seq_len, tokenizer, model)
    encoded = _encode_splits(tokenizer, splits, config.data)
    config = resolve_training_plan(config, len(encoded.train), model.config.hidden_size, run_dir)
    options = config.train
    _write_run_files(layout, config, label_map.to_json())

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    bf16 = resolve_bf16(options.bf16, device)
    total_steps = options.max_steps or options.epochs * steps_per_epoch(
        len(encoded.train), options.batch_size, options.gradient_accumulation_steps)
    optimizer = build_optimizer(model, options.learning_rate, options.weight_decay)
    scheduler = build_scheduler(optimizer, options.lr_schedule, options.warmup_steps, total_steps)
    early_stopping = EarlyStopping(options.early_stopping_metric, options.early_stopping_patience)
    state = TrainerState()
    checkpoint = latest_checkpoint(layout.checkpoints) if resume else None
    if checkpoint is not None:
        state = load_checkpoint(checkpoint, model, optimizer, scheduler)
        early_stopping.load_state_dict(state.early_stopping or {})
        log.info("resuming from %s (step %d of %d)", checkpoint.name, state.step, total_steps)
    trainable, total = trainable_parameters(model)
    log.info("%s: %s trainable of %s parameters (%.2f%%), %d examples, %d epochs, %d steps, lr %.1e, bf16 %s",
             config.method, f"{trainable:,}", f"{total:,}", 100 * trainable / total, len(splits.train),
             options.epochs, total_steps, options.learning_rate, bf16)

    def validation_probabilities() -> np.ndarray:
        """``(n_validation_texts, num_labels)``: chunk probabilities pooled per text."""
        return Predictor(model, tokenizer, label_map, config).pooled_probabilities(encoded.validation,
                                                                                  len(splits.validation))

    def validate() -> dict:
        metrics = ClassificationMetrics(list(label_map.classes), label_map.multi_label, config.eval.calibration_bins)
        metrics.update(validation_probabilities(), encoded.validation_targets)
        return metrics.compute()

    class_weights = (balanced_class_weights(encoded.train_targets, label_map.num_labels)
                     if options.class_weights == "balanced" else None)
    settings = _loop_settings(options, total_steps, bf16)
    logger = TrainingLogger(layout.train_log, layout.tensorboard if options.tensorboard else None,
                            resume_from_step=state.step if resume else None)
    try:
        state = train_loop(model, encoded.train, ExampleObjective(encoded.train_targets, class_weights, device),
                           pad_id=tokenizer.pad_token_id, optimizer=optimizer, scheduler=scheduler,
                           settings=settings, state=state, early_stopping=early_stopping, evaluate=validate,
                           checkpoints=layout.checkpoints, logger=logger, device=device, on_step_end=on_step_end)
    finally:
        logger.close()

    load_trainable(model, layout.best / "trainable.safetensors")
    thresholds = None
    if label_map.multi_label:
        thresholds = tune_thresholds(validation_probabilities(), encoded.validation_targets)
        write_json(layout.labels, {**label_map.to_json(), "thresholds": thresholds.tolist()})
    save_model(model.eval(), tokenizer, layout.model)
    training = {
        "method": config.method, "model": config.model.name, "trainable_parameters": trainable,
        "total_parameters": total, "epochs": options.epochs, "steps": state.step,
        "learning_rate": options.learning_rate, "bf16": bf16, "best_step": early_stopping.best_step,
        f"best_validation_{early_stopping.metric}": early_stopping.best,
        "examples_seen": state.examples_seen, "train_examples": len(splits.train)}
    _evaluate_and_report(Predictor(model, tokenizer, label_map, config, thresholds), splits, layout, training,
                         console)
    return run_dir


def _write_run_files(layout: RunLayout, config: RunConfig, labels: dict) -> None:
    layout.root.mkdir(parents=True, exist_ok=True)
    write_text(layout.config, yaml.safe_dump(config_to_dict(config), sort_keys=False))
    write_json(layout.labels, labels)
    write_json(layout.environment, describe_environment(config.train.seed))
    write_json(layout.status, {"status": "running"})


def _loop_settings(options: TrainConfig, total_steps: int, bf16: bool) -> LoopSettings:
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
    )
    return dataclasses.replace(config, train=resolved, output_dir=str(run_dir))


def _prepare_run_dir(layout: RunLayout, resume: bool, overwrite: bool) -> None:
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
    for path in (layout.checkpoints, layout.tensorboard, layout.model, layout.evaluations):
        shutil.rmtree(path, ignore_errors=True)
    stale = [layout.train_log, layout.metrics, layout.report, layout.status]
    stale += [path for pattern in EVALUATION_FILES for path in layout.root.glob(pattern)]
    for path in stale:
        path.unlink(missing_ok=True)


def _check_sequence_length(max_seq_len: int, tokenizer, model) -> None:
    limit = min(getattr(tokenizer, "model_max_length", None) or 10**9,
                getattr(model.config, "max_position_embeddings", None) or 10**9)
    if max_seq_len > limit:
        raise ConfigError(f"`data.max_seq_len`={max_seq_len} exceeds this model's limit of {limit} tokens",
                          f"set data.max_seq_len={limit} or less (and data.long_text=chunk for long documents)")


def _encode_splits(tokenizer, splits: DataSplits, data: DataConfig) -> EncodedSplits:
    def encode(split) -> EncodedTexts:
        return encode_texts(tokenizer, split.texts, split.pairs, max_seq_len=data.max_seq_len,
                            long_text=data.long_text, chunk_stride=data.chunk_stride)

    train, validation = encode(splits.train), encode(splits.validation)
    label_map = splits.label_map
    return EncodedSplits(
        train=train,
        train_targets=label_map.encode(splits.train.labels, delimiter=data.label_delimiter)[train.owner],
        validation=validation,
        validation_targets=label_map.encode(splits.validation.labels, source=splits.validation.source,
                                            delimiter=data.label_delimiter),
    )


def _evaluate_and_report(predictor: Predictor, splits: DataSplits, layout: RunLayout, training: dict,
                         console: Console | None) -> None:
    """Evaluate validation and test splits; write metrics.json, report.md, predictions and plots; mark the run
    completed."""
    config = predictor.config
    results: dict = {"training": training}
    sections = []
    for name, split in (("validation", splits.validation), ("test", splits.test)):
        if split is None:
            continue
        results[name] = evaluate_split(predictor, split, layout.root, name, config.data.label_delimiter,
                                       config.eval.calibration_bins)
        sections.append(markdown_section(f"{name} — {split.source}", results[name], results[name]["plots"]))
        if console is not None:
            print_summary(results[name], f"{name}: {split.source}", console)
    write_json(layout.metrics, results)
    write_text(layout.report, _report_header(config, training) + "\n".join(sections))
    shutil.rmtree(layout.checkpoints, ignore_errors=True)  # model/ holds the best weights; checkpoints are large
    write_json(layout.status, {"status": "completed"})


def _report_header(config: RunConfig, t: dict) -> str:
    return "\n".join([
        f"# tunekit report: {config.model.name}, {config.method}", "",
        f"- trainable parameters: {t['trainable_parameters']:,} of {t['total_parameters']:,} "
        f"({100 * t['trainable_parameters'] / t['total_parameters']:.2f}%)",
        f"- training: {t['train_examples']} examples, {t['epochs']} epochs planned, {t['steps']} optimiser steps "
        f"run, learning rate {t['learning_rate']:.1e}, bf16 {t['bf16']}",
        f"- best checkpoint: step {t['best_step']}", "", ""])


def train_from_command_line(config_path: Path | None, overrides: list[str], *, resume: Path | None = None,
                            overwrite: bool = False, console: Console | None = None) -> Path:
    """`tunekit train [CONFIG] [key=value ...]` or `tunekit train --resume RUN_DIR`; returns the run directory.

    The config file is optional: a first argument of the form key=value is an override.
    """
    if resume is not None:
        return train_classifier(resume_config(resume), resume, resume=True, console=console)
    if config_path is not None and "=" in str(config_path) and not config_path.exists():
        overrides, config_path = [str(config_path), *overrides], None
    config = load_config(config_path, overrides)
    run_dir = Path(config.output_dir) if config.output_dir else default_run_dir(
        config_path.stem if config_path else "run")
    return train_classifier(config, run_dir, console=console, overwrite=overwrite)


def resume_config(run_dir: Path) -> RunConfig:
    """The resolved config of the run in ``run_dir``, for `tunekit train --resume`."""
    layout = RunLayout(run_dir)
    if not layout.config.is_file():
        raise RunDirError(f"{run_dir} has no config.yaml, so it is not a tunekit run", "pass a run directory")
    return load_config(layout.config)
