"""Recipe: fine-tune a text classifier and evaluate it, from a config to a finished run directory."""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from rich.console import Console

from tunekit.atomic import write_json, write_text
from tunekit.config import RunConfig
from tunekit.config.schema import DataConfig
from tunekit.data.counterfactual import with_counterfactual_copies
from tunekit.data.prepare import DataSplits, load_splits
from tunekit.data.tokenize import EncodedTexts, encode_texts
from tunekit.evaluation.evaluate import evaluate_split
from tunekit.evaluation.metrics import ClassificationMetrics
from tunekit.evaluation.report import markdown_section, print_summary, report_header
from tunekit.evaluation.thresholds import tune_thresholds
from tunekit.inference.predictor import Predictor
from tunekit.methods import METHODS
from tunekit.run.layout import RunLayout
from tunekit.run.model_card import write_model_card
from tunekit.run.model_io import build_model, load_tokenizer, save_model
from tunekit.run.setup import (
    check_sequence_length,
    loop_settings,
    prepare_run_dir,
    resolve_training_plan,
    write_run_files,
)
from tunekit.training.checkpoint import TrainerState, load_trainable
from tunekit.training.logger import TrainingLogger
from tunekit.training.loop import train_loop
from tunekit.training.loss import balanced_class_weights
from tunekit.training.objectives import ExampleObjective
from tunekit.training.private import train_private_run
from tunekit.training.session import TrainingSession

log = logging.getLogger("tunekit")



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
    prepare_run_dir(layout, resume, overwrite)
    torch.set_num_threads(config.train.num_threads or torch.get_num_threads())
    splits = splits or load_splits(config.data)
    splits = with_counterfactual_copies(splits, config.data.counterfactual_augmentation)
    label_map = splits.label_map
    model, model_dir = build_model(config, label_map)
    tokenizer = load_tokenizer(model_dir)
    check_sequence_length(config.data.max_seq_len, tokenizer, model)
    encoded = _encode_splits(tokenizer, splits, config.data)
    config = resolve_training_plan(config, len(encoded.train), model.config.hidden_size, run_dir)
    options = config.train
    write_run_files(layout, config, label_map.to_json())

    session = TrainingSession.start(model, config, len(encoded.train), layout.checkpoints, resume)
    state = session.state

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
    settings = loop_settings(options, session.total_steps, session.bf16)
    logger = TrainingLogger(layout.train_log, layout.tensorboard if options.tensorboard else None,
                            resume_from_step=state.step if resume else None)
    try:
        if config.privacy.dp_sgd:
            state = train_private_run(model, encoded.train, encoded.train_targets, pad_id=tokenizer.pad_token_id,
                                      optimizer=session.optimizer, scheduler=session.scheduler,
                                      total_steps=session.total_steps, config=config, run_dir=run_dir,
                                      logger=logger, device=session.device, bf16=session.bf16)
        else:
            objective = ExampleObjective(encoded.train_targets, class_weights, session.device)
            state = train_loop(model, encoded.train, objective, pad_id=tokenizer.pad_token_id,
                               optimizer=session.optimizer, scheduler=session.scheduler, settings=settings,
                               state=state, early_stopping=session.early_stopping, evaluate=validate,
                               checkpoints=layout.checkpoints, logger=logger, device=session.device,
                               on_step_end=on_step_end,
                               after_optimizer_step=METHODS[config.method].step_hook(model, config,
                                                                                     session.total_steps))
    finally:
        logger.close()

    load_trainable(model, layout.best / "trainable.safetensors")
    thresholds = None
    if label_map.multi_label:
        thresholds = tune_thresholds(validation_probabilities(), encoded.validation_targets)
        write_json(layout.labels, {**label_map.to_json(), "thresholds": thresholds.tolist()})
    save_model(model.eval(), tokenizer, layout.model, config.method)
    training = session.summary(config, state, len(splits.train))
    final = Predictor(model, tokenizer, label_map, config, thresholds, frozen=True)  # scores as the saved run will
    _evaluate_and_report(final, splits, layout, training, console)
    write_model_card(layout.root)
    return run_dir


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
    write_text(layout.report, report_header(config, training) + "\n".join(sections))
    shutil.rmtree(layout.checkpoints, ignore_errors=True)  # model/ holds the best weights; checkpoints are large
    write_json(layout.status, {"status": "completed"})
