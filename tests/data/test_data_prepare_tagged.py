import pytest

from tunekit.config.schema import DataConfig
from tunekit.data.prepare_tagged import make_tagged_splits
from tunekit.data.tagged import TaggedSentences
from tunekit.errors import DataError


def _sentences(n, tag="B-PER"):
    return TaggedSentences([["w", str(i)] for i in range(n)], [[tag, "O"] for _ in range(n)], "data")


def test_missing_splits_are_held_out_reproducibly():
    splits = make_tagged_splits(_sentences(100), None, None, DataConfig(), hold_out_test=True)
    # validation_size applies to what the test split left
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (81, 9, 10)
    again = make_tagged_splits(_sentences(100), None, None, DataConfig(), hold_out_test=True)
    assert again.test.words == splits.test.words
    assert splits.tag_map.classes == ("O", "B-PER", "I-PER")


def test_a_tag_unseen_in_training_is_reported_before_training():
    with pytest.raises(DataError, match="never seen in training: B-LOC"):
        make_tagged_splits(_sentences(10), _sentences(3, "B-LOC"), None, DataConfig())


def test_training_data_without_entities_is_rejected():
    with pytest.raises(DataError, match="no entities"):
        make_tagged_splits(_sentences(10, "O"), None, None, DataConfig())


def test_continuation_maps_begin_to_inside_tags():
    data = TaggedSentences([["a", "b", "c"]], [["B-PER", "I-PER", "B-LOC"]], "data")
    splits = make_tagged_splits(data, data, None, DataConfig())
    classes = list(splits.tag_map.classes)
    assert classes == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]  # I-LOC too, though no LOC spans two words
    assert [classes[i] for i in splits.continuation()] == ["O", "I-LOC", "I-LOC", "I-PER", "I-PER"]
