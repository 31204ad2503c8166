"""From `DataConfig` + `TaggingConfig` to train/validation/test `TaggedSentences` and a fitted tag map."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tunekit.config.schema import DataConfig, TaggingConfig
from tunekit.data.iob import OUTSIDE, split_tag
from tunekit.data.labels import LabelMap
from tunekit.data.tagged import TaggedSentences, entity_types, read_tagged
from tunekit.errors import DataError


@dataclass
class TaggedSplits:
    train: TaggedSentences
    validation: TaggedSentences
    test: TaggedSentences | None
    tag_map: LabelMap

    def tag_ids(self, split: TaggedSentences) -> list[np.ndarray]:
        """Per sentence, ``(n_words,)`` tag ids."""
        index = {tag: i for i, tag in enumerate(self.tag_map.classes)}
        return [np.array([index[t] for t in tags], dtype=np.int64) for tags in split.tags or []]

    def continuation(self) -> np.ndarray:
        """``(num_tags,)``: the tag id a word's later sub-words get (``B-X`` → ``I-X``; others unchanged)."""
        classes = list(self.tag_map.classes)
        return np.array([classes.index(f"I-{t[2:]}") if t.startswith("B-") and f"I-{t[2:]}" in classes else i
                         for i, t in enumerate(classes)], dtype=np.int64)


def load_tagged(path: str, data: DataConfig, tagging: TaggingConfig) -> TaggedSentences:
    return read_tagged(path, encoding=data.encoding, tokens_key=tagging.tokens_column, tags_key=tagging.tags_column,
                       text_key=data.text_column, entities_key=tagging.entities_column)


def load_tagged_splits(data: DataConfig, tagging: TaggingConfig) -> TaggedSplits:
    """Read the configured files, hold out random sentence splits where files are missing, fit the tag map.

    Raises:
        DataError: no training data, unlabeled training data, or a tag in validation/test never seen in training.
    """
    if data.train is None:
        raise DataError("no training data given", "set `data.train` to a CoNLL or JSONL file")
    train = load_tagged(data.train, data, tagging)
    validation = load_tagged(data.validation, data, tagging) if data.validation else None
    test = load_tagged(data.test, data, tagging) if data.test else None
    return make_tagged_splits(train, validation, test, data, hold_out_test=validation is None and test is None)


def make_tagged_splits(train: TaggedSentences, validation: TaggedSentences | None, test: TaggedSentences | None,
                       data: DataConfig, *, hold_out_test: bool = False) -> TaggedSplits:
    """Hold out what is missing (seeded), fit the tag map on train, check the other splits' tags."""
    for split in (train, validation, test):
        if split is not None and split.tags is None:
            raise DataError(f"{split.source} has no tags", "give every sentence its tags (or entities)")
    if hold_out_test:
        train, test = _hold_out(train, data.test_size, "test", data.split_seed)
    if validation is None:
        train, validation = _hold_out(train, data.validation_size, "validation", data.split_seed)
    types = entity_types(train.tags)
    if not types:
        raise DataError(f"{train.source} has no entities (every tag is O)", "tag some entities to learn from")
    tags = {OUTSIDE} | {f"{prefix}-{t}" for t in types for prefix in "BI"}  # I-X even if X never spans two words
    tag_map = LabelMap(classes=tuple(sorted(tags, key=lambda t: (split_tag(t)[1], t))))
    for split in (validation, test):
        if split is None:
            continue
        unknown = {tag for sentence in split.tags for tag in sentence} - tags
        if unknown:
            raise DataError(f"{split.source} has tags never seen in training: {', '.join(sorted(unknown))}",
                            "add training sentences with these entity types, or retag them as O")
    return TaggedSplits(train=train, validation=validation, test=test, tag_map=tag_map)


def _hold_out(data: TaggedSentences, fraction: float, what: str,
              seed: int) -> tuple[TaggedSentences, TaggedSentences]:
    order = np.random.default_rng(seed).permutation(len(data))
    n_held = max(1, round(fraction * len(data)))
    if len(data) - n_held < 1:
        raise DataError(f"{data.source} has too few sentences ({len(data)}) to hold out a {what} split",
                        f"add sentences, or give `data.{what}` a file of its own")
    held, kept = sorted(order[:n_held].tolist()), sorted(order[n_held:].tolist())
    part = data.subset(held)
    part.source = f"{data.source} ({what} split, {fraction:.0%}, seed {seed})"
    return data.subset(kept), part
