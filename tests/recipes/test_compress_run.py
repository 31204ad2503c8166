"""`compress_run` on the tiny classifier: the files and report it writes, the accuracy gate, its refusals."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import datetime
from pathlib import Path

import numpy as np
import onnxruntime
import pandas as pd
import pytest
import yaml
from sklearn.metrics import accuracy_score

import tunekit.recipes.compress_run as recipe
from tiny_fixtures import make_sentiment_rows
from tunekit.atomic import read_json
from tunekit.compress.onnx_classifier import OnnxClassifier
from tunekit.config import load_config
from tunekit.data.prepare import load_splits
from tunekit.errors import DataError, RunDirError, TunekitError
from tunekit.inference.predictor import Predictor
from tunekit.methods import METHODS
from tunekit.recipes.compress_run import compress_run
from tunekit.recipes.train_classifier import train_classifier
from tunekit.run.layout import RunLayout


def copy_run(run_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run_dir, tmp_path / "run"))


def snapshot(run_dir: Path) -> dict[str, bytes]:
    """Every file in the run directory, hidden ones included, by relative path."""
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


def lower_int8_accuracy(monkeypatch, run_accuracy: float, int8_accuracy: float) -> list:
    """Make `compress_run` see these two accuracies (the run's model is classified first, the int8 model second)."""
    real = recipe._classify
    calls = []

    def classify(predictor, data):
        checked = real(predictor, data)
        calls.append(checked)
        return dataclasses.replace(checked, accuracy=run_accuracy if len(calls) == 1 else int8_accuracy)

    monkeypatch.setattr(recipe, "_classify", classify)
    return calls


def test_writes_the_int8_model_and_a_truthful_report(tiny_compressed_run, sentiment_file):
    layout = RunLayout(tiny_compressed_run)
    assert sorted(p.name for p in layout.compressed.iterdir()) == ["compression.json", "model.int8.onnx"]
    assert not [p.name for p in tiny_compressed_run.iterdir() if p.name.startswith(".")]  # no scratch left
    report = read_json(layout.compression_report)

    validation = load_splits(load_config(layout.config).data).validation
    assert report["check_set"] == f"{sentiment_file} (validation split, 10%, seed 0) ({len(validation)} texts)"
    run = Predictor.from_run_dir(tiny_compressed_run)
    int8 = Predictor.from_run_dir(tiny_compressed_run, compressed=True)
    run_p, int8_p = run.predict_proba(validation.texts), int8.predict_proba(validation.texts)
    assert report["accuracy"] == {"run": pytest.approx(accuracy_score(validation.labels, run.predict(validation.texts)),
                                                       abs=1e-6),
                                  "int8": pytest.approx(accuracy_score(validation.labels,
                                                                       int8.labels_from_probabilities(int8_p)),
                                                        abs=1e-6)}
    assert report["accuracy"]["run"] > 0.9 and report["accuracy"]["run"] - report["accuracy"]["int8"] <= 0.01
    assert report["max_accuracy_drop"] == 0.01
    assert report["prediction_agreement"] == pytest.approx((run_p.argmax(1) == int8_p.argmax(1)).mean(), abs=1e-6)
    assert report["max_probability_difference"] == pytest.approx(np.abs(run_p - int8_p).max(), abs=1e-5)

    assert report["texts_per_second"]["run"] > 0 and report["texts_per_second"]["int8"] > 0
    assert report["size_mb"]["int8"] == round(layout.compressed_model.stat().st_size / 2**20, 1)
    assert report["size_mb"]["run"] == round(sum(f.stat().st_size for f in layout.model.rglob("*")) / 2**20, 1)
    assert report["packages"]["onnxruntime"] == onnxruntime.__version__
    assert datetime.fromisoformat(report["created"]).tzinfo is not None


def test_compressed_predictor_classifies_like_the_run(tiny_compressed_run):
    texts = [row["text"] for row in make_sentiment_rows(40, seed=9)]
    run = Predictor.from_run_dir(tiny_compressed_run).predict_proba(texts)
    predictor = Predictor.from_run_dir(tiny_compressed_run, compressed=True)
    assert isinstance(predictor.compressed, OnnxClassifier)
    assert predictor.compressed.path == RunLayout(tiny_compressed_run).compressed_model
    int8 = predictor.predict_proba(texts)

    assert int8.shape == (40, 2) and int8.dtype == np.float32
    np.testing.assert_allclose(int8.sum(axis=1), 1.0, atol=1e-6)
    assert (int8.argmax(axis=1) == run.argmax(axis=1)).mean() >= 0.95
    assert np.abs(int8 - run).max() > 1e-6  # the probabilities came from the int8 model, not the torch one
    np.testing.assert_allclose(int8, run, atol=0.05)  # stated tolerance (the tiny model measures ~0.016)


def test_a_larger_accuracy_drop_writes_nothing(tiny_classifier_run, tmp_path, monkeypatch):
    run_dir = copy_run(tiny_classifier_run, tmp_path)
    before = snapshot(run_dir)
    calls = lower_int8_accuracy(monkeypatch, run_accuracy=0.95, int8_accuracy=0.90)
    with pytest.raises(TunekitError, match="0.0500 lower, more than the 0.01 allowed; nothing was written") as error:
        compress_run(run_dir)
    assert "--max-accuracy-drop" in error.value.fix
    assert len(calls) == 2  # the int8 model was built and checked: the gate, not an earlier step, refused
    assert snapshot(run_dir) == before  # no compressed/, and no scratch directory left beside it


def test_a_refused_compression_keeps_the_earlier_one(tiny_compressed_run, tmp_path, monkeypatch):
    run_dir = copy_run(tiny_compressed_run, tmp_path)
    before = snapshot(run_dir)
    assert "compressed/model.int8.onnx" in before
    lower_int8_accuracy(monkeypatch, run_accuracy=1.0, int8_accuracy=0.5)
    with pytest.raises(TunekitError, match="nothing was written"):
        compress_run(run_dir, max_accuracy_drop=0.2)
    assert snapshot(run_dir) == before
    Predictor.from_run_dir(run_dir, compressed=True).predict_proba(["a great film"])  # still loads


def test_a_drop_within_the_allowance_is_kept(tiny_classifier_run, tmp_path, monkeypatch):
    run_dir = copy_run(tiny_classifier_run, tmp_path)
    lower_int8_accuracy(monkeypatch, run_accuracy=0.95, int8_accuracy=0.92)
    report = compress_run(run_dir, max_accuracy_drop=0.05)
    assert report["accuracy"] == {"run": 0.95, "int8": 0.92} and report["max_accuracy_drop"] == 0.05
    assert read_json(RunLayout(run_dir).compression_report)["accuracy"] == report["accuracy"]
    assert RunLayout(run_dir).compressed_model.is_file()


def test_a_drop_of_exactly_the_allowance_is_kept(tiny_classifier_run, tmp_path, monkeypatch):
    run_dir = copy_run(tiny_classifier_run, tmp_path)
    lower_int8_accuracy(monkeypatch, run_accuracy=100 / 100, int8_accuracy=99 / 100)  # one text of 100 flips
    compress_run(run_dir, max_accuracy_drop=0.01)
    assert RunLayout(run_dir).compressed_model.is_file()


def test_a_run_without_its_training_data_needs_a_labeled_file(tiny_classifier_run, tmp_path):
    run_dir = copy_run(tiny_classifier_run, tmp_path)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    config["data"]["train"] = str(tmp_path / "moved-away.csv")
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(DataError, match="moved-away.csv.*not on this machine") as error:
        compress_run(run_dir)
    assert "--data" in error.value.fix
    assert not RunLayout(run_dir).compressed.exists()

    rows = make_sentiment_rows(30, seed=4)
    holdout = tmp_path / "holdout.csv"
    pd.DataFrame(rows).to_csv(holdout, index=False)
    report = compress_run(run_dir, str(holdout))
    assert report["check_set"] == f"{holdout} (30 texts)"
    expected = accuracy_score([r["label"] for r in rows], Predictor.from_run_dir(run_dir).predict([r["text"]
                                                                                                   for r in rows]))
    assert report["accuracy"]["run"] == pytest.approx(expected, abs=1e-6)
    assert RunLayout(run_dir).compressed_model.is_file()


def test_an_adapter_run_is_merged_before_export(tiny_config, sentiment_file, tmp_path):
    config = tiny_config(method="lora", data={"train": str(sentiment_file)}, train={"epochs": 2, "learning_rate": 1e-2})
    run_dir = train_classifier(config, tmp_path / "lora")
    compress_run(run_dir, max_accuracy_drop=0.5)  # two epochs of LoRA classify poorly: only the numbers matter here

    texts = [row["text"] for row in make_sentiment_rows(40, seed=9)]
    run = Predictor.from_run_dir(run_dir)
    expected = run.predict_proba(texts)
    with METHODS["lora"].disabled(run.model):
        assert np.abs(run.predict_proba(texts) - expected).max() > 0.05  # the adapter matters
    np.testing.assert_allclose(Predictor.from_run_dir(run_dir, compressed=True).predict_proba(texts), expected,
                               atol=0.02)  # measured ~0.001


def test_a_method_that_cannot_merge_is_refused(tiny_config, sentiment_file, tmp_path):
    run_dir = train_classifier(tiny_config(method="prompt_tuning", data={"train": str(sentiment_file)},
                                           train={"epochs": 1}), tmp_path / "prompt")
    with pytest.raises(TunekitError, match="`prompt_tuning` cannot be merged"):
        compress_run(run_dir)
    assert not RunLayout(run_dir).compressed.exists()


def test_a_tagger_run_is_refused(tiny_tagger_run):
    with pytest.raises(TunekitError, match="token classification run; `tunekit compress` compresses classifiers"):
        compress_run(tiny_tagger_run)
    assert not RunLayout(tiny_tagger_run).compressed.exists()


@pytest.mark.parametrize("drop", [-0.01, 1.0, 1.5, float("nan")])
def test_an_accuracy_drop_outside_0_1_is_refused(tiny_classifier_run, drop):
    with pytest.raises(TunekitError, match=r"max accuracy drop .* is not in \[0, 1\)"):
        compress_run(tiny_classifier_run, max_accuracy_drop=drop)
    assert not RunLayout(tiny_classifier_run).compressed.exists()


def test_an_unfinished_run_is_refused(tmp_path):
    (tmp_path / "half").mkdir()
    with pytest.raises(RunDirError):
        compress_run(tmp_path / "half")
