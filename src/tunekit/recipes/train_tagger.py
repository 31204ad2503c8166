"""Recipe: fine-tune a token classifier (named entities) and evaluate it, from a config to a finished run directory."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from rich.console import Console

from tunekit.atomic import write_json, write_text
from tunekit.config import RunConfig
from tunekit.data.align import align_tags, encode_words
from tunekit.data.prepare_tagged import TaggedSplits, load_tagged_splits
from tunekit.evaluation.entities import entity_metrics
from tunekit.evaluation.evaluate_tags import entity_markdown_section, evaluate_tagged_split, print_entity_summary
from tunekit.evaluation.report import report_header
from tunekit.inference.tagger import TagPredictor
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
from tunekit.training.loss import IGNORED_TOKEN, balanced_class_weights
from tunekit.training.objectives import TokenObjective
from tunekit.training.session import TrainingSession

log = logging.getLogger("tunekit")


def train_tagger(config: RunConfig, run_dir: Path, *, splits: TaggedSplits | None = None, resume: bool = False,
                 on_step_end: Callable[[TrainerState], None] | None = None, console: Console | None = None,
                 overwrite: bool = False) -> Path:
    """Train, pick the best validation checkpoint (entity micro-F1 by default), evaluate, write ``run_dir``.

    Args: as `tunekit.recipes.train_classifier.train_classifier`; ``splits`` are in-memory `TaggedSplits`.

    Raises:
        TunekitError: bad data, config, model or run directory, before any training starts.
    """
    layout = RunLayout(run_dir)
    prepare_run_dir(layout, resume, overwrite)
    torch.set_num_threads(config.train.num_threads or torch.get_num_threads())
    splits = splits or load_tagged_splits(config.data, config.tagging)
    model, model_dir = build_model(config, splits.tag_map)
    tokenizer = load_tokenizer(model_dir)
    check_sequence_length(config.data.max_seq_len, tokenizer, model)
    train = encode_words(tokenizer, splits.train.words, max_seq_len=config.data.max_seq_len)
    train_targets = align_tags(train, splits.tag_ids(splits.train), continuation=splits.continuation(),
                               label_all_subtokens=config.tagging.label_all_subtokens)
    config = resolve_training_plan(config, len(train), model.config.hidden_size, run_dir)
    options = config.train
    write_run_files(layout, config, splits.tag_map.to_json())

    session = TrainingSession.start(model, config, len(train), layout.checkpoints, resume)
    state = session.state

    def validate() -> dict:
        predicted = TagPredictor(model, tokenizer, splits.tag_map, config).predict(splits.validation.words)
        metrics = entity_metrics(splits.validation.tags, predicted)
        return {**metrics, "accuracy": metrics["token_accuracy"]}

    class_weights = None
    if options.class_weights == "balanced":
        labelled = np.concatenate([t[t != IGNORED_TOKEN] for t in train_targets])
        class_weights = balanced_class_weights(labelled, splits.tag_map.num_labels)
    logger = TrainingLogger(layout.train_log, layout.tensorboard if options.tensorboard else None,
                            resume_from_step=state.step if resume else None)
    try:
        state = train_loop(model, train.texts, TokenObjective(train_targets, class_weights, session.device),
                           pad_id=tokenizer.pad_token_id, optimizer=session.optimizer, scheduler=session.scheduler,
                           settings=loop_settings(options, session.total_steps, session.bf16), state=state,
                           early_stopping=session.early_stopping, evaluate=validate, checkpoints=layout.checkpoints,
                           logger=logger, device=session.device, on_step_end=on_step_end,
                           after_optimizer_step=METHODS[config.method].step_hook(model, config, session.total_steps))
    finally:
        logger.close()

    load_trainable(model, layout.best / "trainable.safetensors")
    save_model(model.eval(), tokenizer, layout.model, config.method)
    training = session.summary(config, state, len(splits.train))
    final = TagPredictor(model, tokenizer, splits.tag_map, config, frozen=True)  # scores as the saved run will
    _evaluate_and_report(final, splits, layout, training, console)
    write_model_card(layout.root)
    return run_dir


def _evaluate_and_report(predictor: TagPredictor, splits: TaggedSplits, layout: RunLayout, training: dict,
                         console: Console | None) -> None:
    """Evaluate validation and test splits; write metrics.json, report.md, predictions and plots; mark the run
    completed."""
    results: dict = {"training": training}
    sections = []
    for name, split in (("validation", splits.validation), ("test", splits.test)):
        if split is None:
            continue
        results[name] = evaluate_tagged_split(predictor, split, layout.root, name)
        sections.append(entity_markdown_section(f"{name} — {split.source}", results[name]))
        if console is not None:
            print_entity_summary(results[name], f"{name}: {split.source}", console)
    write_json(layout.metrics, results)
    write_text(layout.report, report_header(predictor.config, training) + "\n".join(sections))
    shutil.rmtree(layout.checkpoints, ignore_errors=True)  # model/ holds the best weights; checkpoints are large
    write_json(layout.status, {"status": "completed"})
