"""Tokenise once, up front, into id lists; long texts are truncated or split into overlapping chunks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class EncodedTexts:
    """Token ids per example (a chunk, with chunking), and which input text each example came from.

    Attributes:
        input_ids: one list of token ids per example.
        token_type_ids: segment ids per example, for models that use them (BERT), else None.
        owner: ``(n_examples,)`` index of the source text; equals ``arange`` without chunking.
    """

    input_ids: list[list[int]]
    token_type_ids: list[list[int]] | None
    owner: np.ndarray

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(ids) for ids in self.input_ids), dtype=np.int64, count=len(self.input_ids))


def encode_texts(tokenizer, texts: list[str], pairs: list[str] | None = None, *, max_seq_len: int,
                 long_text: str = "truncate", chunk_stride: int = 0) -> EncodedTexts:
    """Tokenise ``texts`` (and ``pairs``) without padding.

    With ``long_text="chunk"`` a text longer than ``max_seq_len`` becomes several examples sharing
    ``chunk_stride`` tokens; ``owner`` maps them back to their text.
    """
    wants_types = "token_type_ids" in tokenizer.model_input_names
    kwargs = dict(truncation=True, max_length=max_seq_len, return_attention_mask=False,
                  return_token_type_ids=wants_types)
    if long_text == "chunk":
        encoded = tokenizer(texts, return_overflowing_tokens=True, stride=chunk_stride, **kwargs)
        owner = np.asarray(encoded["overflow_to_sample_mapping"], dtype=np.int64)
    else:
        encoded = tokenizer(texts, pairs, **kwargs) if pairs is not None else tokenizer(texts, **kwargs)
        owner = np.arange(len(texts), dtype=np.int64)
    return EncodedTexts(
        input_ids=encoded["input_ids"],
        token_type_ids=encoded["token_type_ids"] if wants_types else None,
        owner=owner,
    )
