"""stratified_split: proportions kept, deterministic by seed, clear errors on tiny classes."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from tunekit.data.split import stratified_split
from tunekit.errors import DataError

LABELS = ["a"] * 600 + ["b"] * 300 + ["c"] * 100


def test_partition_and_proportions():
    kept, held = stratified_split(LABELS, 0.2, seed=0)
    assert len(held) == 200
    assert sorted(np.concatenate([kept, held]).tolist()) == list(range(len(LABELS)))
    assert np.all(np.diff(kept) > 0) and np.all(np.diff(held) > 0)  # sorted, no duplicates
    assert Counter(LABELS[i] for i in held) == {"a": 120, "b": 60, "c": 20}
    assert Counter(LABELS[i] for i in kept) == {"a": 480, "b": 240, "c": 80}


def test_deterministic_by_seed():
    first = stratified_split(LABELS, 0.1, seed=3)
    second = stratified_split(LABELS, 0.1, seed=3)
    other = stratified_split(LABELS, 0.1, seed=4)
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[1], other[1])


def test_tiny_fraction_holds_out_at_least_one_example_per_class():
    labels = ["big"] * 40 + ["x", "x", "y", "y"]
    kept, held = stratified_split(labels, 0.01, seed=0)  # 0.44 examples would round to none
    assert len(held) == 3
    assert {labels[i] for i in kept} == {"big", "x", "y"}


def test_multi_label_lists_stratify_by_first_label():
    labels = [["a", "z"]] * 10 + [["b"]] * 10
    kept, held = stratified_split(labels, 0.2, seed=0)
    assert Counter(labels[i][0] for i in held) == {"a": 2, "b": 2}


def test_single_example_class_is_a_data_error():
    with pytest.raises(DataError) as caught:
        stratified_split(["a"] * 10 + ["b"] * 10 + ["lonely"], 0.2, seed=0, what="test")
    assert "1 classes have a single example (lonely)" in caught.value.problem
    assert "data.test" in caught.value.fix


def test_too_few_examples_is_a_data_error():
    with pytest.raises(DataError, match="4 examples are too few"):
        stratified_split(["a", "a", "b", "b"], 0.8, seed=0)
    kept, held = stratified_split(["a", "a", "b", "b"], 0.2, seed=0)  # the smallest split that works
    assert sorted(["ab"[i // 2] for i in held]) == ["a", "b"]
