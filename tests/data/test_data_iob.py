import pytest
from hypothesis import given
from hypothesis import strategies as st

from tunekit.data.iob import entity_spans, is_iob1, repair_iob2, split_tag, tags_from_spans, to_iob2
from tunekit.errors import DataError


def test_iob1_entities_starting_with_i_become_b():
    iob1 = ["I-ORG", "O", "I-MISC", "O", "I-PER", "I-PER", "B-PER", "I-LOC"]
    assert is_iob1([iob1])
    assert to_iob2(iob1) == ["B-ORG", "O", "B-MISC", "O", "B-PER", "I-PER", "B-PER", "B-LOC"]


def test_iob2_is_left_unchanged():
    iob2 = ["B-ORG", "I-ORG", "O", "B-PER", "B-PER", "I-PER"]
    assert not is_iob1([iob2])
    assert to_iob2(iob2) == iob2


def test_entity_spans_are_exclusive_word_ranges():
    assert entity_spans(["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"]) == [
        ("PER", 0, 2), ("LOC", 3, 4), ("LOC", 4, 6)]
    assert entity_spans(["O", "O"]) == []


def test_repair_opens_an_entity_on_a_stray_inside_tag():
    assert repair_iob2(["O", "I-PER", "I-PER", "I-LOC"]) == ["O", "B-PER", "I-PER", "B-LOC"]


@pytest.mark.parametrize("bad", ["PER", "X-PER", "B-", "b-PER", ""])
def test_tags_that_are_not_iob_are_rejected(bad):
    with pytest.raises(DataError, match="not an IOB tag"):
        split_tag(bad)


def test_overlapping_spans_are_rejected():
    with pytest.raises(DataError, match="overlaps"):
        tags_from_spans(5, [("PER", 0, 3), ("LOC", 2, 4)])


@st.composite
def span_sets(draw):
    n_words = draw(st.integers(1, 30))
    cuts = sorted(draw(st.sets(st.integers(0, n_words), max_size=12)))
    spans = []
    for start, end in zip(cuts[::2], cuts[1::2], strict=False):
        if end > start:
            spans.append((draw(st.sampled_from(["PER", "LOC", "ORG"])), start, end))
    return n_words, spans


@given(span_sets())
def test_spans_survive_a_round_trip_through_tags(case):
    n_words, spans = case
    tags = tags_from_spans(n_words, spans)
    assert entity_spans(tags) == sorted(spans, key=lambda s: s[1])
    assert to_iob2(tags) == tags
