"""Group-aware decision thresholds (Hardt et al. 2016, arXiv:1610.02413) through Fairlearn's `ThresholdOptimizer`:
a post-processing mitigation for binary classifiers when group labels exist.

The thresholds are fitted on one half of the labeled audit data and judged on the other half, so the report shows
what the mitigation would do on unseen data, not on the data it was fitted to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference
from fairlearn.postprocessing import ThresholdOptimizer
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split


class _PositiveScore(ClassifierMixin, BaseEstimator):
    """An already-fitted "estimator" whose input is the model's positive-class probability, ``X (n, 1)``."""

    def fit(self, X, y):  # noqa: N803 (scikit-learn's argument names)
        self.classes_ = np.array([0, 1])
        return self

    def predict(self, X):  # noqa: N803
        return np.asarray(X)[:, 0]


def fit_group_thresholds(positive_probability: np.ndarray, targets: np.ndarray, groups: Sequence[Any],
                         constraint: str = "demographic_parity") -> ThresholdOptimizer:
    """Per-group thresholds on the positive-class probability that satisfy ``constraint`` at best accuracy."""
    optimizer = ThresholdOptimizer(estimator=_PositiveScore().fit(None, None), constraints=constraint,
                                   predict_method="predict", prefit=True)
    return optimizer.fit(np.asarray(positive_probability).reshape(-1, 1), np.asarray(targets),
                         sensitive_features=np.asarray([str(g) for g in groups]))


def _scores(targets: np.ndarray, predicted: np.ndarray, groups: np.ndarray) -> dict:
    return {"accuracy": float((predicted == targets).mean()),
            "demographic_parity_difference": float(demographic_parity_difference(targets, predicted,
                                                                                 sensitive_features=groups)),
            "equalized_odds_difference": float(equalized_odds_difference(targets, predicted,
                                                                         sensitive_features=groups))}


def threshold_optimizer_effect(positive_probability: np.ndarray, targets: np.ndarray, groups: Sequence[Any],
                               constraint: str = "demographic_parity", seed: int = 0) -> dict:
    """Fit group thresholds on half the data; accuracy and group gaps on the other half, before and after.

    Args:
        positive_probability: ``(n,)`` the model's probability of the positive class (id 1).
        targets: ``(n,)`` 0/1 labels.
        groups: one group label per example.
        constraint: a Fairlearn constraint (``demographic_parity``, ``equalized_odds``, …).
    """
    groups = np.asarray([str(g) for g in groups])
    targets = np.asarray(targets)
    fit_rows, test_rows = train_test_split(np.arange(len(targets)), test_size=0.5, random_state=seed,
                                           stratify=groups if min(np.unique(groups, return_counts=True)[1]) > 1
                                           else None)
    optimizer = fit_group_thresholds(positive_probability[fit_rows], targets[fit_rows], groups[fit_rows], constraint)
    before = (positive_probability[test_rows] >= 0.5).astype(int)
    after = optimizer.predict(positive_probability[test_rows].reshape(-1, 1), sensitive_features=groups[test_rows],
                              random_state=seed)
    return {"constraint": constraint, "fitted_on": len(fit_rows), "evaluated_on": len(test_rows),
            "before": _scores(targets[test_rows], before, groups[test_rows]),
            "after": _scores(targets[test_rows], np.asarray(after).astype(int), groups[test_rows])}
