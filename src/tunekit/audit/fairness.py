"""Fairness: counterfactual token swaps (does swapping "he" ↔ "she" change the prediction?) and, with group
labels, per-group metrics through Fairlearn's `MetricFrame`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score

from tunekit.data.counterfactual import SwapTable, swap_words

ProbabilityFn = Callable[[list[str]], np.ndarray]
EXAMPLES_SHOWN = 5


def counterfactual_flips(predict_proba: ProbabilityFn, classes: Sequence[Any], texts: Sequence[str],
                         table: SwapTable) -> dict:
    """Swap every listed word of every text for its counterpart and compare predictions.

    Only texts containing a listed word count. A text's direction is ``"<group>→<other>"`` after the group most of
    its swapped words belong to.

    Returns:
        ``texts_with_swaps``, ``flip_rate`` (share whose predicted label changes), ``mean_probability_shift``
        (mean total-variation distance between the two probability vectors), ``by_direction`` (the same two
        figures plus the mean signed change of each class's probability), and the ``examples`` that moved most.
    """
    originals, swapped, directions = [], [], []
    group_of = table.group_of
    for text in texts:
        new_text, words = swap_words(text, table)
        if words:
            originals.append(text)
            swapped.append(new_text)
            majority = round(float(np.mean([group_of[w] for w in words])))
            directions.append(f"{table.groups[majority]}→{table.groups[1 - majority]}")
    result: dict[str, Any] = {"groups": list(table.groups), "texts": len(texts), "texts_with_swaps": len(originals),
                              "flip_rate": 0.0, "mean_probability_shift": 0.0, "by_direction": {}, "examples": []}
    if not originals:
        return result
    before, after = np.asarray(predict_proba(originals)), np.asarray(predict_proba(swapped))
    flipped = before.argmax(axis=1) != after.argmax(axis=1)
    shift = 0.5 * np.abs(after - before).sum(axis=1)
    result.update(flip_rate=float(flipped.mean()), mean_probability_shift=float(shift.mean()))
    directions = np.asarray(directions)
    for direction in sorted(set(directions)):
        rows = directions == direction
        result["by_direction"][direction] = {
            "texts": int(rows.sum()), "flip_rate": float(flipped[rows].mean()),
            "mean_probability_shift": float(shift[rows].mean()),
            "mean_class_probability_change": {str(c): float((after - before)[rows, j].mean())
                                              for j, c in enumerate(classes)}}
    for i in np.argsort(-shift)[:EXAMPLES_SHOWN]:
        result["examples"].append({
            "original": originals[i], "swapped": swapped[i], "original_label": _plain(classes[before[i].argmax()]),
            "swapped_label": _plain(classes[after[i].argmax()]), "probability_shift": float(shift[i])})
    return result


def group_metrics(targets: np.ndarray, predicted: np.ndarray, groups: Sequence[Any], classes: Sequence[Any]) -> dict:
    """Per-group accuracy, and per class (one-vs-rest) selection rate, TPR and FPR, demographic-parity and
    equalised-odds differences (largest gap between groups), computed by Fairlearn."""
    targets, predicted, groups = np.asarray(targets), np.asarray(predicted), np.asarray([str(g) for g in groups])
    frame = MetricFrame(metrics=accuracy_score, y_true=targets, y_pred=predicted, sensitive_features=groups)
    result: dict[str, Any] = {"groups": {str(g): {"examples": int((groups == g).sum()),
                                                  "accuracy": float(frame.by_group[g])} for g in frame.by_group.index},
                              "accuracy_difference": float(frame.difference()), "per_class": {}}
    positive_classes = [1] if len(classes) == 2 else range(len(classes))  # binary: the second class is "positive"
    for j in positive_classes:
        y_true, y_pred = (targets == j).astype(int), (predicted == j).astype(int)
        by_group = MetricFrame(metrics={"selection_rate": selection_rate, "true_positive_rate": true_positive_rate,
                                        "false_positive_rate": false_positive_rate},
                               y_true=y_true, y_pred=y_pred, sensitive_features=groups).by_group
        result["per_class"][str(classes[j])] = {
            "by_group": {str(g): {k: float(v) for k, v in row.items()} for g, row in by_group.iterrows()},
            "demographic_parity_difference": float(demographic_parity_difference(y_true, y_pred,
                                                                                 sensitive_features=groups)),
            "equalized_odds_difference": float(equalized_odds_difference(y_true, y_pred, sensitive_features=groups))}
    gaps = result["per_class"].values()
    result["demographic_parity_difference"] = max(g["demographic_parity_difference"] for g in gaps)
    result["equalized_odds_difference"] = max(g["equalized_odds_difference"] for g in gaps)
    return result


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
