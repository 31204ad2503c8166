"""`check_compressed_servable` and `ModelService.load` with the serving config's ``compressed``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tiny_fixtures import retrain_in_place
from tunekit.compress.onnx_classifier import OnnxClassifier
from tunekit.errors import RunDirError
from tunekit.inference.predictor import Predictor
from tunekit.inference.tagger import TagPredictor
from tunekit.run.layout import RunLayout
from tunekit.serve.model_service import ModelService, check_compressed_servable


def test_a_compressed_classifier_is_servable(tiny_compressed_run):
    assert check_compressed_servable(tiny_compressed_run) is None


def test_a_classifier_without_a_compressed_model_is_refused(served_run):
    with pytest.raises(RunDirError, match="asks for the compressed model, and .* has none") as error:
        check_compressed_servable(served_run)
    assert error.value.fix == f"run `tunekit compress {served_run}` first, or set `compressed: false`"


def test_a_tagger_is_refused_as_a_tagger(tiny_tagger_run):
    """Checked before the missing model: compressing it is no fix."""
    with pytest.raises(RunDirError, match="is a tagger, and only classifiers are compressed") as error:
        check_compressed_servable(tiny_tagger_run)
    assert error.value.fix == "set `compressed: false` in the serving config"


@pytest.fixture
def no_model_loads(monkeypatch):
    """Fail the test if a model is loaded: the checks come first."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the compressed check")

    for model_class in (Predictor, TagPredictor):
        monkeypatch.setattr(model_class, "from_run_dir", refuse)


@pytest.mark.parametrize(("run", "message"), [("served_run", "has none"), ("tiny_tagger_run", "is a tagger")])
def test_load_checks_before_loading_any_model(no_model_loads, request, run, message):
    with pytest.raises(RunDirError, match=message):
        ModelService.load(request.getfixturevalue(run), compressed=True)


def test_load_answers_from_the_int8_model(tiny_compressed_run):
    service = ModelService.load(tiny_compressed_run, compressed=True)
    assert isinstance(service.model.compressed, OnnxClassifier)
    assert service.predict(["a wonderful film"])[0]["label"] == "positive"
    assert ModelService.load(tiny_compressed_run).model.compressed is None


def test_a_report_from_before_fp32_exports_is_served_as_int8(tiny_compressed_run, tmp_path):
    run_dir = Path(shutil.copytree(tiny_compressed_run, tmp_path / "run"))
    report_path = RunLayout(run_dir).compression_report
    report = json.loads(report_path.read_text())
    del report["precision"]
    report_path.write_text(json.dumps(report))
    service = ModelService.load(run_dir, compressed=True)
    assert service.compression == {"precision": "int8", **report}


def test_load_answers_from_an_fp32_onnx_model(tiny_fp32_onnx_run):
    assert check_compressed_servable(tiny_fp32_onnx_run) is None
    service = ModelService.load(tiny_fp32_onnx_run, compressed=True)
    assert service.model.compressed.path.name == "model.fp32.onnx"
    assert service.compression["precision"] == "fp32"
    assert service.predict(["a wonderful film"])[0]["label"] == "positive"


def test_load_refuses_a_stale_int8_model(tiny_compressed_run, tmp_path):
    run_dir = Path(shutil.copytree(tiny_compressed_run, tmp_path / "run"))
    retrain_in_place(run_dir)
    with pytest.raises(RunDirError, match="was made from other weights") as error:
        ModelService.load(run_dir, compressed=True)
    assert error.value.fix == f"run `tunekit compress {run_dir}` again"
