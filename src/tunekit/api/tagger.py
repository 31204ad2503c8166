"""`TokenTagger`: the scikit-learn-style Python API for named-entity recognition over the tagger recipe."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from tunekit.api.run_directory import copy_run_dir, extra_overrides
from tunekit.config import RunConfig, config_from_dict, load_config, set_dotted
from tunekit.data.iob import split_tag, to_iob2
from tunekit.data.prepare_tagged import make_tagged_splits
from tunekit.data.tagged import TaggedSentences
from tunekit.errors import DataError
from tunekit.evaluation.entities import entity_metrics
from tunekit.inference.tagger import TagPredictor
from tunekit.recipes.train_tagger import train_tagger
from tunekit.run.layout import RunLayout

Sentences = Sequence[Sequence[str]]


class TokenTagger(BaseEstimator):
    """Fine-tune a pretrained encoder to tag words (named entities, IOB2).

    ``X`` is a list of sentences, each a list of words; ``y`` one tag list per sentence (IOB1 or IOB2). The
    fitted model lives in a run directory identical to the CLI's (`task: token_classification`).

    Args:
        model: a model alias (`tunekit models`), a local model directory, or a hub id.
        method: an adaptation method (`tunekit options` lists them), e.g. ``"full"`` or ``"lora"``.
        epochs: passes over the data; None picks them from the data size.
        batch_size: sentences per step.
        learning_rate: peak learning rate; None uses the method's default.
        max_seq_len: sub-words per example; longer sentences are split at word boundaries.
        label_all_subtokens: train on every sub-word of a word, not only the first.
        validation_size: share of the sentences held out to pick the best checkpoint.
        random_state: seed for the split, initialisation, shuffling and dropout.
        output_dir: where the run directory goes; None uses a temporary directory.
        config_overrides: any further option by dotted name, e.g. ``{"lora.r": 8}``.
        verbose: show the progress bar and log lines.
    """

    def __init__(self, model: str = "minilm-l6", method: str = "full", epochs: int | None = None,
                 batch_size: int = 32, learning_rate: float | None = None, max_seq_len: int = 128,
                 label_all_subtokens: bool = False, validation_size: float = 0.1, random_state: int = 0,
                 output_dir: str | None = None, config_overrides: dict | None = None, verbose: bool = False) -> None:
        self.model = model
        self.method = method
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.max_seq_len = max_seq_len
        self.label_all_subtokens = label_all_subtokens
        self.validation_size = validation_size
        self.random_state = random_state
        self.output_dir = output_dir
        self.config_overrides = config_overrides
        self.verbose = verbose

    def _config(self) -> RunConfig:
        raw = {
            "task": "token_classification",
            "model": {"name": self.model},
            "method": self.method,
            "data": {"max_seq_len": self.max_seq_len, "validation_size": self.validation_size,
                     "split_seed": self.random_state},
            "tagging": {"label_all_subtokens": self.label_all_subtokens},
            "train": {"epochs": self.epochs, "batch_size": self.batch_size, "learning_rate": self.learning_rate,
                      "seed": self.random_state, "progress_bar": self.verbose, "tensorboard": self.verbose},
            "output_dir": self.output_dir,
        }
        for key, value in (self.config_overrides or {}).items():
            set_dotted(raw, key, value)
        return config_from_dict(raw)

    def fit(self, X: Sentences, y: Sentences) -> TokenTagger:
        """Fine-tune on sentences ``X`` (lists of words) and their tags ``y``. Returns self."""
        config = self._config()
        data = _as_tagged(X, y)
        splits = make_tagged_splits(data, None, None, config.data)
        run_dir = Path(self.output_dir) if self.output_dir else Path(tempfile.mkdtemp(prefix="tunekit-"))
        train_tagger(config, run_dir, splits=splits, overwrite=True, console=Console() if self.verbose else None)
        return self._attach(run_dir)

    def _attach(self, run_dir: Path) -> TokenTagger:
        self.run_dir_ = run_dir
        self.predictor_ = TagPredictor.from_run_dir(run_dir)
        self.classes_ = self.predictor_.classes
        return self

    def predict(self, X: Sentences) -> list[list[str]]:
        """One IOB2 tag per word of each sentence."""
        check_is_fitted(self, "predictor_")
        return self.predictor_.predict(_as_sentences(X))

    def extract(self, text: str | Sequence[str]) -> list[dict[str, Any]] | list[list[dict[str, Any]]]:
        """Entities of raw text as ``{"text", "label", "start", "end", "score"}`` (``text == raw[start:end]``).

        A single string gives its list of entities; a list of strings gives one list per string.
        """
        check_is_fitted(self, "predictor_")
        if isinstance(text, str):
            return self.predictor_.extract([text])[0]
        return self.predictor_.extract(list(text))

    def score(self, X: Sentences, y: Sentences) -> float:
        """Entity-level micro F1 (seqeval, strict IOB2)."""
        gold = _check_tags(_as_sentences(X), y)
        return float(entity_metrics(gold, self.predict(X))["micro_f1"])

    def save(self, path: str | Path) -> Path:
        """Copy the run directory to ``path`` (which must not hold anything yet), atomically."""
        check_is_fitted(self, "predictor_")
        return copy_run_dir(self.run_dir_, path)

    @classmethod
    def load(cls, path: str | Path) -> TokenTagger:
        """Load a tagger run directory written by ``save`` or by ``tunekit train``."""
        layout = RunLayout(Path(path)).require_finished()
        config = load_config(layout.config)
        estimator = cls(model=config.model.name, method=config.method, epochs=config.train.epochs,
                        batch_size=config.train.batch_size, learning_rate=config.train.learning_rate,
                        max_seq_len=config.data.max_seq_len, label_all_subtokens=config.tagging.label_all_subtokens,
                        validation_size=config.data.validation_size, random_state=config.train.seed,
                        verbose=config.train.progress_bar)
        estimator.config_overrides = extra_overrides(config, estimator._config())
        return estimator._attach(Path(path))


def _as_sentences(X: Sentences) -> list[list[str]]:
    if isinstance(X, str) or (len(X) and isinstance(X[0], str)):
        raise DataError("X must be a list of sentences, each a list of words",
                        'wrap it: tagger.predict([["John", "lives", "in", "Paris"]]), or use tagger.extract(text)')
    return [[str(w) for w in sentence] for sentence in X]


def _check_tags(words: list[list[str]], y: Sentences) -> list[list[str]]:
    tags = [[str(t) for t in sentence] for sentence in y]
    if len(tags) != len(words):
        raise DataError(f"{len(words)} sentences but {len(tags)} tag lists", "pass one tag list per sentence")
    for i, (w, t) in enumerate(zip(words, tags, strict=True)):
        if len(w) != len(t):
            raise DataError(f"sentence {i + 1} has {len(w)} words but {len(t)} tags", "give exactly one tag per word")
        for tag in t:
            split_tag(tag)
    return [to_iob2(t) for t in tags]


def _as_tagged(X: Sentences, y: Sentences) -> TaggedSentences:
    words = _as_sentences(X)
    if not words:
        raise DataError("no training sentences", "pass at least a few tagged sentences")
    return TaggedSentences(words=words, tags=_check_tags(words, y), source="fit data")
