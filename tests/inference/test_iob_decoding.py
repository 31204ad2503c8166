import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tunekit.data.iob import is_iob1, repair_iob2
from tunekit.inference.iob_decoding import IOB2Decoder

TAGS = ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]


def _valid(tags: list[str]) -> bool:
    return not is_iob1([tags])


def _probabilities(n_words: int) -> st.SearchStrategy[np.ndarray]:
    weights = arrays(np.float64, (n_words, len(TAGS)), elements=st.floats(0.01, 1.0))
    return weights.map(lambda w: w / w.sum(axis=1, keepdims=True))


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 5).flatmap(_probabilities))
def test_viterbi_returns_the_most_probable_valid_sequence(probabilities):
    decoder = IOB2Decoder(TAGS)
    decoded = [TAGS[i] for i in decoder.decode(probabilities)]
    assert _valid(decoded)

    def score(path):
        return sum(np.log(probabilities[k, TAGS.index(t)]) for k, t in enumerate(path))

    best = max((list(p) for p in itertools.product(TAGS, repeat=len(probabilities)) if _valid(list(p))), key=score)
    assert score(decoded) == pytest.approx(score(best))


def test_viterbi_keeps_an_entity_whole_where_argmax_splits_it():
    # "New York Times": the first word leans LOC, the second clearly continues an ORG.
    probabilities = np.array([[0.0, 0.6, 0.0, 0.4, 0.0],
                              [0.0, 0.0, 0.3, 0.0, 0.7]])
    assert [TAGS[i] for i in IOB2Decoder(TAGS, "argmax").decode(probabilities)] == ["B-LOC", "B-ORG"]
    assert [TAGS[i] for i in IOB2Decoder(TAGS, "viterbi").decode(probabilities)] == ["B-ORG", "I-ORG"]


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 8).flatmap(_probabilities))
def test_argmax_is_each_words_best_tag_repaired(probabilities):
    decoded = [TAGS[i] for i in IOB2Decoder(TAGS, "argmax").decode(probabilities)]
    assert decoded == repair_iob2([TAGS[i] for i in probabilities.argmax(axis=1)])


def test_an_empty_sentence_decodes_to_no_tags():
    assert IOB2Decoder(TAGS).decode(np.zeros((0, len(TAGS)))).tolist() == []


def test_zero_probabilities_do_not_break_the_search():
    probabilities = np.array([[1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0]])  # only an invalid I-LOC
    assert _valid([TAGS[i] for i in IOB2Decoder(TAGS).decode(probabilities)])


def test_an_unknown_decoding_is_refused():
    with pytest.raises(ValueError, match="viterbi"):
        IOB2Decoder(TAGS, "beam")
