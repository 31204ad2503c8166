"""`LabeledTexts`: validated texts, optional text pairs and raw labels, from a table or from lists."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from tunekit.errors import DataError

Label = str | int


@dataclass
class LabeledTexts:
    """Texts with labels. ``labels[i]`` is a label, or a list of labels for multi-label data."""

    texts: list[str]
    labels: list[Any] | None
    pairs: list[str] | None = None
    source: str = "data"

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Sequence[int]) -> LabeledTexts:
        return LabeledTexts(
            texts=[self.texts[i] for i in indices],
            labels=None if self.labels is None else [self.labels[i] for i in indices],
            pairs=None if self.pairs is None else [self.pairs[i] for i in indices],
            source=self.source,
        )


def from_frame(frame: pd.DataFrame, *, text_column: str, label_column: str | None,
               text_pair_column: str | None, source: str) -> LabeledTexts:
    """Pick and validate the configured columns of ``frame``.

    Raises:
        DataError: a column is missing, or a text cell is empty or not text.
    """
    wanted = [("data.text_column", text_column), ("data.label_column", label_column),
              ("data.text_pair_column", text_pair_column)]
    for option, column in wanted:
        if column is not None and column not in frame.columns:
            raise DataError(
                f"{source} has no column `{column}` (columns: {', '.join(map(str, frame.columns))})",
                f"set `{option}` to the column that holds it, e.g. {option}={frame.columns[0]}",
            )
    texts = check_texts(frame[text_column].tolist(), source, text_column)
    pairs = check_texts(frame[text_pair_column].tolist(), source, text_pair_column) if text_pair_column else None
    labels = None
    if label_column is not None:
        labels = frame[label_column].tolist()
        missing = [i for i, value in enumerate(labels) if _is_missing(value)]
        if missing:
            raise DataError(f"{source}: {len(missing)} rows have no label in `{label_column}` "
                            f"(rows {_rows(missing)})", "label those rows or remove them")
    return LabeledTexts(texts=texts, labels=labels, pairs=pairs, source=source)


def check_texts(values: Sequence[Any], source: str, column: str = "text") -> list[str]:
    """Return ``values`` as a list of non-empty strings, or raise naming the offending rows."""
    bad_type = [i for i, v in enumerate(values) if not isinstance(v, str) and not _is_missing(v)]
    if bad_type:
        example = values[bad_type[0]]
        raise DataError(
            f"{source}: {len(bad_type)} values in `{column}` are not text, e.g. row {bad_type[0] + 1}: "
            f"{type(example).__name__} {str(example)[:40]!r} (rows {_rows(bad_type)})",
            "store the text as strings (quote them in JSON) or fix those rows",
        )
    empty = [i for i, v in enumerate(values) if _is_missing(v) or not v.strip()]
    if empty:
        raise DataError(f"{source}: {len(empty)} rows have an empty `{column}` (rows {_rows(empty)})",
                        "remove those rows or fill in their text")
    return list(values)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _rows(indices: list[int], shown: int = 5) -> str:
    head = ", ".join(str(i + 1) for i in indices[:shown])  # 1-based: row 1 is the first data row
    return head + (f", ... ({len(indices) - shown} more)" if len(indices) > shown else "")
