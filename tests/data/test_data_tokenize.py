"""encode_texts: truncation, sentence pairs, overlapping chunks of long texts."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import AutoTokenizer

from tunekit.data.tokenize import encode_texts


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def content(ids, tokenizer):
    return [i for i in ids if i not in (tokenizer.cls_token_id, tokenizer.sep_token_id)]


def test_short_texts_are_kept_whole(tokenizer):
    encoded = encode_texts(tokenizer, ["the movie was great", "bad"], max_seq_len=16)
    assert encoded.input_ids[0] == tokenizer("the movie was great")["input_ids"]
    assert tokenizer.convert_ids_to_tokens(encoded.input_ids[1]) == ["[CLS]", "bad", "[SEP]"]
    np.testing.assert_array_equal(encoded.owner, [0, 1])
    np.testing.assert_array_equal(encoded.lengths, [6, 3])
    assert encoded.token_type_ids == [[0] * 6, [0] * 3]


def test_truncation_to_max_seq_len(tokenizer):
    long_text = " ".join(["the movie was great"] * 10)  # 40 word tokens
    encoded = encode_texts(tokenizer, [long_text, "dull"], max_seq_len=12)
    assert len(encoded) == 2
    assert encoded.lengths.tolist() == [12, 3]
    ids = encoded.input_ids[0]
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    assert content(ids, tokenizer) == tokenizer(long_text, add_special_tokens=False)["input_ids"][:10]


def test_pairs_get_segment_ids(tokenizer):
    encoded = encode_texts(tokenizer, ["the movie", "bad"], ["great plot", "dull"], max_seq_len=16)
    tokens = tokenizer.convert_ids_to_tokens(encoded.input_ids[0])
    assert tokens == ["[CLS]", "the", "movie", "[SEP]", "great", "plot", "[SEP]"]
    assert encoded.token_type_ids[0] == [0, 0, 0, 0, 1, 1, 1]
    assert encoded.token_type_ids[1] == [0, 0, 0, 1, 1]


def test_long_pairs_are_truncated(tokenizer):
    long = " ".join(["good film"] * 20)
    encoded = encode_texts(tokenizer, [long], [long], max_seq_len=16)
    assert len(encoded.input_ids[0]) == 16
    assert 1 in encoded.token_type_ids[0]
    assert encoded.input_ids[0].count(tokenizer.sep_token_id) == 2


def test_chunking_long_texts(tokenizer):
    long_text = " ".join(f"{w} film" for w in ["great", "awful", "boring", "superb", "dull"] * 4)  # 40 tokens
    words = tokenizer(long_text, add_special_tokens=False)["input_ids"]
    encoded = encode_texts(tokenizer, ["short plot", long_text, "bad"], max_seq_len=16,
                           long_text="chunk", chunk_stride=4)
    owners = encoded.owner.tolist()
    assert owners[0] == 0 and owners[-1] == 2
    assert owners.count(1) >= 3  # 40 tokens, 14 per chunk, 4 shared: 4 chunks
    assert owners == sorted(owners)
    chunks = [content(ids, tokenizer) for ids, o in zip(encoded.input_ids, owners, strict=True) if o == 1]
    assert all(len(ids) <= 16 for ids in encoded.input_ids)
    for first, second in zip(chunks, chunks[1:], strict=False):
        assert first[-4:] == second[:4]  # consecutive chunks share `chunk_stride` tokens
    rebuilt = chunks[0] + [t for chunk in chunks[1:] for t in chunk[4:]]
    assert rebuilt == words  # no token lost
    assert len(encoded.lengths) == len(owners)


def test_chunk_mode_leaves_short_texts_alone(tokenizer):
    chunked = encode_texts(tokenizer, ["the plot", "good"], max_seq_len=16, long_text="chunk", chunk_stride=4)
    plain = encode_texts(tokenizer, ["the plot", "good"], max_seq_len=16)
    assert chunked.input_ids == plain.input_ids
    np.testing.assert_array_equal(chunked.owner, [0, 1])
