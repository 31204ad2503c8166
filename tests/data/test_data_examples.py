"""from_frame / check_texts: column mapping and row-level validation."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tunekit.data.examples import LabeledTexts, check_texts, from_frame
from tunekit.data.readers import read_table
from tunekit.errors import DataError


def frame_from(tmp_path, name: str, text: str) -> pd.DataFrame:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return read_table(path, text_columns=("text",))


def test_columns_are_picked(tmp_path):
    frame = pd.DataFrame({"premise": ["a", "b"], "hypothesis": ["c", "d"], "gold": [1, 0], "extra": [9, 9]})
    data = from_frame(frame, text_column="premise", label_column="gold", text_pair_column="hypothesis",
                      source="pairs.csv")
    assert data.texts == ["a", "b"]
    assert data.pairs == ["c", "d"]
    assert data.labels == [1, 0]
    assert len(data) == 2
    assert data.source == "pairs.csv"


@pytest.mark.parametrize(("columns", "option", "column"), [
    (("sentence", "label", None), "data.text_column", "sentence"),
    (("text", "category", None), "data.label_column", "category"),
    (("text", "label", "answer"), "data.text_pair_column", "answer"),
])
def test_missing_column_names_the_option_and_lists_columns(columns, option, column):
    frame = pd.DataFrame({"text": ["a"], "label": ["x"], "topic": ["t"]})
    text_column, label_column, text_pair_column = columns
    with pytest.raises(DataError) as caught:
        from_frame(frame, text_column=text_column, label_column=label_column,
                   text_pair_column=text_pair_column, source="train.csv")
    assert f"has no column `{column}`" in caught.value.problem
    assert "columns: text, label, topic" in caught.value.problem
    assert option in caught.value.fix


def test_no_label_column_for_unlabeled_data():
    data = from_frame(pd.DataFrame({"text": ["a", "b"]}), text_column="text", label_column=None,
                      text_pair_column=None, source="x")
    assert data.labels is None
    assert data.subset([1]).texts == ["b"]
    assert data.subset([1]).labels is None


def test_empty_text_rows_are_named(tmp_path):
    frame = frame_from(tmp_path, "d.csv", 'text,label\nfine,a\n,b\n"   ",a\nok,b\n')
    with pytest.raises(DataError) as caught:
        from_frame(frame, text_column="text", label_column="label", text_pair_column=None, source="d.csv")
    assert "2 rows have an empty `text` (rows 2, 3)" in caught.value.problem
    assert caught.value.fix


def test_non_text_values_in_jsonl_are_named(tmp_path):
    rows = [{"text": "fine", "label": "a"}, {"text": 42, "label": "b"}, {"text": {"nested": 1}, "label": "a"}]
    frame = frame_from(tmp_path, "d.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataError) as caught:
        from_frame(frame, text_column="text", label_column="label", text_pair_column=None, source="d.jsonl")
    problem = caught.value.problem
    assert "2 values in `text` are not text" in problem
    assert "row 2: int '42'" in problem
    assert "(rows 2, 3)" in problem
    assert "quote" in caught.value.fix


def test_missing_labels_are_named(tmp_path):
    frame = frame_from(tmp_path, "d.csv", "text,label\na,1\nb,\nc,0\nd,\n")
    with pytest.raises(DataError) as caught:
        from_frame(frame, text_column="text", label_column="label", text_pair_column=None, source="d.csv")
    assert "2 rows have no label in `label` (rows 2, 4)" in caught.value.problem


def test_many_bad_rows_are_summarised():
    values = ["ok"] + [""] * 8
    with pytest.raises(DataError) as caught:
        check_texts(values, "big.csv")
    assert "8 rows have an empty `text` (rows 2, 3, 4, 5, 6, ... (3 more))" in caught.value.problem


def test_check_texts_accepts_strings():
    assert check_texts(["a", " b "], "x") == ["a", " b "]


def test_subset_keeps_pairs_and_labels_aligned():
    data = LabeledTexts(texts=["a", "b", "c"], labels=[0, 1, 2], pairs=["x", "y", "z"], source="s")
    part = data.subset([2, 0])
    assert (part.texts, part.labels, part.pairs, part.source) == (["c", "a"], [2, 0], ["z", "x"], "s")
