import json

import pytest

from tunekit.data.tagged import read_tagged
from tunekit.errors import DataError

CONLL_IOB1 = """-DOCSTART- -X- O O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER
"""


def test_conll_iob1_is_read_as_iob2_sentences(tmp_path):
    path = tmp_path / "eng.train"
    path.write_text(CONLL_IOB1)
    data = read_tagged(path)
    assert data.words == [["EU", "rejects", "German"], ["Peter", "Blackburn"]]
    assert data.tags == [["B-ORG", "O", "B-MISC"], ["B-PER", "I-PER"]]


def test_jsonl_words_and_tags(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps({"tokens": ["John", "lives"], "tags": ["B-PER", "O"]}) + "\n\n")
    assert read_tagged(path).tags == [["B-PER", "O"]]


def test_jsonl_text_with_character_spans_becomes_word_tags(tmp_path):
    path = tmp_path / "spans.jsonl"
    text = "Tim Cook visited New York."
    row = {"text": text, "entities": [{"start": 0, "end": 8, "label": "PER"}, {"start": 17, "end": 25, "label": "LOC"}]}
    path.write_text(json.dumps(row))
    data = read_tagged(path)
    assert data.words == [["Tim", "Cook", "visited", "New", "York", "."]]
    assert data.tags == [["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O"]]


def test_unlabeled_jsonl_has_no_tags(tmp_path):
    path = tmp_path / "raw.jsonl"
    path.write_text(json.dumps({"text": "no entities here"}))
    data = read_tagged(path)
    assert data.tags is None and data.words == [["no", "entities", "here"]]


@pytest.mark.parametrize(("content", "suffix", "message"), [
    ("", ".txt", "is empty"),
    ("EU\n", ".txt", "expected `word tag`"),
    ("EU B-PER\nx PERSON\n", ".txt", "not an IOB tag"),
    ('{"tokens": ["a", "b"], "tags": ["O"]}', ".jsonl", "2 words but 1 tags"),
    ('{"words": ["a"]}', ".jsonl", "neither `tokens` nor `text`"),
    ("not json", ".jsonl", "not valid JSON"),
    ('{"text": "abc", "entities": [{"start": 2, "end": 9, "label": "X"}]}', ".jsonl", "outside the text"),
    ('{"text": "abc", "entities": [{"start": 0}]}', ".jsonl", "lacks start, end or label"),
])
def test_malformed_files_name_the_problem(tmp_path, content, suffix, message):
    path = tmp_path / f"bad{suffix}"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_tagged(path)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_tagged(tmp_path / "nope.conll")
