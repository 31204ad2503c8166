"""`RunLayout`'s compressed model: whichever precision `tunekit compress` wrote, and which one that is."""

from __future__ import annotations

import pytest

from tunekit.run.layout import COMPRESSED_PRECISIONS, RunLayout


@pytest.mark.parametrize("precision", COMPRESSED_PRECISIONS)
def test_the_compressed_model_is_the_one_written(tmp_path, precision):
    layout = RunLayout(tmp_path)
    layout.compressed.mkdir()
    layout.compressed_model_for(precision).write_bytes(b"onnx")
    assert layout.compressed_model == tmp_path / "compressed" / f"model.{precision}.onnx"
    assert layout.compressed_precision == precision


def test_without_a_compressed_model_the_int8_path_is_named(tmp_path):
    layout = RunLayout(tmp_path)
    assert layout.compressed_model == tmp_path / "compressed" / "model.int8.onnx"
    assert not layout.compressed_model.exists() and layout.compressed_precision == "int8"


def test_a_folder_named_like_the_model_is_not_taken_for_it(tmp_path):
    layout = RunLayout(tmp_path)
    layout.compressed_model_for("int8").mkdir(parents=True)
    layout.compressed_model_for("fp32").write_bytes(b"onnx")
    assert layout.compressed_precision == "fp32"
