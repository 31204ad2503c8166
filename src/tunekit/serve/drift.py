"""Drift of what the service sees against what the model was trained on: population stability index (PSI).

PSI = sum over bins of (a - e) * ln(a / e), with ``a`` the recent share and ``e`` the reference share of a bin.
Common reading: below 0.1 stable, 0.1-0.25 moderate shift, above 0.25 a large shift.
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tunekit.atomic import read_json

log = logging.getLogger(__name__)
EPSILON = 1e-4  # floor on a bin's share: an empty bin would make ln(a / e) infinite
LENGTH_BINS = 10


def population_stability_index(actual: np.ndarray, expected: np.ndarray) -> float:
    """PSI between two distributions over the same bins (counts or shares; each is normalised)."""
    actual = np.maximum(np.asarray(actual, dtype=float) / max(np.sum(actual), 1e-12), EPSILON)
    expected = np.maximum(np.asarray(expected, dtype=float) / max(np.sum(expected), 1e-12), EPSILON)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


@dataclass(frozen=True)
class Reference:
    """The training-time distributions: label shares (by label name) and input-length bin edges and shares."""

    label_shares: dict[str, float] | None
    length_edges: np.ndarray | None  # interior bin edges in characters, ascending
    length_shares: np.ndarray | None  # (len(length_edges) + 1,)

    def label_psi(self, recent_labels: Iterable[str]) -> float | None:
        if not self.label_shares:
            return None
        counts = Counter(recent_labels)
        if not counts:
            return None
        names = list(self.label_shares)
        actual = np.array([counts.get(name, 0) for name in names], dtype=float)
        return population_stability_index(actual, np.array([self.label_shares[n] for n in names]))

    def length_psi(self, recent_lengths: Sequence[int]) -> float | None:
        if self.length_edges is None or not len(recent_lengths):
            return None
        bins = np.searchsorted(self.length_edges, np.asarray(recent_lengths), side="right")
        actual = np.bincount(bins, minlength=len(self.length_shares))
        return population_stability_index(actual, self.length_shares)


def length_reference(lengths: Sequence[int], bins: int = LENGTH_BINS) -> tuple[np.ndarray, np.ndarray]:
    """Quantile bin edges of reference lengths and each bin's share."""
    lengths = np.asarray(lengths)
    edges = np.unique(np.quantile(lengths, np.linspace(0, 1, bins + 1)[1:-1]))
    shares = np.bincount(np.searchsorted(edges, lengths, side="right"), minlength=len(edges) + 1)
    return edges, shares / shares.sum()


def reference_from_run(run_dir: Path) -> Reference:
    """Label shares from the validation split's class support (held out from the training data, stratified),
    input lengths from the texts in ``validation_predictions.csv``; either is None when the run lacks it."""
    label_shares = None
    metrics_path = run_dir / "metrics.json"
    if metrics_path.is_file():
        per_class = read_json(metrics_path).get("validation", {}).get("per_class") or {}
        support = {str(name): float(row.get("support", 0)) for name, row in per_class.items()
                   if isinstance(row, dict)}
        total = sum(support.values())
        label_shares = {name: count / total for name, count in support.items()} if total else None
    edges = shares = None
    texts_path = run_dir / "validation_predictions.csv"
    if texts_path.is_file():
        with open(texts_path, encoding="utf-8", newline="") as handle:
            lengths = [len(row["text"]) for row in csv.DictReader(handle) if row.get("text")]
        if lengths:
            edges, shares = length_reference(lengths)
    if label_shares is None or edges is None:
        log.info("%s lacks validation %s: that drift is not monitored", run_dir,
                 "labels" if label_shares is None else "texts")
    return Reference(label_shares, edges, shares)
