"""read_table: every supported format, and DataErrors that name the problem and the fix."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest

from tunekit.data.readers import detect_encoding, read_table
from tunekit.errors import DataError

ROWS = [{"text": "a great film", "label": "pos"}, {"text": "a dull plot", "label": "neg"},
        {"text": "007", "label": "pos"}]


def assert_rows(frame: pd.DataFrame, rows=ROWS):
    assert frame[["text", "label"]].to_dict("records") == rows


def test_csv(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('text,label\n"a great film",pos\na dull plot,neg\n007,pos\n', encoding="utf-8")
    frame = read_table(path, text_columns=("text",))
    assert_rows(frame)
    assert isinstance(frame["text"][2], str)  # numeric-looking text stays text, leading zeros kept


def test_numeric_label_column_stays_numeric(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label\n1,0\n2,1\n", encoding="utf-8")
    frame = read_table(path, text_columns=("text",))
    assert frame["text"].tolist() == ["1", "2"]
    assert frame["label"].tolist() == [0, 1]


def test_tsv_glue_style_quotes_are_text(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text('sentence\tlabel\nthe "best" movie , ever\t1\n" hidden gem\t1\nit \'s flat\t0\n',
                    encoding="utf-8")
    frame = read_table(path, text_columns=("sentence",))
    assert frame["sentence"].tolist() == ['the "best" movie , ever', '" hidden gem', "it 's flat"]
    assert frame["label"].tolist() == [1, 1, 0]


def test_tsv_csv_quoting(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text('text\tlabel\n"tab\tinside"\tx\nplain\ty\n', encoding="utf-8")
    frame = read_table(path, tsv_quoting="csv", text_columns=("text",))
    assert frame["text"].tolist() == ["tab\tinside", "plain"]


def test_jsonl(tmp_path):
    path = tmp_path / "d.jsonl"
    lines = "".join(json.dumps(r) + "\n" for r in ROWS)
    path.write_text(lines + "\n", encoding="utf-8")  # a trailing blank line is ignored
    assert_rows(read_table(path))


def test_json_list(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps(ROWS, indent=1), encoding="utf-8")
    assert_rows(read_table(path))


def test_parquet(tmp_path):
    path = tmp_path / "d.parquet"
    pd.DataFrame(ROWS).to_parquet(path)
    assert_rows(read_table(path))


def test_label_folders(tmp_path):
    for label, texts in {"sport": ["goal scored", "match won"], "tech": ["new chip\n"]}.items():
        (tmp_path / label).mkdir()
        for i, text in enumerate(texts):
            (tmp_path / label / f"{i}.txt").write_text(text, encoding="utf-8")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.txt").write_text("ignored")
    (tmp_path / "tech" / "notes.md").write_text("not a .txt")
    frame = read_table(tmp_path)
    assert frame.to_dict("records") == [{"text": "goal scored", "label": "sport"},
                                        {"text": "match won", "label": "sport"},
                                        {"text": "new chip", "label": "tech"}]


def test_empty_folder_of_labels(tmp_path):
    (tmp_path / "a").mkdir()
    with pytest.raises(DataError) as caught:
        read_table(tmp_path)
    assert "has no <label>/*.txt files" in caught.value.problem
    assert caught.value.fix


@pytest.mark.parametrize(("name", "content", "message"), [
    ("empty.csv", "", "is empty"),
    ("header.csv", "text,label\n", "has no rows"),
    ("header.tsv", "text\tlabel\n", "has no rows"),
    ("data.xlsx", "text,label\na,b\n", "unknown data format `.xlsx`"),
    ("bad.jsonl", '{"text": "a", "label": 1}\n{"text": "b", \n', "line 2 is not JSON"),
])
def test_unreadable_files(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as caught:
        read_table(path)
    assert message in caught.value.problem
    assert name in caught.value.problem
    assert caught.value.fix


def test_missing_file(tmp_path):
    with pytest.raises(DataError) as caught:
        read_table(tmp_path / "nope.csv")
    assert "nope.csv does not exist" in caught.value.problem
    assert "data.train" in caught.value.fix


CP1252_TEXT = "café – “quoted” naïve"


def test_cp1252_csv_without_encoding_points_at_the_option(tmp_path):
    path = tmp_path / "win.csv"
    path.write_bytes(f"text,label\n{CP1252_TEXT},a\nplain,b\n".encode("cp1252"))
    with pytest.raises(DataError) as caught:
        read_table(path)
    assert "is not valid UTF-8" in caught.value.problem
    assert "data.encoding" in caught.value.fix


def test_cp1252_csv_with_auto_encoding(tmp_path, caplog):
    path = tmp_path / "win.csv"
    path.write_bytes(f"text,label\n{CP1252_TEXT},a\nplain,b\n".encode("cp1252"))
    with caplog.at_level(logging.WARNING, logger="tunekit"):
        frame = read_table(path, encoding="auto")
    assert frame["text"].tolist() == [CP1252_TEXT, "plain"]
    assert "cp1252" in caplog.text


def test_cp1252_csv_with_explicit_encoding(tmp_path):
    path = tmp_path / "win.csv"
    path.write_bytes(f"text,label\n{CP1252_TEXT},a\n".encode("cp1252"))
    assert read_table(path, encoding="cp1252")["text"].tolist() == [CP1252_TEXT]


def test_cp1252_label_folder(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "1.txt").write_bytes(CP1252_TEXT.encode("cp1252"))
    (tmp_path / "b" / "1.txt").write_text("plain ✓", encoding="utf-8")
    with pytest.raises(DataError) as caught:
        read_table(tmp_path)
    assert "1.txt" in caught.value.problem
    assert "data.encoding" in caught.value.fix
    frame = read_table(tmp_path, encoding="auto")  # per file: one cp1252, one UTF-8
    assert frame["text"].tolist() == [CP1252_TEXT, "plain ✓"]


@pytest.mark.parametrize(("raw", "expected"), [
    ("plain ✓".encode(), "utf-8"),
    (b"\xef\xbb\xbfwith bom", "utf-8-sig"),
    (CP1252_TEXT.encode("cp1252"), "cp1252"),
    (b"\x81\x8d\x8f", "latin-1"),  # bytes undefined in cp1252
])
def test_detect_encoding(tmp_path, raw, expected):
    assert detect_encoding(raw, tmp_path / "x") == expected
    assert isinstance(raw.decode(expected), str)


def test_utf8_bom_csv_header_is_clean_with_auto(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbftext,label\nhello,a\n")
    assert list(read_table(path, encoding="auto").columns) == ["text", "label"]


def test_read_text_file_decodes_or_explains(tmp_path):
    from tunekit.data.readers import read_text_file

    path = tmp_path / "texts.txt"
    path.write_bytes("caf\xe9 au lait\n".encode("cp1252"))
    with pytest.raises(DataError) as error:
        read_text_file(path)
    assert "data.encoding" in error.value.fix
    assert read_text_file(path, "auto") == "café au lait\n"
    with pytest.raises(DataError, match="does not exist"):
        read_text_file(tmp_path / "missing.txt")
