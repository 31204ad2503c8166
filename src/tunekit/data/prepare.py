"""From `DataConfig` to train/validation/test `LabeledTexts` and a fitted `LabelMap`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from tunekit.config.schema import DataConfig
from tunekit.data.examples import LabeledTexts, from_frame
from tunekit.data.labels import LabelMap, split_multi_label
from tunekit.data.readers import read_table
from tunekit.data.split import stratified_split
from tunekit.errors import DataError

log = logging.getLogger("tunekit")


@dataclass
class DataSplits:
    train: LabeledTexts
    validation: LabeledTexts
    test: LabeledTexts | None
    label_map: LabelMap


def load_labeled(path: str, config: DataConfig, *, require_labels: bool = True) -> LabeledTexts:
    """Read one file or folder with the configured column mapping."""
    text_columns = tuple(c for c in (config.text_column, config.text_pair_column) if c)
    frame = read_table(path, encoding=config.encoding, tsv_quoting=config.tsv_quoting, text_columns=text_columns)
    label_column = config.label_column if require_labels or config.label_column in frame.columns else None
    return from_frame(frame, text_column=config.text_column, label_column=label_column,
                      text_pair_column=config.text_pair_column, source=str(path))


def load_splits(config: DataConfig) -> DataSplits:
    """Read the configured files, hold out stratified splits where files are missing, fit the label map.

    Raises:
        DataError: no training data, or any problem `load_labeled` and `LabelMap.encode` detect.
    """
    if config.train is None:
        raise DataError("no training data given", "set `data.train` to a file or folder, e.g. data.train=train.csv")
    train = load_labeled(config.train, config)
    test = load_labeled(config.test, config) if config.test else None
    validation = load_labeled(config.validation, config) if config.validation else None
    return make_splits(train, validation, test, config, hold_out_test=validation is None and test is None)


def run_splits(config: DataConfig) -> DataSplits | None:
    """The seeded splits a finished run trained and validated on, re-read from its files; None when its training
    data is not on this machine (or was given in memory, through the Python API)."""
    if not config.train or not Path(config.train).exists():
        return None
    return load_splits(config)


def make_splits(train: LabeledTexts, validation: LabeledTexts | None, test: LabeledTexts | None,
                config: DataConfig, *, hold_out_test: bool = False) -> DataSplits:
    """Hold out what is missing (stratified), fit the label map on train, check the other splits' labels.

    Raises:
        DataError: a split's label never occurs in training, or a class too small to split.
    """
    if hold_out_test:
        train, test = _hold_out(train, config.test_size, "test", config)
    if validation is None:
        train, validation = _hold_out(train, config.validation_size, "validation", config)
    label_map = LabelMap.fit(train.labels, multi_label=config.multi_label, delimiter=config.label_delimiter)
    for split in (validation, test):
        if split is not None:  # fail now, not after training, on labels the model cannot know
            label_map.encode(split.labels, source=split.source, delimiter=config.label_delimiter)
            warn_on_overlap(train, split)
    return DataSplits(train=train, validation=validation, test=test, label_map=label_map)


def _hold_out(data: LabeledTexts, fraction: float, what: str,
              config: DataConfig) -> tuple[LabeledTexts, LabeledTexts]:
    labels = data.labels
    if config.multi_label:  # as lists, so `a|b` and '["a", "b"]' cells stratify by their first label too
        labels = [split_multi_label(cell, config.label_delimiter) for cell in labels]
    kept, held = stratified_split(labels, fraction, config.split_seed, what=what)
    rest, part = data.subset(kept), data.subset(held)
    part.source = f"{data.source} ({what} split, {fraction:.0%}, seed {config.split_seed})"
    return rest, part


def warn_on_overlap(train: LabeledTexts, other: LabeledTexts) -> int:
    """Warn when texts of ``other`` also occur in the training data; returns how many do."""
    pairs = train.pairs or [None] * len(train)
    seen = set(zip(train.texts, pairs, strict=True))
    other_pairs = other.pairs or [None] * len(other)
    shared = sum((t, p) in seen for t, p in zip(other.texts, other_pairs, strict=True))
    if shared:
        log.warning("%d of %d examples in %s also occur in the training data; its scores will be optimistic",
                    shared, len(other), other.source)
    return shared
