"""Entity-level scores for tagged sentences: seqeval in strict IOB2 mode, token accuracy, type confusion."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from seqeval.metrics import classification_report
from seqeval.scheme import IOB2

from tunekit.data.iob import entity_spans

NO_ENTITY = "(none)"  # gold row: a spurious prediction; predicted column: a missed entity


def entity_metrics(true_tags: Sequence[Sequence[str]], predicted_tags: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Per-type and averaged precision/recall/F1 over exact entity matches, token accuracy, type confusion.

    Args:
        true_tags: per sentence, the gold IOB2 tag of each word.
        predicted_tags: per sentence, the predicted IOB2 tag of each word (same lengths).

    Returns:
        ``micro_f1`` (the headline figure), ``micro_/macro_precision|recall|f1``, ``token_accuracy``,
        ``per_type`` ({type: precision, recall, f1, support}), ``confusion`` (`entity_type_confusion`),
        ``sentences`` and ``entities``.
    """
    true_tags = [list(t) for t in true_tags]
    predicted_tags = [list(p) for p in predicted_tags]
    report = classification_report(true_tags, predicted_tags, mode="strict", scheme=IOB2, output_dict=True,
                                   zero_division=0)
    per_type = {name: _row(row) for name, row in report.items() if not name.endswith(" avg")}
    words = sum(len(t) for t in true_tags)
    correct = sum(a == b for t, p in zip(true_tags, predicted_tags, strict=True) for a, b in zip(t, p, strict=True))
    result: dict[str, Any] = {"sentences": len(true_tags), "entities": int(report["micro avg"]["support"]),
                              "token_accuracy": correct / max(words, 1)}
    for average in ("micro", "macro"):
        for name, value in _row(report[f"{average} avg"]).items():
            if name != "support":
                result[f"{average}_{name}"] = value
    result["per_type"] = per_type
    result["confusion"] = entity_type_confusion(true_tags, predicted_tags)
    return result


def _row(row: dict) -> dict[str, float | int]:
    return {"precision": float(row["precision"]), "recall": float(row["recall"]), "f1": float(row["f1-score"]),
            "support": int(row["support"])}


def entity_type_confusion(true_tags: Sequence[Sequence[str]],
                          predicted_tags: Sequence[Sequence[str]]) -> dict[str, dict[str, int]]:
    """Counts ``{gold type: {predicted type: n}}`` over entities: a gold entity whose exact span was predicted
    counts under the predicted type, one with no exact-span prediction under `NO_ENTITY`; predicted entities
    with no gold entity on their span appear in the gold row `NO_ENTITY`."""
    counts: Counter[tuple[str, str]] = Counter()
    for gold_tags, predicted in zip(true_tags, predicted_tags, strict=True):
        gold = {(start, end): kind for kind, start, end in entity_spans(gold_tags)}
        guessed = {(start, end): kind for kind, start, end in entity_spans(predicted)}
        for span, kind in gold.items():
            counts[(kind, guessed.get(span, NO_ENTITY))] += 1
        for span, kind in guessed.items():
            if span not in gold:
                counts[(NO_ENTITY, kind)] += 1
    confusion: dict[str, dict[str, int]] = {}
    for (gold_kind, predicted_kind), n in sorted(counts.items()):
        confusion.setdefault(gold_kind, {})[predicted_kind] = n
    return confusion


def confusion_matrix(confusion: dict[str, dict[str, int]]) -> tuple[np.ndarray, list[str]]:
    """The confusion dict as a square ``(k, k)`` matrix over the entity types plus `NO_ENTITY`, for plotting."""
    kinds = sorted(({k for k in confusion} | {k for row in confusion.values() for k in row}) - {NO_ENTITY})
    classes = [*kinds, NO_ENTITY]
    matrix = np.array([[confusion.get(g, {}).get(p, 0) for p in classes] for g in classes], dtype=np.int64)
    return matrix, classes
