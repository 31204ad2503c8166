"""Turn per-word tag probabilities into a valid IOB2 sequence.

Two decoders, chosen by ``eval.tag_decoding``:

- ``viterbi`` (default): the sequence with the highest product of per-word tag probabilities among the valid IOB2
  sequences (``I-X`` only after ``B-X`` or ``I-X``), found by Viterbi search over a 0/−∞ transition mask. This is the
  constrained decoding that CRF taggers use (AllenNLP's ``allowed_transitions``), applied to a softmax head: when the
  model hesitates between ``B-ORG`` and ``I-ORG`` after ``O``, the valid reading wins instead of being patched.
- ``argmax``: each word's most probable tag; an ``I-X`` that starts an entity becomes ``B-X`` (`repair_iob2`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tunekit.data.iob import repair_iob2, split_tag

_FLOOR = 1e-12  # log(0) guard: a probability the softmax rounded to zero stays a (very bad) finite score


class IOB2Decoder:
    """Decode ``(n_words, n_tags)`` probability matrices over ``tags`` (the run's tag set, in column order)."""

    def __init__(self, tags: Sequence[str], method: str = "viterbi") -> None:
        if method not in ("viterbi", "argmax"):
            raise ValueError(f"unknown tag decoding {method!r}; use 'viterbi' or 'argmax'")
        self.tags = [str(t) for t in tags]
        self._column = {tag: i for i, tag in enumerate(self.tags)}
        self.method = method
        self._start_penalty, self._transition_penalty = _transition_masks(self.tags)

    def decode(self, probabilities: np.ndarray) -> np.ndarray:
        """Tag indices, shape ``(n_words,)``, of the decoded sequence for one sentence."""
        if len(probabilities) == 0:
            return np.zeros(0, dtype=np.int64)
        if self.method == "argmax":
            chosen = probabilities.argmax(axis=1)
            repaired = repair_iob2([self.tags[i] for i in chosen])
            return np.array([self._column[t] for t in repaired], dtype=np.int64)
        return self._viterbi(np.log(np.maximum(probabilities, _FLOOR)))

    def _viterbi(self, log_probabilities: np.ndarray) -> np.ndarray:
        """Best valid path through ``(n_words, n_tags)`` log-probabilities."""
        n_words, _ = log_probabilities.shape
        score = log_probabilities[0] + self._start_penalty
        backpointers = np.zeros(log_probabilities.shape, dtype=np.int64)
        for position in range(1, n_words):
            candidates = score[:, None] + self._transition_penalty  # (previous tag, next tag)
            backpointers[position] = candidates.argmax(axis=0)
            score = candidates.max(axis=0) + log_probabilities[position]
        path = np.empty(n_words, dtype=np.int64)
        path[-1] = score.argmax()
        for position in range(n_words - 1, 0, -1):
            path[position - 1] = backpointers[position, path[position]]
        return path


def _transition_masks(tags: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """0 where IOB2 allows a tag (at the start; after another tag), −∞ where it does not."""
    parsed = [split_tag(t) for t in tags]
    start = np.array([0.0 if prefix != "I" else -np.inf for prefix, _ in parsed])
    transition = np.zeros((len(tags), len(tags)))
    for column, (prefix, entity_type) in enumerate(parsed):
        if prefix == "I":
            transition[:, column] = [0.0 if previous_type == entity_type else -np.inf
                                     for _, previous_type in parsed]
    return start, transition
