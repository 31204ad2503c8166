import json

import pytest

from tunekit.data.counterfactual import augment_counterfactual, load_swap_table, swap_words
from tunekit.data.examples import LabeledTexts
from tunekit.errors import DataError


def test_builtin_gender_list_swaps_both_ways_and_keeps_case():
    table = load_swap_table("gender")
    assert table.groups == ("female", "male") and len(table.pairs) > 30
    text, swapped = swap_words("He told his Mother: SHE is a queen.", table)
    assert text == "She told her Father: HE is a king."
    assert swapped == ["he", "his", "mother", "she", "queen"]
    assert table.group_of["she"] == 0 and table.group_of["he"] == 1


def test_text_without_listed_words_is_unchanged():
    text, swapped = swap_words("the plot was superb, then theme shelf", load_swap_table())
    assert text == "the plot was superb, then theme shelf" and swapped == []  # no swaps inside words


def test_augmentation_adds_one_swapped_copy_per_matching_row():
    data = LabeledTexts(texts=["he was great", "dull film", "she left"], labels=[1, 0, 0])
    out = augment_counterfactual(data, load_swap_table())
    assert out.texts == ["he was great", "dull film", "she left", "she was great", "he left"]
    assert out.labels == [1, 0, 0, 1, 0]


def test_user_pair_lists(tmp_path):
    csv = tmp_path / "pairs.csv"
    csv.write_text("young,old\nteen,senior\n", encoding="utf-8")
    table = load_swap_table(csv)
    assert table.groups == ("young", "old") and swap_words("a Teen", table)[0] == "a Senior"
    js = tmp_path / "pairs.json"
    js.write_text(json.dumps([["x", "y"]]), encoding="utf-8")
    assert load_swap_table(js).pairs == (("x", "y"),)
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\nnew york,paris\n", encoding="utf-8")
    with pytest.raises(DataError):
        load_swap_table(bad)
    with pytest.raises(DataError):
        load_swap_table(tmp_path / "missing.csv")
