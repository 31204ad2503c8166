"""`compress_run` on the tiny classifier: the files and report it writes, the accuracy and macro-F1 gate, its
refusals."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import shutil
from datetime import datetime
from pathlib import Path

import numpy as np
import onnxruntime
import pandas as pd
import pytest
import torch
import yaml
from rich.console import Console
from sklearn.metrics import accuracy_score, f1_score
from transformers import AutoModelForSequenceClassification

import tunekit.recipes.compress_run as recipe
from tiny_fixtures import make_multi_label_rows, make_sentiment_rows, retrain_in_place
from tunekit.atomic import read_json
from tunekit.compress.onnx_classifier import OnnxClassifier
from tunekit.compress.source import source_fingerprint
from tunekit.config import load_config
from tunekit.data.prepare import load_splits
from tunekit.errors import DataError, RunDirError, TunekitError
from tunekit.inference.predictor import Predictor
from tunekit.methods import METHODS
from tunekit.recipes.compress_run import compress_run, print_compression_report
from tunekit.recipes.train_classifier import train_classifier
from tunekit.run.layout import COMPRESSED_PRECISIONS, RunLayout


def copy_run(run_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run_dir, tmp_path / "run"))


def snapshot(run_dir: Path) -> dict[str, bytes]:
    """Every file in the run directory, hidden ones included, by relative path."""
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


def gate_sees(monkeypatch, run: dict[str, float], exported: dict[str, float]) -> list:
    """Make `compress_run`'s gate see these metrics (the run's model is classified first, the exported model
    second); returns the real passes."""
    real = recipe._classify
    calls = []

    def classify(predictor, check):
        checked = real(predictor, check)
        calls.append(checked)
        return dataclasses.replace(checked, metrics=dict(run if len(calls) == 1 else exported))

    monkeypatch.setattr(recipe, "_classify", classify)
    return calls


def both(accuracy: float, macro_f1: float | None = None) -> dict[str, float]:
    return {"accuracy": accuracy, "macro_f1": accuracy if macro_f1 is None else macro_f1}


def cpu_flags() -> set[str]:
    flags = [line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")]
    return set(flags[0].split(":", 1)[1].split()) if flags else set()


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
    gold = np.array(validation.labels)
    run_labels = np.array(run.labels_from_probabilities(run_p))
    int8_labels = np.array(int8.labels_from_probabilities(int8_p))
    for metric, score in (("accuracy", accuracy_score), ("macro_f1", lambda y, p: f1_score(y, p, average="macro"))):
        assert report[metric] == {"run": pytest.approx(score(gold, run_labels), abs=1e-6),
                                  "int8": pytest.approx(score(gold, int8_labels), abs=1e-6)}, metric
    assert report["accuracy"]["run"] > 0.9 and report["accuracy"]["run"] - report["accuracy"]["int8"] <= 0.01
    assert report["macro_f1"]["run"] > 0.9 and report["macro_f1"]["run"] - report["macro_f1"]["int8"] <= 0.01
    assert report["max_accuracy_drop"] == 0.01
    assert report["prediction_agreement"] == pytest.approx((run_labels == int8_labels).mean(), abs=1e-6)
    assert report["texts_flipped"] == {"right_to_wrong": int(((run_labels == gold) & (int8_labels != gold)).sum()),
                                       "wrong_to_right": int(((run_labels != gold) & (int8_labels == gold)).sum())}
    assert report["max_probability_difference"] == pytest.approx(np.abs(run_p - int8_p).max(), abs=1e-5)

    assert report["texts_per_second"]["run"] > 0 and report["texts_per_second"]["int8"] > 0
    assert report["size_mb"]["int8"] == round(layout.compressed_model.stat().st_size / 2**20, 1)
    assert report["size_mb"]["run"] == round(sum(p.numel() * 4 for p in run.model.parameters()) / 2**20, 1)
    assert report["checked_on"] == {"cpu_flags": [f for f in recipe.CPU_FLAGS if f in cpu_flags()],
                                    "threads": torch.get_num_threads()}
    assert report["source_fingerprint"] == source_fingerprint(layout)
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


def test_the_report_counts_flips_and_agreement_from_both_passes(tiny_classifier_run, tmp_path, monkeypatch):
    """Texts each model gets right that the other gets wrong, and the share predicted alike; and the run's size
    is its parameters', not the files in model/ (a 3 MiB file beside the weights changes nothing)."""
    run_dir = copy_run(tiny_classifier_run, tmp_path)
    (run_dir / "model" / "notes.bin").write_bytes(bytes(3 * 2**20))
    real = recipe._classify
    passes = []

    def classify(predictor, check):
        checked = real(predictor, check)
        n = len(checked.correct)
        if passes:  # the int8 pass: the run's predictions but the first 3 changed; 2 right ones wrong, 1 wrong right
            predicted = passes[0].predicted.copy()
            predicted[:3] = 1 - predicted[:3]
            checked = dataclasses.replace(checked, predicted=predicted,
                                          correct=np.array([False, False, True] + [True] * (n - 3)))
        else:
            checked = dataclasses.replace(checked, correct=np.array([True, True, False] + [True] * (n - 3)))
        passes.append(checked)
        return dataclasses.replace(checked, metrics=both(0.9))

    monkeypatch.setattr(recipe, "_classify", classify)
    report = compress_run(run_dir)
    n = len(passes[0].correct)
    assert report["texts_flipped"] == {"right_to_wrong": 2, "wrong_to_right": 1}
    assert report["prediction_agreement"] == round((n - 3) / n, 6)
    assert report["size_mb"]["run"] < 1  # the tiny model's ~22k fp32 parameters; model/ holds more than 3 MiB
    assert read_json(RunLayout(run_dir).compression_report)["texts_flipped"] == report["texts_flipped"]


def printed(report: dict) -> tuple[list[str], list[list[str]]]:
    """`print_compression_report`'s lines, and the cells of its table's body rows."""
    console = Console(file=io.StringIO(), width=200)
    print_compression_report(report, console)
    lines = console.file.getvalue().splitlines()
    return lines, [[cell.strip() for cell in line.split("│")[1:-1]] for line in lines if line.count("│") == 6]


def test_the_printed_report_puts_each_figure_in_its_column():
    report = {"check_set": "holdout.csv (250 texts)", "accuracy": {"run": 0.912, "int8": 0.908},
              "macro_f1": {"run": 0.8765, "int8": 0.8621}, "texts_per_second": {"run": 410.26, "int8": 1530.04},
              "size_mb": {"run": 86.7, "int8": 22.1}, "prediction_agreement": 0.984,
              "texts_flipped": {"right_to_wrong": 3, "wrong_to_right": 2}}
    lines, rows = printed(report)

    assert "int8 model checked on holdout.csv (250 texts)" in lines[0]
    (header,) = [[cell.strip() for cell in line.split("┃")[1:-1]] for line in lines if line.count("┃") == 6]
    assert header == ["", "accuracy", "macro-F1", "texts/s", "size (MB)"]
    assert rows == [["run's model (fp32)", "0.9120", "0.8765", "410.3", "86.7"],
                    ["int8 ONNX", "0.9080", "0.8621", "1530.0", "22.1"]]
    assert lines[-1] == "the same prediction for 98.4% of texts; 3 went from right to wrong, 2 the other way"


def test_a_larger_accuracy_drop_writes_nothing(tiny_classifier_run, tmp_path, monkeypatch):
    run_dir = copy_run(tiny_classifier_run, tmp_path)
    before = snapshot(run_dir)
    calls = gate_sees(monkeypatch, run=both(0.95), exported=both(0.90, 0.95))
    with pytest.raises(TunekitError, match="model's accuracy on .* is 0.9000 against the run's 0.9500: 0.0500 "
                                           "lower, more than the 0.01 allowed; nothing was written") as error:
        compress_run(run_dir)
    assert "--max-accuracy-drop" in error.value.fix
    assert error.value.fix.startswith("compress with --precision fp32 (the run's own weights, no rounding), ")
    assert len(calls) == 2  # the int8 model was built and checked: the gate, not an earlier step, refused
    assert snapshot(run_dir) == before  # no compressed/, and no scratch directory left beside it


def test_a_larger_macro_f1_drop_writes_nothing(tiny_classifier_run, tmp_path, monkeypatch):
    """Accuracy can hold while a small class is lost: macro-F1 is gated too."""
    run_dir = copy_run(tiny_classifier_run, tmp_path)
    before = snapshot(run_dir)
    calls = gate_sees(monkeypatch, run=both(0.95, 0.95), exported=both(0.95, 0.80))
    with pytest.raises(TunekitError, match="(?i)model's macro-F1 on .* is 0.8000 against the run's 0.9500: 0.1500 "
                                           "lower, more than the 0.1 allowed; nothing was written") as error:
        compress_run(run_dir, max_accuracy_drop=0.1)
    assert "accuracy on" not in error.value.problem
    assert len(calls) == 2
    assert snapshot(run_dir) == before


def test_the_macro_f1_refusal_names_the_metric_as_the_table_does(tiny_classifier_run, tmp_path, monkeypatch):
    run_dir = copy_run(tiny_classifier_run, tmp_path)
    gate_sees(monkeypatch, run=both(0.95, 0.95), exported=both(0.95, 0.80))
    with pytest.raises(TunekitError) as error:
        compress_run(run_dir, max_accuracy_drop=0.1)
    assert "the int8 model's macro-F1 on" in error.value.problem


@pytest.mark.parametrize(("allowance", "hint"), [(0.01, True), (0.1, False)])
def test_a_refusal_on_a_small_check_set_suggests_more_texts(tiny_classifier_run, tmp_path, monkeypatch, allowance,
                                                           hint):
    """With n texts one flip moves accuracy by 1/n: an allowance below that refuses any flip, so say so."""
    run_dir = copy_run(tiny_classifier_run, tmp_path)
    n = len(load_splits(load_config(run_dir / "config.yaml").data).validation)
    assert n * 0.01 < 1 <= n * 0.1  # the default check set: ~20 texts
    gate_sees(monkeypatch, run=both(1.0), exported=both(1 - 2 * allowance))
    with pytest.raises(TunekitError, match="nothing was written") as error:
        compress_run(run_dir, max_accuracy_drop=allowance)
    expected = (f"; with {n} texts one text is {1 / n:.4f} of accuracy, more than the allowance: check on more "
                "texts with --data")
    assert error.value.problem.endswith(expected) is hint
    assert ("--data" in error.value.problem) is hint
    assert not RunLayout(run_dir).compressed.exists()


def test_a_refused_compression_keeps_the_earlier_one(tiny_compressed_run, tmp_path, monkeypatch):
    run_dir = copy_run(tiny_compressed_run, tmp_path)
    before = snapshot(run_dir)
    assert "compressed/model.int8.onnx" in before
    gate_sees(monkeypatch, run=both(1.0), exported=both(0.5))
    with pytest.raises(TunekitError, match="nothing was written"):
        compress_run(run_dir, max_accuracy_drop=0.2)
    assert snapshot(run_dir) == before
    Predictor.from_run_dir(run_dir, compressed=True).predict_proba(["a great film"])  # still loads


def test_a_drop_within_the_allowance_is_kept(tiny_classifier_run, tmp_path, monkeypatch):
    run_dir = copy_run(tiny_classifier_run, tmp_path)
    gate_sees(monkeypatch, run=both(0.95, 0.94), exported=both(0.92, 0.90))
    report = compress_run(run_dir, max_accuracy_drop=0.05)
    assert report["accuracy"] == {"run": 0.95, "int8": 0.92} and report["max_accuracy_drop"] == 0.05
    assert report["macro_f1"] == {"run": 0.94, "int8": 0.90}
    written = read_json(RunLayout(run_dir).compression_report)
    assert (written["accuracy"], written["macro_f1"]) == (report["accuracy"], report["macro_f1"])
    assert RunLayout(run_dir).compressed_model.is_file()


@pytest.mark.parametrize("metric", ["accuracy", "macro_f1"])
def test_a_drop_of_exactly_the_allowance_is_kept(tiny_classifier_run, tmp_path, monkeypatch, metric):
    run_dir = copy_run(tiny_classifier_run, tmp_path)
    gate_sees(monkeypatch, run=both(100 / 100), exported={**both(1.0), metric: 99 / 100})  # one text of 100 flips
    compress_run(run_dir, max_accuracy_drop=0.01)
    assert RunLayout(run_dir).compressed_model.is_file()


def test_an_unknown_label_in_the_check_set_fails_before_any_model_runs(tiny_classifier_run, tmp_path, monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded before the check set's labels were checked")

    monkeypatch.setattr(recipe, "load_model", no_model)
    monkeypatch.setattr(recipe.Predictor, "from_run_dir", no_model)
    run_dir = copy_run(tiny_classifier_run, tmp_path)
    holdout = tmp_path / "holdout.csv"
    pd.DataFrame([*make_sentiment_rows(10, seed=4), {"text": "a plot", "label": "neutral"}]).to_csv(holdout,
                                                                                                     index=False)
    with pytest.raises(DataError, match=re.escape(f"{holdout} has the label 'neutral', which never occurs in the "
                                                  "training data")):
        compress_run(run_dir, str(holdout))
    assert not RunLayout(run_dir).compressed.exists()


def test_scratch_left_by_a_killed_compression_is_removed(tiny_classifier_run, tmp_path, monkeypatch):
    """A compression killed mid-export leaves ``.compressed.<random>.tmp``; the next one clears it first (even
    one that then fails), and leaves other hidden entries alone."""
    run_dir = copy_run(tiny_classifier_run, tmp_path)
    for name in (".compressed.k3x_9a.tmp", ".compressed.zz01.tmp"):
        (run_dir / name).mkdir()
        (run_dir / name / "model.int8.onnx").write_bytes(b"half an export")
    (run_dir / ".compressed.notes").write_text("mine")
    (run_dir / ".cache.tmp").mkdir()
    with pytest.raises(DataError):
        compress_run(run_dir, str(tmp_path / "missing.csv"))
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith(".")) == [".cache.tmp",
                                                                                    ".compressed.notes"]


def test_compressing_a_retrained_run_again_replaces_its_stale_model(tiny_compressed_run, tmp_path):
    """The fix the refusal names: `tunekit compress` again records the weights the run holds now."""
    run_dir = copy_run(tiny_compressed_run, tmp_path)
    stale = read_json(RunLayout(run_dir).compression_report)["source_fingerprint"]
    retrain_in_place(run_dir)
    with pytest.raises(RunDirError, match="other weights"):
        Predictor.from_run_dir(run_dir, compressed=True)

    report = compress_run(run_dir)
    assert report["source_fingerprint"] == source_fingerprint(RunLayout(run_dir)) != stale
    assert read_json(RunLayout(run_dir).compression_report)["source_fingerprint"] == report["source_fingerprint"]
    Predictor.from_run_dir(run_dir, compressed=True).predict_proba(["a wonderful film"])


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
    report = compress_run(run_dir, max_accuracy_drop=0.5)  # two epochs of LoRA classify poorly: only numbers matter
    plain = AutoModelForSequenceClassification.from_pretrained(config.model.name, num_labels=2)
    assert report["size_mb"]["run"] == round(sum(p.numel() * 4 for p in plain.parameters()) / 2**20, 1)  # merged

    texts = [row["text"] for row in make_sentiment_rows(40, seed=9)]
    run = Predictor.from_run_dir(run_dir)
    expected = run.predict_proba(texts)
    with METHODS["lora"].disabled(run.model):
        assert np.abs(run.predict_proba(texts) - expected).max() > 0.05  # the adapter matters
    np.testing.assert_allclose(Predictor.from_run_dir(run_dir, compressed=True).predict_proba(texts), expected,
                               atol=0.02)  # measured ~0.001


def test_a_multi_label_run_is_checked_on_label_sets(tiny_config, tmp_path):
    """Right means the exact label set; agreement means the same label set (thresholds applied to each model)."""
    path = tmp_path / "tickets.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in make_multi_label_rows(160)))
    config = tiny_config(data={"train": str(path), "label_column": "labels", "multi_label": True},
                         train={"epochs": 3, "batch_size": 8, "learning_rate": 1e-2})
    run_dir = train_classifier(config, tmp_path / "run")
    report = compress_run(run_dir, max_accuracy_drop=0.5)

    validation = load_splits(load_config(run_dir / "config.yaml").data).validation
    gold = [frozenset(labels) for labels in validation.labels]
    run = [frozenset(p) for p in Predictor.from_run_dir(run_dir).predict(validation.texts)]
    int8 = [frozenset(p) for p in Predictor.from_run_dir(run_dir, compressed=True).predict(validation.texts)]
    assert any(len(labels) == 2 for labels in run)  # sets, not one label per text
    assert report["accuracy"] == {"run": pytest.approx(np.mean([p == g for p, g in zip(run, gold, strict=True)]),
                                                       abs=1e-6),
                                  "int8": pytest.approx(np.mean([p == g for p, g in zip(int8, gold, strict=True)]),
                                                        abs=1e-6)}
    assert report["prediction_agreement"] == pytest.approx(np.mean([a == b for a, b in zip(run, int8, strict=True)]),
                                                           abs=1e-6)
    right = [(a == g, b == g) for a, b, g in zip(run, int8, gold, strict=True)]
    assert report["texts_flipped"] == {"right_to_wrong": sum(a and not b for a, b in right),
                                       "wrong_to_right": sum(b and not a for a, b in right)}
    assert 0 <= report["macro_f1"]["int8"] <= 1


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


def test_fp32_writes_the_runs_own_weights_and_says_so(tiny_fp32_onnx_run):
    layout = RunLayout(tiny_fp32_onnx_run)
    assert sorted(p.name for p in layout.compressed.iterdir()) == ["compression.json", "model.fp32.onnx"]
    report = read_json(layout.compression_report)
    assert report["precision"] == "fp32" and report["format"] == recipe.FORMATS["fp32"]
    for figures in (report["accuracy"], report["macro_f1"], report["texts_per_second"], report["size_mb"]):
        assert set(figures) == {"run", "fp32"}
    assert report["accuracy"]["fp32"] == report["accuracy"]["run"] > 0.9
    assert report["prediction_agreement"] == 1.0
    assert report["texts_flipped"] == {"right_to_wrong": 0, "wrong_to_right": 0}
    assert report["max_probability_difference"] < 1e-4  # fp32 throughout: kernel rounding only
    assert report["size_mb"]["fp32"] == round(layout.compressed_model.stat().st_size / 2**20, 1)
    assert report["source_fingerprint"] == source_fingerprint(layout)


def test_the_fp32_model_answers_a_compressed_predictor(tiny_fp32_onnx_run):
    texts = [row["text"] for row in make_sentiment_rows(40, seed=9)]
    run = Predictor.from_run_dir(tiny_fp32_onnx_run).predict_proba(texts)
    predictor = Predictor.from_run_dir(tiny_fp32_onnx_run, compressed=True)
    assert predictor.compressed.path == RunLayout(tiny_fp32_onnx_run).compressed_model_for("fp32")
    fp32 = predictor.predict_proba(texts)
    np.testing.assert_allclose(fp32, run, atol=1e-5)


def test_compressing_as_int8_replaces_an_fp32_model(tiny_fp32_onnx_run, tmp_path):
    run_dir = copy_run(tiny_fp32_onnx_run, tmp_path)
    assert compress_run(run_dir)["precision"] == "int8"
    layout = RunLayout(run_dir)
    assert sorted(p.name for p in layout.compressed.iterdir()) == ["compression.json", "model.int8.onnx"]
    assert Predictor.from_run_dir(run_dir, compressed=True).compressed.path == layout.compressed_model_for("int8")


def test_a_refused_fp32_export_names_its_precision(tiny_classifier_run, tmp_path, monkeypatch):
    run_dir = copy_run(tiny_classifier_run, tmp_path)
    gate_sees(monkeypatch, run=both(0.95), exported=both(0.80))
    with pytest.raises(TunekitError, match="the fp32 model's accuracy on .* nothing was written") as error:
        compress_run(run_dir, precision="fp32")
    assert "--precision" not in error.value.fix and "--max-accuracy-drop" in error.value.fix
    assert not RunLayout(run_dir).compressed.exists()


def test_an_unknown_precision_is_refused_before_anything_runs(tiny_classifier_run, monkeypatch):
    monkeypatch.setattr(recipe, "_check_set", lambda *_: pytest.fail("the check set was read"))
    with pytest.raises(TunekitError, match="unknown precision 'int4'") as error:
        compress_run(tiny_classifier_run, precision="int4")
    assert error.value.fix == "pass one of: int8, fp32"
    assert not RunLayout(tiny_classifier_run).compressed.exists()


def test_the_printed_report_names_an_fp32_model():
    report = {"precision": "fp32", "check_set": "holdout.csv (250 texts)", "accuracy": {"run": 0.912, "fp32": 0.912},
              "macro_f1": {"run": 0.8765, "fp32": 0.8765}, "texts_per_second": {"run": 410.26, "fp32": 530.04},
              "size_mb": {"run": 86.7, "fp32": 86.9}, "prediction_agreement": 1.0,
              "texts_flipped": {"right_to_wrong": 0, "wrong_to_right": 0}}
    lines, rows = printed(report)
    assert "fp32 model checked on holdout.csv (250 texts)" in lines[0]
    assert rows == [["run's model (fp32)", "0.9120", "0.8765", "410.3", "86.7"],
                    ["fp32 ONNX", "0.9120", "0.8765", "530.0", "86.9"]]


def test_a_refused_fp32_export_keeps_the_earlier_int8_model(tiny_compressed_run, tmp_path, monkeypatch):
    run_dir = copy_run(tiny_compressed_run, tmp_path)
    before = snapshot(run_dir)
    gate_sees(monkeypatch, run=both(1.0), exported=both(0.5))
    with pytest.raises(TunekitError, match="the fp32 model's accuracy .* nothing was written"):
        compress_run(run_dir, max_accuracy_drop=0.2, precision="fp32")
    assert snapshot(run_dir) == before
    assert Predictor.from_run_dir(run_dir, compressed=True).compressed.path.name == "model.int8.onnx"


def test_every_precision_has_an_export_and_a_format():
    assert list(recipe.EXPORTS) == list(recipe.FORMATS) == list(COMPRESSED_PRECISIONS)
