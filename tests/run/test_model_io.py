"""Model files of a run: merged export loads without tunekit; broken or unsafe weights fail cleanly."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from tiny_fixtures import make_sentiment_rows, tiny_run_config
from tunekit.errors import RunDirError
from tunekit.inference.predictor import Predictor
from tunekit.recipes.train_classifier import train_classifier
from tunekit.run.export import export_run
from tunekit.run.layout import RunLayout
from tunekit.run.model_io import export_merged

TEXTS = ["good", "the movie was really quite very dull and the plot was poor", "a film",
         "the acting is lovely and the story is great", "bad", "the plot and the story", "superb film",
         "a wonderful movie", "the film was boring"]


@pytest.fixture(scope="module")
def runs(tiny_model_dir, tmp_path_factory) -> dict[str, Path]:
    """One finished tiny run per method."""
    root = tmp_path_factory.mktemp("model-io-runs")
    data = root / "train.csv"
    pd.DataFrame(make_sentiment_rows(200)).to_csv(data, index=False)
    return {method: train_classifier(tiny_run_config(tiny_model_dir, method=method,
                                                     data={"train": str(data)}), root / method)
            for method in ("full", "lora")}


@pytest.fixture
def copied_run(runs, tmp_path):
    """A throwaway copy of a run, to damage."""
    def copy(method: str) -> Path:
        target = tmp_path / method
        shutil.copytree(runs[method], target)
        return target
    return copy


def _plain_transformers_probabilities(model_dir: Path, texts: list[str]) -> np.ndarray:
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    batch = tokenizer(texts, padding=True, truncation=True, max_length=32, return_tensors="pt")
    with torch.no_grad():
        return torch.softmax(model(**batch).logits, dim=-1).numpy()


@pytest.mark.parametrize("method", ["full", "lora"])
def test_export_merged_loads_with_plain_transformers(method, runs, tmp_path):
    run = runs[method]
    assert (RunLayout(run).model / "adapter_config.json").is_file() == (method == "lora")
    reference = Predictor.from_run_dir(run)
    assert reference.bf16 is False
    expected = reference.predict_proba(TEXTS)
    if method == "lora":
        target = export_run(run, tmp_path / "export")  # merges the adapter into a model of its own
    else:
        target = export_merged(reference.model, method, reference.tokenizer, reference.label_map, tmp_path / "export")
    assert target == tmp_path / "export"
    assert (target / "model.safetensors").is_file()
    assert not (target / "adapter_config.json").exists() and not list(target.glob("*.bin"))
    assert json.loads((target / "tunekit_labels.json").read_text())["classes"] == ["negative", "positive"]

    probabilities = _plain_transformers_probabilities(target, TEXTS)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    exported = AutoModelForSequenceClassification.from_pretrained(target)
    assert exported.config.id2label == {0: "negative", 1: "positive"}
    assert exported.config.label2id == {"negative": 0, "positive": 1}


def test_lora_export_differs_from_base_model(runs, tmp_path, tiny_model_dir):
    """The merged weights carry the adapter: the exported encoder is not the untouched base encoder."""
    target = export_run(runs["lora"], tmp_path / "export")
    exported = AutoModelForSequenceClassification.from_pretrained(target).state_dict()
    base = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2).state_dict()
    name = "bert.encoder.layer.0.attention.self.query.weight"
    assert exported[name].shape == base[name].shape
    assert not torch.equal(exported[name], base[name])
    assert not any("lora" in key for key in exported)


@pytest.mark.parametrize("method", ["full", "lora"])
def test_truncated_weights_raise_run_dir_error(method, copied_run):
    run = copied_run(method)
    name = "adapter_model.safetensors" if method == "lora" else "model.safetensors"
    weights = run / "model" / name
    size = weights.stat().st_size
    with open(weights, "r+b") as handle:
        handle.truncate(size // 2)
    with pytest.raises(RunDirError) as excinfo:
        Predictor.from_run_dir(run)
    assert name in str(excinfo.value)
    assert "corrupted" in excinfo.value.fix
    assert excinfo.value.__cause__ is None and excinfo.value.__suppress_context__  # no deep library traceback


class _Tripwire:
    """Unpickling this creates ``path``: proof that a file was unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.mkdir, (self.path,))


@pytest.mark.parametrize("method", ["full", "lora"])
def test_pickle_weights_are_refused_not_unpickled(method, copied_run, tmp_path):
    run = copied_run(method)
    model_dir = run / "model"
    safe, unsafe = ("adapter_model.safetensors", "adapter_model.bin") if method == "lora" \
        else ("model.safetensors", "pytorch_model.bin")
    (model_dir / safe).unlink()
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(_Tripwire(probe)))
    assert probe.is_dir()  # the tripwire works: unpickling it leaves a trace
    tripwire = tmp_path / "unpickled"
    (model_dir / unsafe).write_bytes(pickle.dumps(_Tripwire(tripwire)))
    with pytest.raises(RunDirError, match="never unpickles") as excinfo:
        Predictor.from_run_dir(run)
    assert f"has no {safe}" in excinfo.value.problem
    assert unsafe in excinfo.value.problem
    assert "safetensors" in excinfo.value.fix
    assert not tripwire.exists()


def test_missing_weights_without_pickle_say_so(copied_run):
    run = copied_run("full")
    (run / "model" / "model.safetensors").unlink()
    with pytest.raises(RunDirError, match="has no model.safetensors") as excinfo:
        Predictor.from_run_dir(run)
    assert "unpickle" not in excinfo.value.problem


# --- RunLayout ------------------------------------------------------------------------------------------


def test_require_finished_accepts_a_finished_run(runs):
    layout = RunLayout(runs["full"])
    assert layout.require_finished() is layout
    assert layout.model == runs["full"] / "model" and layout.config.is_file() and layout.labels.is_file()


def test_require_finished_on_missing_dir(tmp_path):
    with pytest.raises(RunDirError, match="does not exist"):
        RunLayout(tmp_path / "nothing-here").require_finished()
    with pytest.raises(RunDirError, match="does not exist"):
        Predictor.from_run_dir(tmp_path / "nothing-here")


@pytest.mark.parametrize("missing", ["config.yaml", "labels.json", "model"])
def test_require_finished_on_incomplete_dir(missing, copied_run):
    run = copied_run("full")
    path = run / missing
    shutil.rmtree(path) if path.is_dir() else path.unlink()
    with pytest.raises(RunDirError, match=f"{missing} is missing") as excinfo:
        RunLayout(run).require_finished()
    assert "--resume" in excinfo.value.fix


def test_require_finished_on_an_interrupted_run(tmp_path):
    """What an interrupted run leaves before the model is saved: config, labels, status, no model."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("method: full\n")
    (run / "labels.json").write_text('{"classes": ["a", "b"], "multi_label": false}')
    (run / "status.json").write_text('{"status": "running"}')
    with pytest.raises(RunDirError, match="not a finished run: model is missing"):
        RunLayout(run).require_finished()
