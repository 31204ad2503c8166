"""IOB tag sequences: validation, IOB1 → IOB2 conversion, entity spans and repair of predicted sequences.

IOB2 (every entity starts with ``B-``) is the scheme tunekit trains and scores in; IOB1 (``B-`` only between
two adjacent entities of the same type, the original CoNLL-2003 files) is converted on reading.
"""

from __future__ import annotations

from collections.abc import Sequence

from tunekit.errors import DataError

OUTSIDE = "O"


def split_tag(tag: str) -> tuple[str, str]:
    """``"B-PER"`` → ``("B", "PER")``; ``"O"`` → ``("O", "")``.

    Raises:
        DataError: a tag that is neither ``O`` nor ``B-TYPE``/``I-TYPE``.
    """
    if tag == OUTSIDE:
        return OUTSIDE, ""
    prefix, _, entity_type = tag.partition("-")
    if prefix not in ("B", "I") or not entity_type:
        raise DataError(f"tag {tag!r} is not an IOB tag", "use O, B-TYPE and I-TYPE tags (e.g. B-PER, I-PER)")
    return prefix, entity_type


def is_iob1(sequences: Sequence[Sequence[str]]) -> bool:
    """True when some entity starts with ``I-`` (after ``O``, at the start, or after another type): IOB1."""
    for tags in sequences:
        previous_type = ""
        for tag in tags:
            prefix, entity_type = split_tag(tag)
            if prefix == "I" and entity_type != previous_type:
                return True
            previous_type = entity_type
    return False


def to_iob2(tags: Sequence[str]) -> list[str]:
    """Convert one IOB1 (or already IOB2) sequence to IOB2: an ``I-X`` that starts an entity becomes ``B-X``."""
    converted = []
    previous_type = ""
    for tag in tags:
        prefix, entity_type = split_tag(tag)
        if prefix == "I" and entity_type != previous_type:
            tag = f"B-{entity_type}"
        converted.append(tag)
        previous_type = entity_type
    return converted


def repair_iob2(tags: Sequence[str]) -> list[str]:
    """Make a predicted sequence valid IOB2 (the same conversion as `to_iob2`): an ``I-X`` without a preceding
    ``B-X``/``I-X`` opens a new entity instead of being dropped by strict scoring."""
    return to_iob2(tags)


def entity_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """Entities of a valid IOB2 sequence as ``(type, first_word, end_word)`` with ``end_word`` exclusive."""
    spans: list[tuple[str, int, int]] = []
    start, current = -1, ""
    for position, tag in enumerate([*tags, OUTSIDE]):
        prefix, entity_type = split_tag(tag)
        continues = prefix == "I" and entity_type == current
        if current and not continues:
            spans.append((current, start, position))
            current = ""
        if prefix == "B" or (prefix == "I" and not continues):
            start, current = position, entity_type
    return spans


def tags_from_spans(n_words: int, spans: Sequence[tuple[str, int, int]]) -> list[str]:
    """IOB2 tags for ``n_words`` words holding ``spans`` (``(type, first_word, end_word)``, non-overlapping)."""
    tags = [OUTSIDE] * n_words
    for entity_type, start, end in sorted(spans, key=lambda span: span[1]):
        if any(tag != OUTSIDE for tag in tags[start:end]):
            raise DataError(f"entity {entity_type!r} over words {start}–{end} overlaps another entity",
                            "nested or overlapping entities are not supported; keep the outermost one")
        tags[start:end] = [f"B-{entity_type}"] + [f"I-{entity_type}"] * (end - start - 1)
    return tags
