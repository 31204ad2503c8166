"""Predictors with known behaviour for the explain and audit tests: texts → probabilities, no model."""

from __future__ import annotations

import numpy as np


class KeywordPredictor:
    """P(positive) rises with each positive cue word and falls with each negative one: a planted, known rule."""

    classes = ["negative", "positive"]

    def __init__(self, positive=("great",), negative=("awful",), weight: float = 3.0) -> None:
        self.positive, self.negative, self.weight = set(positive), set(negative), weight

    def predict_proba(self, texts) -> np.ndarray:
        scores = []
        for text in texts:
            words = text.lower().split()
            hits = sum(w in self.positive for w in words) - sum(w in self.negative for w in words)
            scores.append(self.weight * hits)
        p = 1 / (1 + np.exp(-np.asarray(scores, dtype=float)))
        return np.stack([1 - p, p], axis=1)


class ConstantPredictor:
    """Ignores its input: nothing should be attributed to, or change, its output."""

    classes = ["negative", "positive"]

    def predict_proba(self, texts) -> np.ndarray:
        return np.tile([0.3, 0.7], (len(texts), 1))
