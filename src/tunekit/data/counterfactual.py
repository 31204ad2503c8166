"""Counterfactual word swaps between two groups (he ↔ she, …): the basis of counterfactual data augmentation
(Lu et al. 2020, arXiv:1807.11714) and of the audit's counterfactual fairness check.

The built-in list is the gender word pairs of Bolukbasi et al. 2016 (debiaswe, MIT License), shipped in
``tunekit/data/wordlists/``; users can pass their own pair list for other groups.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tunekit.data.examples import LabeledTexts
from tunekit.data.prepare import DataSplits
from tunekit.errors import DataError

log = logging.getLogger("tunekit")

WORD = re.compile(r"[A-Za-z]+")
BUILTIN_LISTS = {"gender": "gender_pairs.json"}


@dataclass(frozen=True)
class SwapTable:
    """Word → counterpart (lower-case), and the group each word belongs to.

    ``groups`` names the two sides, e.g. ``("female", "male")``; ``pairs`` are ``(group 0 word, group 1 word)``.
    A word listed in several pairs maps to its first counterpart (``her`` → ``his``, and ``him`` → ``her``).
    """

    groups: tuple[str, str]
    pairs: tuple[tuple[str, str], ...]

    @property
    def mapping(self) -> dict[str, str]:
        table: dict[str, str] = {}
        for a, b in self.pairs:
            table.setdefault(a, b)
            table.setdefault(b, a)
        return table

    @property
    def group_of(self) -> dict[str, int]:
        side: dict[str, int] = {}
        for a, b in self.pairs:
            side.setdefault(a, 0)
            side.setdefault(b, 1)
        return side


def load_swap_table(source: str | Path = "gender") -> SwapTable:
    """A built-in list by name (``"gender"``) or a user file of word pairs.

    A user file is CSV/TSV with a header naming the two groups (``group_a,group_b``) and one pair per row,
    or JSON: ``{"groups": [a, b], "pairs": [[w_a, w_b], ...]}`` or a plain list of pairs.

    Raises:
        DataError: the file is missing, unreadable or holds no pairs.
    """
    if str(source) in BUILTIN_LISTS:
        raw = json.loads(resources.files("tunekit.data").joinpath("wordlists", BUILTIN_LISTS[str(source)])
                         .read_text(encoding="utf-8"))
        return _table(raw["groups"], raw["pairs"], str(source))
    path = Path(source)
    if not path.is_file():
        raise DataError(f"word-pair list {path} does not exist",
                        f"pass a CSV/JSON file of word pairs, or a built-in list: {', '.join(BUILTIN_LISTS)}")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        raw = json.loads(text)
        if isinstance(raw, list):
            raw = {"groups": ["first", "second"], "pairs": raw}
        return _table(raw.get("groups", ["first", "second"]), raw.get("pairs", []), str(path))
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    rows = [[cell.strip() for cell in line.split(delimiter)] for line in text.splitlines() if line.strip()]
    if not rows:
        raise DataError(f"word-pair list {path} is empty", "one header row (the two group names), then pairs")
    return _table(rows[0], rows[1:], str(path))


def _table(groups, pairs, source: str) -> SwapTable:
    clean = []
    for pair in pairs:
        if len(pair) != 2 or not all(WORD.fullmatch(str(word)) for word in pair):
            raise DataError(f"{source}: {pair!r} is not a pair of single words", "one pair of words per row")
        clean.append((str(pair[0]).lower(), str(pair[1]).lower()))
    if len(groups) != 2 or not clean:
        raise DataError(f"{source}: needs two group names and at least one pair", "e.g. header `female,male`")
    return SwapTable(groups=(str(groups[0]), str(groups[1])), pairs=tuple(clean))


def _match_case(word: str, template: str) -> str:
    if len(template) > 1 and template.isupper():
        return word.upper()
    return word.capitalize() if template[0].isupper() else word


def swap_words(text: str, table: SwapTable) -> tuple[str, list[str]]:
    """Replace every listed word by its counterpart, keeping case; returns the new text and the words swapped."""
    mapping = table.mapping
    swapped: list[str] = []

    def replace(match: re.Match) -> str:
        word = match.group(0)
        other = mapping.get(word.lower())
        if other is None:
            return word
        swapped.append(word.lower())
        return _match_case(other, word)

    return WORD.sub(replace, text), swapped


def augment_counterfactual(data: LabeledTexts, table: SwapTable) -> LabeledTexts:
    """Counterfactual data augmentation: ``data`` plus a swapped copy, same label, of every text with a listed word.

    Text pairs are swapped too; a row counts when either side contains a listed word.
    """
    texts, pairs, labels = list(data.texts), None if data.pairs is None else list(data.pairs), list(data.labels or [])
    for i, text in enumerate(data.texts):
        new_text, swapped = swap_words(text, table)
        new_pair, pair_swapped = (None, []) if data.pairs is None else swap_words(data.pairs[i], table)
        if swapped or pair_swapped:
            texts.append(new_text)
            labels.append(data.labels[i] if data.labels is not None else None)
            if pairs is not None:
                pairs.append(new_pair)
    return LabeledTexts(texts=texts, labels=labels if data.labels is not None else None, pairs=pairs,
                        source=f"{data.source} (+ counterfactual copies)")


def with_counterfactual_copies(splits: DataSplits, word_pairs: str | None) -> DataSplits:
    """``splits`` with counterfactual copies added to the training split only (``word_pairs`` None: unchanged)."""
    if word_pairs is None:
        return splits
    train = augment_counterfactual(splits.train, load_swap_table(word_pairs))
    log.info("counterfactual augmentation (%s): %d swapped copies added to %d training texts",
             word_pairs, len(train) - len(splits.train), len(splits.train))
    return dataclasses.replace(splits, train=train)
