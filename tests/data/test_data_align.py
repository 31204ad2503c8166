import numpy as np
import pytest
from transformers import AutoTokenizer

from tunekit.data.align import NO_WORD, align_tags, encode_words
from tunekit.training.loss import IGNORED_TOKEN


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_first_subword_carries_the_tag_and_the_rest_are_ignored(tokenizer):
    encoded = encode_words(tokenizer, [["the", "films", "bank"]], max_seq_len=32)
    assert tokenizer.convert_ids_to_tokens(encoded.texts.input_ids[0]) == ["[CLS]", "the", "film", "##s", "bank",
                                                                           "[SEP]"]
    targets = align_tags(encoded, [np.array([0, 1, 2])])
    assert targets[0].tolist() == [IGNORED_TOKEN, 0, 1, IGNORED_TOKEN, 2, IGNORED_TOKEN]
    positions, words = encoded.first_subwords(0)
    assert positions.tolist() == [1, 2, 4] and words.tolist() == [0, 1, 2]


def test_label_all_subtokens_continues_with_the_inside_tag(tokenizer):
    encoded = encode_words(tokenizer, [["films"]], max_seq_len=32)
    targets = align_tags(encoded, [np.array([1])], label_all_subtokens=True, continuation=np.array([0, 2, 2]))
    assert targets[0].tolist() == [IGNORED_TOKEN, 1, 2, IGNORED_TOKEN]


def test_long_sentences_split_at_word_boundaries_without_losing_a_word(tokenizer):
    sentence = ["films", "the", "bank"] * 10  # 40 sub-words
    encoded = encode_words(tokenizer, [["a"], sentence], max_seq_len=12)
    assert all(len(ids) <= 12 for ids in encoded.texts.input_ids)
    pieces = [i for i in range(len(encoded)) if encoded.texts.owner[i] == 1]
    assert len(pieces) > 1
    words = np.concatenate([encoded.first_subwords(i)[1] for i in pieces])
    assert words.tolist() == list(range(len(sentence)))
    assert all(ids[0] == NO_WORD and ids[-1] == NO_WORD for ids in encoded.word_ids)


def test_empty_sentences_produce_no_examples(tokenizer):
    encoded = encode_words(tokenizer, [[], ["bank"], []], max_seq_len=32)
    assert len(encoded) == 1 and encoded.texts.owner.tolist() == [1]
