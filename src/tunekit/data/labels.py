"""Stable label ids for single- and multi-label data."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunekit.errors import DataError


@dataclass(frozen=True)
class LabelMap:
    """The classes in a fixed order: id ``i`` is ``classes[i]``.

    Classes are sorted (numerically for integer labels), so the same data always gives the same ids.
    """

    classes: tuple[Any, ...]
    multi_label: bool = False

    @classmethod
    def fit(cls, labels: Sequence[Any], *, multi_label: bool = False, delimiter: str | None = None) -> LabelMap:
        if multi_label:
            found = {label for cell in labels for label in split_multi_label(cell, delimiter)}
        else:
            found = {_scalar(label) for label in labels}
        if len(found) < 2 and not multi_label:
            raise DataError(f"the training data has only one label ({next(iter(found), None)!r})",
                            "a classifier needs examples of at least two labels")
        return cls(classes=tuple(_sorted(found)), multi_label=multi_label)

    @property
    def num_labels(self) -> int:
        return len(self.classes)

    def encode(self, labels: Sequence[Any], *, source: str = "data", delimiter: str | None = None) -> np.ndarray:
        """Label ids ``(n,)`` int64, or multi-hot ``(n, num_labels)`` float32 for multi-label data.

        Raises:
            DataError: a label never seen in the training data.
        """
        index = {label: i for i, label in enumerate(self.classes)}
        if self.multi_label:
            encoded = np.zeros((len(labels), self.num_labels), dtype=np.float32)
            for row, cell in enumerate(labels):
                for label in split_multi_label(cell, delimiter):
                    encoded[row, self._lookup(index, label, source)] = 1.0
            return encoded
        return np.array([self._lookup(index, _scalar(label), source) for label in labels], dtype=np.int64)

    def _lookup(self, index: dict[Any, int], label: Any, source: str) -> int:
        if label in index:
            return index[label]
        if isinstance(label, str) and label.strip().lstrip("-").isdigit() and int(label) in index:
            return index[int(label)]
        if str(label) in index:
            return index[str(label)]
        raise DataError(f"{source} has the label {label!r}, which never occurs in the training data "
                        f"(known labels: {', '.join(map(repr, self.classes[:20]))})",
                        "remove those rows, or add examples of that label to the training data")

    def decode(self, ids: Sequence[int]) -> list[Any]:
        return [self.classes[i] for i in ids]

    def to_json(self) -> dict[str, Any]:
        return {"classes": list(self.classes), "multi_label": self.multi_label}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabelMap:
        return cls(classes=tuple(data["classes"]), multi_label=bool(data["multi_label"]))


def split_multi_label(cell: Any, delimiter: str | None) -> list[Any]:
    """Labels of one multi-label cell: a list, a JSON list string, or ``delimiter``-separated text."""
    if isinstance(cell, list | tuple | np.ndarray):
        return [_scalar(v) for v in cell]
    if isinstance(cell, str):
        stripped = cell.strip()
        if stripped.startswith("["):
            try:
                return [_scalar(v) for v in json.loads(stripped)]
            except json.JSONDecodeError:
                pass
        if delimiter is None:
            return [stripped] if stripped else []
        return [part.strip() for part in stripped.split(delimiter) if part.strip()]
    return [_scalar(cell)]


def _scalar(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list | dict | tuple | np.ndarray):
        raise DataError(f"label {value!r} is a {type(value).__name__}, not a single label",
                        "set data.multi_label=true for data where a text carries several labels")
    return value


def _sorted(values: set[Any]) -> list[Any]:
    try:
        return sorted(values)
    except TypeError:  # mixed ints and strings
        return sorted(values, key=str)
