"""`source_fingerprint`: what a compressed model records of the weights and labels it was made from; and
`check_compressed_source`: that compression.json describes the model beside it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tunekit.compress.source import check_compressed_source, source_fingerprint
from tunekit.errors import RunDirError
from tunekit.run.layout import RunLayout


@pytest.fixture
def layout(tmp_path) -> RunLayout:
    """A run directory's model files and labels, with made-up contents (the fingerprint reads bytes only)."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.safetensors").write_bytes(bytes(range(256)) * 10_000)  # 2.4 MiB: read in blocks
    (tmp_path / "model" / "config.json").write_text('{"hidden_size": 32}')
    (tmp_path / "model" / "vocab.txt").write_text("[PAD]\n[UNK]\n")
    (tmp_path / "labels.json").write_text(json.dumps({"classes": ["negative", "positive"], "multi_label": False}))
    return RunLayout(tmp_path)


def test_is_the_sha256_of_the_weight_files_and_labels(layout):
    expected = hashlib.sha256()
    for path in (layout.model / "model.safetensors", layout.labels):
        expected.update(path.name.encode() + b"\0" + path.read_bytes())
    assert source_fingerprint(layout) == expected.hexdigest()


def flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("change", [
    lambda layout: flip_last_byte(layout.model / "model.safetensors"),  # in the third 1 MiB block
    lambda layout: (layout.model / "model.safetensors").rename(layout.model / "other.safetensors"),  # a name
    lambda layout: (layout.model / "adapter_model.safetensors").write_bytes(b"adapter"),  # another weight file
    lambda layout: layout.labels.write_text(json.dumps({"classes": ["positive", "negative"], "multi_label": False})),
])
def test_changes_with_the_weights_or_the_labels(layout, change):
    before = source_fingerprint(layout)
    change(layout)
    assert source_fingerprint(layout) != before


@pytest.mark.parametrize("change", [
    lambda layout: (layout.model / "config.json").write_text('{"hidden_size": 32, "note": "edited"}'),
    lambda layout: (layout.model / "vocab.txt").unlink(),
    lambda layout: (layout.root / "metrics.json").write_text("{}"),
    lambda layout: (layout.root / "compressed").mkdir(),
])
def test_ignores_files_that_are_not_weights_or_labels(layout, change):
    before = source_fingerprint(layout)
    change(layout)
    assert source_fingerprint(layout) == before


def compressed_as(layout: RunLayout, model_precision: str, report: dict) -> None:
    """A ``compressed/`` holding ``model.<model_precision>.onnx`` and ``report`` as its compression.json."""
    layout.compressed.mkdir()
    layout.compressed_model_for(model_precision).write_bytes(b"onnx")
    layout.compression_report.write_text(json.dumps({"source_fingerprint": source_fingerprint(layout), **report}))


@pytest.mark.parametrize(("model_precision", "report"), [("int8", {"precision": "int8"}),
                                                         ("fp32", {"precision": "fp32"}),
                                                         ("int8", {})])  # a report from before fp32 exports
def test_a_report_that_describes_the_model_passes(layout, model_precision, report):
    compressed_as(layout, model_precision, report)
    assert check_compressed_source(layout) is None


@pytest.mark.parametrize(("model_precision", "report", "described"), [("fp32", {"precision": "int8"}, "int8"),
                                                                      ("int8", {"precision": "fp32"}, "fp32"),
                                                                      ("fp32", {}, "int8")])
def test_a_report_of_another_precision_is_refused(layout, model_precision, report, described):
    compressed_as(layout, model_precision, report)
    with pytest.raises(RunDirError, match=f"holds model.{model_precision}.onnx, but its compression.json describes "
                                          f"a {described} model") as error:
        check_compressed_source(layout)
    assert error.value.fix == f"run `tunekit compress {layout.root}` again"


def test_with_both_models_present_the_int8_one_must_be_described(layout):
    compressed_as(layout, "fp32", {"precision": "fp32"})
    layout.compressed_model_for("int8").write_bytes(b"onnx")  # copied in by hand beside it
    with pytest.raises(RunDirError, match="holds model.int8.onnx, but its compression.json describes a fp32 model"):
        check_compressed_source(layout)
