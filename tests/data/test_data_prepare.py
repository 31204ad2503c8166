"""load_splits: which splits come from files and which are held out; label checks before training."""

from __future__ import annotations

import json
import logging
from collections import Counter

import pandas as pd
import pytest

from tunekit.config import DataConfig
from tunekit.data.examples import LabeledTexts
from tunekit.data.prepare import load_labeled, load_splits, warn_on_overlap
from tunekit.errors import DataError


def write_csv(path, n: int, labels=("neg", "pos"), prefix="text"):
    pd.DataFrame({"text": [f"{prefix} {i}" for i in range(n)],
                  "label": [labels[i % len(labels)] for i in range(n)]}).to_csv(path, index=False)
    return str(path)


def test_single_file_holds_out_validation_and_test(tmp_path):
    train = write_csv(tmp_path / "all.csv", 200)
    splits = load_splits(DataConfig(train=train, validation_size=0.1, test_size=0.2))
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (144, 16, 40)
    all_texts = splits.train.texts + splits.validation.texts + splits.test.texts
    assert sorted(all_texts) == sorted(f"text {i}" for i in range(200))  # a partition: none lost or doubled
    assert Counter(splits.test.labels) == {"neg": 20, "pos": 20}
    assert splits.label_map.classes == ("neg", "pos")
    assert "test split" in splits.test.source and "validation split" in splits.validation.source


def test_split_is_reproducible_and_follows_the_seed(tmp_path):
    train = write_csv(tmp_path / "all.csv", 100)
    first = load_splits(DataConfig(train=train, split_seed=1))
    again = load_splits(DataConfig(train=train, split_seed=1))
    other = load_splits(DataConfig(train=train, split_seed=2))
    assert first.test.texts == again.test.texts
    assert first.validation.texts == again.validation.texts
    assert first.test.texts != other.test.texts


def test_train_and_test_files_carve_validation_from_train(tmp_path):
    train = write_csv(tmp_path / "train.csv", 100)
    test = write_csv(tmp_path / "test.csv", 30, prefix="held")
    splits = load_splits(DataConfig(train=train, test=test, validation_size=0.2))
    assert len(splits.test) == 30
    assert splits.test.texts[0] == "held 0"
    assert (len(splits.train), len(splits.validation)) == (80, 20)
    assert set(splits.validation.texts) <= {f"text {i}" for i in range(100)}


def test_train_and_validation_files(tmp_path):
    train = write_csv(tmp_path / "train.csv", 50)
    validation = write_csv(tmp_path / "dev.csv", 10, prefix="dev")
    splits = load_splits(DataConfig(train=train, validation=validation))
    assert len(splits.train) == 50
    assert splits.validation.texts == [f"dev {i}" for i in range(10)]
    assert splits.test is None


def test_unseen_label_in_test_file_fails_before_training(tmp_path):
    train = write_csv(tmp_path / "train.csv", 40)
    test = write_csv(tmp_path / "test.csv", 9, labels=("neg", "pos", "neutral"))
    with pytest.raises(DataError) as caught:
        load_splits(DataConfig(train=train, test=test))
    assert "test.csv has the label 'neutral'" in caught.value.problem


def test_no_training_data():
    with pytest.raises(DataError, match="no training data") as caught:
        load_splits(DataConfig())
    assert "data.train" in caught.value.fix


def test_column_mapping_and_pairs(tmp_path):
    path = tmp_path / "nli.tsv"
    path.write_text("premise\thypothesis\tgold\n10\t20\tyes\nthe sky\tit is blue\tno\n", encoding="utf-8")
    config = DataConfig(text_column="premise", text_pair_column="hypothesis", label_column="gold")
    data = load_labeled(str(path), config)
    assert data.texts == ["10", "the sky"]  # numeric-looking text stays text
    assert data.pairs == ["20", "it is blue"]
    assert data.labels == ["yes", "no"]


def test_unlabeled_file_when_labels_not_required(tmp_path):
    path = tmp_path / "new.csv"
    path.write_text("text\nhello\nworld\n", encoding="utf-8")
    assert load_labeled(str(path), DataConfig(), require_labels=False).labels is None
    with pytest.raises(DataError, match="no column `label`"):
        load_labeled(str(path), DataConfig())


@pytest.mark.parametrize("cell_format", ["delimited", "json_string", "jsonl_list"])
def test_multi_label_file_splits_by_first_label(tmp_path, cell_format):
    # Every label combination is unique, but each first label is common: the split must still work.
    tags = ["billing", "card", "fraud", "refund"]
    rows = []
    for i in range(48):
        extra = [(i // 4 + j) % 4 for j in range(1, 1 + i % 3)]
        cell = [tags[i % 4]] + [tags[e] for e in extra if e != i % 4]
        rows.append({"text": f"ticket {i}", "label": cell})
    if cell_format == "jsonl_list":
        path = tmp_path / "tickets.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        config = DataConfig(train=str(path), multi_label=True)
    else:
        path = tmp_path / "tickets.csv"
        join = "|".join if cell_format == "delimited" else json.dumps
        pd.DataFrame([{"text": r["text"], "label": join(r["label"])} for r in rows]).to_csv(path, index=False)
        config = DataConfig(train=str(path), multi_label=True,
                            label_delimiter="|" if cell_format == "delimited" else None)
    splits = load_splits(config)
    assert splits.label_map.classes == tuple(tags)
    assert splits.label_map.multi_label
    assert len(splits.train) + len(splits.validation) + len(splits.test) == 48
    encoded = splits.label_map.encode(splits.test.labels, delimiter=config.label_delimiter)
    assert encoded.shape == (len(splits.test), 4)
    assert encoded.sum(axis=1).min() >= 1


def test_overlap_is_warned_and_counted(caplog):
    train = LabeledTexts(texts=["a", "b", "c"], labels=[0, 1, 0], source="train.csv")
    test = LabeledTexts(texts=["b", "c", "d", "b"], labels=[1, 0, 1, 1], source="test.csv")
    with caplog.at_level(logging.WARNING, logger="tunekit"):
        shared = warn_on_overlap(train, test)
    assert shared == 3
    assert "3 of 4 examples in test.csv also occur in the training data" in caplog.text


def test_no_overlap_no_warning(caplog):
    train = LabeledTexts(texts=["a", "b"], labels=[0, 1], pairs=["x", "y"])
    other = LabeledTexts(texts=["a", "b"], labels=[0, 1], pairs=["y", "x"])  # same texts, different pairs
    with caplog.at_level(logging.WARNING, logger="tunekit"):
        assert warn_on_overlap(train, other) == 0
    assert caplog.records == []


def test_load_splits_warns_on_overlapping_test_file(tmp_path, caplog):
    train = write_csv(tmp_path / "train.csv", 40)
    test = write_csv(tmp_path / "test.csv", 10)  # same texts as the first ten training rows
    with caplog.at_level(logging.WARNING, logger="tunekit"):
        load_splits(DataConfig(train=train, test=test))
    assert "10 of 10 examples" in caplog.text
