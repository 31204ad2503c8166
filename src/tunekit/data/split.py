"""Seeded stratified splits."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from tunekit.errors import DataError


def stratified_split(labels: Sequence[Any], holdout_fraction: float, seed: int,
                     what: str = "validation") -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (kept, held out), preserving label proportions.

    Multi-label rows are stratified by their first label.

    Raises:
        DataError: a class has a single example, so it cannot appear on both sides.
    """
    keys = [str(label[0]) if isinstance(label, list | tuple) and label else str(label) for label in labels]
    counts = Counter(keys)
    lonely = sorted(k for k, n in counts.items() if n < 2)
    if lonely:
        raise DataError(
            f"cannot hold out a stratified {what} split: {len(lonely)} classes have a single example "
            f"({', '.join(lonely[:5])})",
            f"add examples of those classes, or supply `data.{what}` as a separate file",
        )
    indices = np.arange(len(keys))
    n_holdout = max(int(round(holdout_fraction * len(keys))), len(counts))
    if n_holdout >= len(keys) - len(counts) + 1:
        raise DataError(f"{len(keys)} examples are too few to hold out a {what} split over {len(counts)} classes",
                        f"supply `data.{what}` as a separate file or add training data")
    kept, held = train_test_split(indices, test_size=n_holdout, random_state=seed, stratify=keys)
    return np.sort(kept), np.sort(held)
