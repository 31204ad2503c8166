"""Label-preserving text perturbations for the robustness check: typos, word deletion, word swaps, synonyms.

Each takes a text and a seeded `random.Random` and returns a perturbed text; ``rate`` is the share of words touched
(at least one word when the text has any).
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable

from tunekit.audit.synonyms import SynonymFn

Perturbation = Callable[[str, random.Random], str]
ALPHA_WORD = re.compile(r"^[A-Za-z]{3,}$")


def _pick(n: int, rate: float, rng: random.Random, candidates: list[int] | None = None) -> list[int]:
    pool = list(range(n)) if candidates is None else candidates
    if not pool:
        return []
    return rng.sample(pool, k=max(1, round(rate * len(pool))))


def character_typos(text: str, rng: random.Random, rate: float = 0.1) -> str:
    """Swap, drop, double or replace one letter in ``rate`` of the words of three letters or more."""
    words = text.split()
    for i in _pick(len(words), rate, rng, [i for i, w in enumerate(words) if ALPHA_WORD.match(w)]):
        word, j = words[i], rng.randrange(len(words[i]) - 1)
        kind = rng.choice(("swap", "drop", "double", "replace"))
        if kind == "swap":
            word = word[:j] + word[j + 1] + word[j] + word[j + 2:]
        elif kind == "drop":
            word = word[:j] + word[j + 1:]
        elif kind == "double":
            word = word[:j] + word[j] + word[j:]
        else:
            word = word[:j] + rng.choice(string.ascii_lowercase) + word[j + 1:]
        words[i] = word
    return " ".join(words)


def delete_words(text: str, rng: random.Random, rate: float = 0.1) -> str:
    """Drop ``rate`` of the words (never all of them)."""
    words = text.split()
    if len(words) < 2:
        return text
    dropped = set(_pick(len(words), rate, rng))
    return " ".join(w for i, w in enumerate(words) if i not in dropped) or text


def swap_adjacent_words(text: str, rng: random.Random, rate: float = 0.1) -> str:
    """Exchange ``rate`` of the words with their right-hand neighbour."""
    words = text.split()
    for i in _pick(len(words) - 1, rate, rng) if len(words) > 1 else []:
        words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


def synonym_substitution(synonyms: SynonymFn, rate: float = 0.2) -> Perturbation:
    """Replace ``rate`` of the words that have synonyms by a random synonym."""

    def perturb(text: str, rng: random.Random) -> str:
        words = text.split()
        options = {i: synonyms(w) for i, w in enumerate(words) if ALPHA_WORD.match(w)}
        for i in _pick(len(words), rate, rng, [i for i, found in options.items() if found]):
            words[i] = rng.choice(options[i])
        return " ".join(words)

    return perturb


def default_perturbations(synonyms: SynonymFn | None) -> dict[str, Perturbation]:
    """The audit's perturbation set; synonym substitution only when a synonym source is available."""
    perturbations: dict[str, Perturbation] = {
        "character_typos": character_typos, "word_deletion": delete_words, "word_swap": swap_adjacent_words}
    if synonyms is not None:
        perturbations["synonym_substitution"] = synonym_substitution(synonyms)
    return perturbations
