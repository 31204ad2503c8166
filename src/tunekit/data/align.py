"""Tokenise word-tagged sentences into sub-words and align word tags to sub-word positions.

The first sub-word of each word carries the word's tag and the rest are ignored by the loss (or, with
``label_all_subtokens``, carry the word's tag with ``B-`` turned into ``I-``). Predictions are read from first
sub-words, so every word gets exactly one tag. A sentence longer than ``max_seq_len`` sub-words is split at
word boundaries into several examples instead of being truncated, so no word goes unpredicted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tunekit.data.tokenize import EncodedTexts
from tunekit.training.loss import IGNORED_TOKEN

NO_WORD = -1  # word id of special tokens


@dataclass
class EncodedWords:
    """Sub-word examples and, per sub-word, the index of its word in the source sentence.

    Attributes:
        texts: the sub-word ids; ``texts.owner[i]`` is the sentence example ``i`` came from.
        word_ids: per example, ``(seq_len,)`` word index in the sentence for each sub-word, `NO_WORD` for special
            tokens.
    """

    texts: EncodedTexts
    word_ids: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.texts)

    def first_subwords(self, example: int) -> tuple[np.ndarray, np.ndarray]:
        """``(positions, words)``: the position of each word's first sub-word in ``example``, and that word."""
        ids = self.word_ids[example]
        starts = (ids != NO_WORD) & np.concatenate(([True], ids[1:] != ids[:-1]))
        positions = np.flatnonzero(starts)
        return positions, ids[positions]


def encode_words(tokenizer, sentences: Sequence[Sequence[str]], *, max_seq_len: int) -> EncodedWords:
    """Tokenise pre-split ``sentences`` without padding, splitting long ones at word boundaries."""
    wants_types = "token_type_ids" in tokenizer.model_input_names
    kwargs = dict(is_split_into_words=True, return_attention_mask=False, return_token_type_ids=wants_types)
    input_ids: list[list[int]] = []
    token_types: list[list[int]] = []
    word_ids: list[np.ndarray] = []
    owner: list[int] = []

    def add(encoding, index: int, sentence: int, word_offset: int) -> None:
        input_ids.append(encoding["input_ids"][index])
        if wants_types:
            token_types.append(encoding["token_type_ids"][index])
        ids = [NO_WORD if w is None else w + word_offset for w in encoding.word_ids(index)]
        word_ids.append(np.asarray(ids, dtype=np.int64))
        owner.append(sentence)

    non_empty = [i for i, words in enumerate(sentences) if len(words)]
    encoded = tokenizer([list(sentences[i]) for i in non_empty], **kwargs) if non_empty else None
    for row, sentence in enumerate(non_empty):
        if len(encoded["input_ids"][row]) <= max_seq_len:
            add(encoded, row, sentence, 0)
            continue
        for start, end in _word_windows(encoded.word_ids(row), len(encoded["input_ids"][row]), max_seq_len):
            piece = tokenizer([list(sentences[sentence][start:end])], truncation=True, max_length=max_seq_len,
                              **kwargs)
            add(piece, 0, sentence, start)
    texts = EncodedTexts(input_ids=input_ids, token_type_ids=token_types if wants_types else None,
                         owner=np.asarray(owner, dtype=np.int64))
    return EncodedWords(texts=texts, word_ids=word_ids)


def _word_windows(word_ids: list[int | None], n_tokens: int, max_seq_len: int) -> list[tuple[int, int]]:
    """Consecutive word ranges whose sub-words (plus the special tokens) fit in ``max_seq_len``."""
    n_words = max(w for w in word_ids if w is not None) + 1
    subwords = np.bincount([w for w in word_ids if w is not None], minlength=n_words)
    budget = max_seq_len - (n_tokens - int(subwords.sum()))  # room left after [CLS]/[SEP]
    windows, start, used = [], 0, 0
    for word, count in enumerate(subwords):
        if used and used + count > budget:
            windows.append((start, word))
            start, used = word, 0
        used += count
    windows.append((start, n_words))
    return windows


def align_tags(encoded: EncodedWords, sentence_tags: Sequence[np.ndarray], *, label_all_subtokens: bool = False,
               continuation: np.ndarray | None = None) -> list[np.ndarray]:
    """Sub-word targets per example: the word's tag id on its first sub-word, `IGNORED_TOKEN` elsewhere.

    Args:
        sentence_tags: per sentence, ``(n_words,)`` tag ids.
        label_all_subtokens: also label the later sub-words of a word, mapping each tag id through
            ``continuation`` (``B-X`` → ``I-X``).
        continuation: ``(num_tags,)`` tag id to use on a word's later sub-words; required with
            ``label_all_subtokens``.
    """
    targets = []
    for example, ids in enumerate(encoded.word_ids):
        tags = sentence_tags[encoded.texts.owner[example]]
        labels = np.full(len(ids), IGNORED_TOKEN, dtype=np.int64)
        positions, words = encoded.first_subwords(example)
        labels[positions] = tags[words]
        if label_all_subtokens:
            later = np.flatnonzero(ids != NO_WORD)
            later = later[~np.isin(later, positions)]
            labels[later] = continuation[tags[ids[later]]]
        targets.append(labels)
    return targets
