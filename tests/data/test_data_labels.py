"""LabelMap: stable ids, encode/decode, multi-label cells, serialisation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tunekit.data.labels import LabelMap, split_multi_label
from tunekit.errors import DataError


def test_integer_labels_sort_numerically():
    label_map = LabelMap.fit([10, 2, 1, 2, np.int64(10), 1.0])
    assert label_map.classes == (1, 2, 10)
    assert all(type(c) is int for c in label_map.classes)
    assert label_map.num_labels == 3


def test_string_labels_sort_alphabetically_whatever_the_order():
    first = LabelMap.fit(["tech", "sport", "business", "sport"])
    second = LabelMap.fit(["business", "sport", "tech"][::-1] * 2)
    assert first.classes == second.classes == ("business", "sport", "tech")


def test_encode_decode():
    label_map = LabelMap.fit(["neg", "pos", "neu"])
    ids = label_map.encode(["pos", "neg", "neu", "pos"])
    assert ids.dtype == np.int64
    assert ids.tolist() == [2, 0, 1, 2]
    assert label_map.decode(ids.tolist()) == ["pos", "neg", "neu", "pos"]


def test_encode_matches_string_digits_and_floats_to_int_classes():
    label_map = LabelMap.fit([0, 1, 2])
    assert label_map.encode(["2", 1.0, np.int32(0)]).tolist() == [2, 1, 0]


def test_unseen_label_is_a_data_error():
    label_map = LabelMap.fit(["neg", "pos"])
    with pytest.raises(DataError) as caught:
        label_map.encode(["pos", "neutral"], source="test.csv")
    assert "test.csv has the label 'neutral'" in caught.value.problem
    assert "'neg', 'pos'" in caught.value.problem
    assert caught.value.fix


def test_only_one_label_is_a_data_error():
    with pytest.raises(DataError) as caught:
        LabelMap.fit(["pos", "pos", "pos"])
    assert "only one label ('pos')" in caught.value.problem


def test_list_label_without_multi_label_suggests_the_option():
    with pytest.raises(DataError) as caught:
        LabelMap.fit([["a", "b"], ["b"]])
    assert "data.multi_label=true" in caught.value.fix


@pytest.mark.parametrize(("cells", "delimiter"), [
    ([["billing", "refund"], ["card"], [], ("refund",)], None),
    (['["billing", "refund"]', '["card"]', "[]", '["refund"]'], None),
    (["billing|refund", "card", "", " refund | "], "|"),
])
def test_multi_label_cells(cells, delimiter):
    label_map = LabelMap.fit(cells, multi_label=True, delimiter=delimiter)
    assert label_map.classes == ("billing", "card", "refund")
    assert label_map.multi_label
    encoded = label_map.encode(cells, delimiter=delimiter)
    assert encoded.dtype == np.float32
    np.testing.assert_array_equal(encoded, [[1, 0, 1], [0, 1, 0], [0, 0, 0], [0, 0, 1]])


def test_multi_label_unseen_label():
    label_map = LabelMap.fit([["a"], ["b"]], multi_label=True)
    with pytest.raises(DataError, match="'c'"):
        label_map.encode([["a", "c"]], source="val")


def test_split_multi_label_cells():
    assert split_multi_label(np.array([3, 1]), None) == [3, 1]
    assert split_multi_label("[1, 2]", None) == [1, 2]
    assert split_multi_label("[not json", None) == ["[not json"]
    assert split_multi_label("a;b", None) == ["a;b"]  # no delimiter: one label
    assert split_multi_label("a; b;", ";") == ["a", "b"]
    assert split_multi_label(4.0, None) == [4]


def test_json_round_trip():
    label_map = LabelMap.fit([5, 0, 1])
    again = LabelMap.from_json(json.loads(json.dumps(label_map.to_json())))
    assert again == label_map
    assert again.encode([5, 0]).tolist() == [2, 0]

    multi = LabelMap.fit([["b"], ["a", "b"]], multi_label=True)
    again = LabelMap.from_json(json.loads(json.dumps(multi.to_json())))
    assert again == multi
    assert again.multi_label
    assert again.encode([["b"]]).tolist() == [[0.0, 1.0]]


def test_mixed_int_and_string_labels_have_a_stable_order():
    expected = (10, 2, "a", "b")  # ordered by their text
    assert LabelMap.fit(["b", 10, 2, "a"]).classes == LabelMap.fit([2, "a", "b", 10]).classes == expected
