"""`TextClassifier`: the scikit-learn-style Python API over the training recipe and `Predictor`."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.utils.validation import check_is_fitted

from tunekit.api.run_directory import copy_run_dir, extra_overrides
from tunekit.config import RunConfig, config_from_dict, load_config, set_dotted
from tunekit.data.examples import LabeledTexts, check_texts
from tunekit.data.prepare import make_splits
from tunekit.errors import DataError
from tunekit.inference.predictor import Predictor
from tunekit.recipes.train_classifier import train_classifier
from tunekit.run.layout import RunLayout

Texts = Sequence[str] | Sequence[tuple[str, str]]


class TextClassifier(ClassifierMixin, BaseEstimator):
    """Fine-tune a pretrained encoder on labeled texts.

    Every argument has a default; ``fit`` is all a user must call. The fitted model lives in a run
    directory identical to the CLI's, so ``save``/``load`` and ``tunekit evaluate``/``predict`` interoperate.

    Args:
        model: a model alias (`tunekit models`), a local model directory, or a hub id.
        method: ``"full"`` fine-tuning or ``"lora"``.
        epochs: passes over the data; None picks them from the data size.
        batch_size: examples per step.
        learning_rate: peak learning rate; None uses the method's default.
        max_seq_len: tokens per text (longer ones are truncated).
        multi_label: ``y`` holds a list of labels per text.
        class_weights: ``"balanced"`` to weight rare classes up.
        validation_size: share of the data held out to pick the best checkpoint.
        random_state: seed for the split, initialisation, shuffling and dropout.
        output_dir: where the run directory goes; None uses a temporary directory.
        config_overrides: any further option by dotted name, e.g. ``{"lora.r": 8}``.
        verbose: show the progress bar and log lines.
    """

    def __init__(self, model: str = "minilm-l6", method: str = "full", epochs: int | None = None,
                 batch_size: int = 32, learning_rate: float | None = None, max_seq_len: int = 128,
                 multi_label: bool = False, class_weights: str = "none", validation_size: float = 0.1,
                 random_state: int = 0, output_dir: str | None = None, config_overrides: dict | None = None,
                 verbose: bool = False) -> None:
        self.model = model
        self.method = method
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.max_seq_len = max_seq_len
        self.multi_label = multi_label
        self.class_weights = class_weights
        self.validation_size = validation_size
        self.random_state = random_state
        self.output_dir = output_dir
        self.config_overrides = config_overrides
        self.verbose = verbose

    def _config(self) -> RunConfig:
        raw = {
            "model": {"name": self.model},
            "method": self.method,
            "data": {"multi_label": self.multi_label, "max_seq_len": self.max_seq_len,
                     "validation_size": self.validation_size, "split_seed": self.random_state},
            "train": {"epochs": self.epochs, "batch_size": self.batch_size, "learning_rate": self.learning_rate,
                      "class_weights": self.class_weights, "seed": self.random_state,
                      "progress_bar": self.verbose, "tensorboard": self.verbose},
            "output_dir": self.output_dir,
        }
        for key, value in (self.config_overrides or {}).items():
            set_dotted(raw, key, value)
        return config_from_dict(raw)

    def fit(self, X: Texts, y: Sequence[Any]) -> TextClassifier:
        """Fine-tune on texts ``X`` (or (text, pair) tuples) and labels ``y``. Returns self."""
        config = self._config()
        data = _as_labeled(X, y, "fit data")
        splits = make_splits(data, None, None, config.data)
        run_dir = Path(self.output_dir) if self.output_dir else Path(tempfile.mkdtemp(prefix="tunekit-"))
        train_classifier(config, run_dir, splits=splits, overwrite=True,
                         console=Console() if self.verbose else None)
        return self._attach(run_dir)

    def _attach(self, run_dir: Path) -> TextClassifier:
        self.run_dir_ = run_dir
        self.predictor_ = Predictor.from_run_dir(run_dir)
        self.classes_ = np.array(self.predictor_.classes)
        return self

    def predict_proba(self, X: Texts) -> np.ndarray:
        """``(n_texts, n_classes)`` probabilities, columns in ``classes_`` order."""
        check_is_fitted(self, "predictor_")
        texts, pairs = _split_pairs(X)
        return self.predictor_.predict_proba(texts, pairs)

    def predict(self, X: Texts) -> list[Any]:
        """A label from ``classes_`` per text (a list of labels per text for multi-label models)."""
        check_is_fitted(self, "predictor_")
        return self.predictor_.labels_from_probabilities(self.predict_proba(X))

    def explain(self, X: Sequence[str], method: str = "integrated_gradients") -> list[dict]:
        """Token attributions per text: ``tokens``, ``attributions``, ``label`` (explained), ``method``.

        ``method``: ``"integrated_gradients"`` (with the completeness ``delta``) or ``"occlusion"`` (model-agnostic).
        """
        from tunekit.recipes.explain_texts import explain_predictor  # captum loads only when explaining

        check_is_fitted(self, "predictor_")
        if method not in ("integrated_gradients", "occlusion"):
            raise DataError(f"unknown explanation method {method!r}", "use integrated_gradients or occlusion")
        return explain_predictor(self.predictor_, check_texts(list(X), "X"), method)

    def score(self, X: Texts, y: Sequence[Any], sample_weight=None) -> float:
        """Accuracy (exact-match accuracy for multi-label models)."""
        predicted = self.predict(X)
        if self.predictor_.label_map.multi_label:
            return float(np.mean([set(p) == set(t) for p, t in zip(predicted, y, strict=True)]))
        return float(accuracy_score(list(y), predicted, sample_weight=sample_weight))

    def save(self, path: str | Path) -> Path:
        """Copy the run directory to ``path`` (which must not hold anything yet), atomically.

        Raises:
            RunDirError: ``path`` exists and is not empty.
        """
        check_is_fitted(self, "predictor_")
        return copy_run_dir(self.run_dir_, path)

    @classmethod
    def load(cls, path: str | Path) -> TextClassifier:
        """Load a run directory written by ``save`` or by ``tunekit train``."""
        layout = RunLayout(Path(path)).require_finished()
        config = load_config(layout.config)
        estimator = cls(model=config.model.name, method=config.method, epochs=config.train.epochs,
                        batch_size=config.train.batch_size, learning_rate=config.train.learning_rate,
                        max_seq_len=config.data.max_seq_len, multi_label=config.data.multi_label,
                        class_weights=config.train.class_weights, validation_size=config.data.validation_size,
                        random_state=config.train.seed, verbose=config.train.progress_bar)
        estimator.config_overrides = extra_overrides(config, estimator._config())
        return estimator._attach(Path(path))


def _split_pairs(X: Texts) -> tuple[list[str], list[str] | None]:
    items = list(X)
    if isinstance(X, str):
        raise DataError("X is a single string", "pass a list of texts, e.g. clf.predict([text])")
    if items and isinstance(items[0], tuple | list):
        bad = [i for i, item in enumerate(items) if not isinstance(item, tuple | list) or len(item) != 2]
        if bad:
            raise DataError(f"X mixes (text, pair) tuples with other items, e.g. row {bad[0] + 1}: "
                            f"{str(items[bad[0]])[:40]!r}", "pass all texts, or all (text, pair) tuples")
        return check_texts([a for a, _ in items], "X"), check_texts([b for _, b in items], "X", "text pair")
    return check_texts(items, "X"), None


def _as_labeled(X: Texts, y: Sequence[Any], source: str) -> LabeledTexts:
    texts, pairs = _split_pairs(X)
    labels = list(y)
    if len(labels) != len(texts):
        raise DataError(f"{len(texts)} texts but {len(labels)} labels", "pass one label per text")
    if not texts:
        raise DataError("no training texts", "pass at least a few examples per label")
    data = LabeledTexts(texts=texts, labels=labels, pairs=pairs, source=source)
    return data
