"""End-to-end `train_classifier` on the tiny BERT: the run directory, its numbers, resume, each data shape."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from safetensors.torch import load_file
from sklearn.metrics import accuracy_score
from sklearn.utils.class_weight import compute_class_weight

import tunekit.recipes.train_classifier as recipe
from tiny_fixtures import NEUTRAL, Interrupt, make_multi_label_rows, make_sentiment_rows, tiny_run_config
from tunekit.config import config_to_dict, load_config
from tunekit.data.labels import LabelMap
from tunekit.errors import ConfigError, RunDirError
from tunekit.evaluation.thresholds import GRID
from tunekit.inference.predictor import Predictor
from tunekit.recipes.train_classifier import train_classifier
from tunekit.run.export import export_run
from tunekit.run.model_io import build_model

# 162 training rows in batches of 16: 11 steps an epoch, so checkpoints at 3, 6, 9, 11 (evaluation), 12, ...
CHECKPOINTED = {"checkpoint_every_steps": 3, "evaluations_per_epoch": 1}


@pytest.fixture(scope="module")
def baseline_config(tiny_model_dir, sentiment_file):
    return tiny_run_config(tiny_model_dir, data={"train": str(sentiment_file)},
                           train=dict(CHECKPOINTED))


@pytest.fixture(scope="module")
def baseline_run(baseline_config, tmp_path_factory) -> Path:
    """One uninterrupted full fine-tuning run, shared by the tests that only read it."""
    return train_classifier(baseline_config, tmp_path_factory.mktemp("runs") / "baseline")


def _read(run_dir: Path, name: str):
    return json.loads((run_dir / name).read_text())


def _model_tensors(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / "model" / "model.safetensors"))


def _split_metrics(run_dir: Path) -> dict:
    metrics = _read(run_dir, "metrics.json")
    return {name: metrics[name] for name in ("validation", "test")}


def test_run_directory_holds_everything(baseline_run, baseline_config):
    for name in ("config.yaml", "labels.json", "metrics.json", "report.md", "train_log.jsonl",
                 "environment.json", "model/model.safetensors", "model/config.json", "test_predictions.csv",
                 "validation_predictions.csv"):
        assert (baseline_run / name).is_file(), name
    pngs = sorted(p.name for p in baseline_run.glob("*.png"))
    assert pngs == ["test_confusion_matrix.png", "test_reliability.png", "validation_confusion_matrix.png",
                    "validation_reliability.png"]
    assert all((baseline_run / png).read_bytes().startswith(b"\x89PNG") for png in pngs)
    assert not [p for p in baseline_run.rglob("*") if p.suffix in (".bin", ".pt", ".pth", ".pkl", ".ckpt")]

    # the resolved config: automatic choices written out (6 epochs × 11 steps, 6% warmup -> 4 steps; macro-F1)
    written = load_config(baseline_run / "config.yaml")
    assert yaml.safe_load((baseline_run / "config.yaml").read_text()) == config_to_dict(written)
    resolved_train = dataclasses.replace(baseline_config.train, warmup_steps=4, warmup_ratio=None,
                                         early_stopping_metric="macro_f1")
    assert written == dataclasses.replace(baseline_config, train=resolved_train, output_dir=str(baseline_run))
    assert _read(baseline_run, "labels.json") == {"classes": ["negative", "positive"], "multi_label": False}
    assert _read(baseline_run, "status.json") == {"status": "completed"}

    environment = _read(baseline_run, "environment.json")
    assert environment["seed"] == baseline_config.train.seed
    assert environment["packages"]["torch"] == torch.__version__
    assert {"tunekit", "transformers", "safetensors", "numpy"} <= environment["packages"].keys()
    assert environment["machine"]["cpu_count"] >= 1 and environment["machine"]["platform"]

    records = [json.loads(line) for line in (baseline_run / "train_log.jsonl").read_text().splitlines()]
    train_records = [r for r in records if r["kind"] == "train"]
    assert [r["step"] for r in train_records] == list(range(2, train_records[-1]["step"] + 1, 2))  # every 2
    assert all(np.isfinite(r["loss"]) and r["learning_rate"] >= 0 for r in train_records)
    assert train_records[-1]["loss"] < train_records[0]["loss"]
    validation_steps = [r["step"] for r in records if r["kind"] == "validation"]
    assert validation_steps[:2] == [11, 22]  # one evaluation per 11-step epoch

    report = (baseline_run / "report.md").read_text()
    assert "test_confusion_matrix.png" in report and "best checkpoint: step" in report


def test_learns_the_sentiment_task(baseline_run):
    metrics = _read(baseline_run, "metrics.json")
    assert metrics["test"]["accuracy"] > 0.9
    assert metrics["training"]["train_examples"] == 162  # 200 minus 10% test minus 10% validation
    assert metrics["training"]["best_step"] % 11 == 0
    predictions = pd.read_csv(baseline_run / "test_predictions.csv")
    assert len(predictions) == 20
    expected = accuracy_score(predictions["label"], predictions["predicted"])
    assert metrics["test"]["accuracy"] == pytest.approx(expected)


def test_same_seed_gives_identical_metrics(baseline_run, baseline_config, tmp_path):
    again = train_classifier(baseline_config, tmp_path / "again")
    assert _read(again, "metrics.json") == _read(baseline_run, "metrics.json")
    baseline_tensors = _model_tensors(baseline_run)
    assert all(torch.equal(t, baseline_tensors[name]) for name, t in _model_tensors(again).items())


@pytest.mark.parametrize(("interrupt_at", "resumes_from"), [(8, 6), (25, 24)])
def test_interrupted_and_resumed_run_is_bit_identical(baseline_run, baseline_config, tmp_path, interrupt_at,
                                                      resumes_from):
    """Step 8 is mid-epoch, before any evaluation; step 25 is after two (early-stopping state to restore)."""
    run_dir = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        train_classifier(baseline_config, run_dir, on_step_end=Interrupt(interrupt_at))
    assert _read(run_dir / "checkpoints", "latest.json") == {"checkpoint": f"step-{resumes_from:08d}"}
    assert _read(run_dir, "status.json") == {"status": "running"}
    assert not (run_dir / "model").exists()

    train_classifier(baseline_config, run_dir, resume=True)

    expected = _model_tensors(baseline_run)
    resumed = _model_tensors(run_dir)
    assert resumed.keys() == expected.keys()
    for name, tensor in resumed.items():
        assert torch.equal(tensor, expected[name]), name
    assert _split_metrics(run_dir) == _split_metrics(baseline_run)
    training = _read(run_dir, "metrics.json")["training"]
    expected_training = _read(baseline_run, "metrics.json")["training"]
    for key in ("steps", "best_step", "examples_seen", "best_validation_macro_f1"):
        assert training[key] == expected_training[key], key


def test_resume_without_checkpoints_is_a_run_dir_error(baseline_config, tmp_path):
    (tmp_path / "empty").mkdir()
    for run_dir in (tmp_path / "empty", tmp_path / "missing"):
        with pytest.raises(RunDirError, match="no checkpoints") as error:
            train_classifier(baseline_config, run_dir, resume=True)
        assert error.value.fix
    assert not (tmp_path / "missing").exists()


@pytest.fixture(scope="module")
def lora_config(tiny_model_dir, sentiment_file):
    return tiny_run_config(tiny_model_dir, method="lora", data={"train": str(sentiment_file)},
                           train={"learning_rate": 3e-3, "early_stopping_patience": None,
                                  **CHECKPOINTED})


@pytest.fixture(scope="module")
def lora_run(lora_config, tmp_path_factory) -> Path:
    return train_classifier(lora_config, tmp_path_factory.mktemp("runs") / "lora")


def test_lora_trains_only_adapters_and_the_head(lora_config):
    model, _ = build_model(lora_config, LabelMap(("negative", "positive")))
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(any(part in n for part in (".lora_A.", ".lora_B.", ".modules_to_save."))
                             for n in trainable)
    heads = {n.split(".modules_to_save")[0].rsplit(".", 1)[-1] for n in trainable if "modules_to_save" in n}
    assert heads == {"classifier", "pooler"}
    assert not any(p.requires_grad for n, p in model.named_parameters() if "word_embeddings" in n)


def test_lora_run_saves_the_adapter_and_head_and_reloads_exactly(lora_run):
    files = {p.name for p in (lora_run / "model").iterdir()}
    assert {"adapter_model.safetensors", "adapter_config.json"} <= files and "model.safetensors" not in files
    saved = load_file(str(lora_run / "model" / "adapter_model.safetensors"))
    assert {"base_model.model.classifier.weight", "base_model.model.classifier.bias",
            "base_model.model.bert.pooler.dense.weight"} <= saved.keys()  # the head is saved (PEFT #310)
    assert not any("word_embeddings" in name or "query.weight" in name for name in saved)

    in_training = pd.read_csv(lora_run / "validation_predictions.csv")  # from the in-memory trained model
    reloaded = Predictor.from_run_dir(lora_run).predict_proba(in_training["text"].tolist())
    np.testing.assert_allclose(reloaded, in_training[["p_negative", "p_positive"]].to_numpy(), atol=2e-6)
    metrics = _read(lora_run, "metrics.json")
    assert metrics["training"]["trainable_parameters"] < metrics["training"]["total_parameters"] / 2
    assert metrics["validation"]["accuracy"] > 0.8


def test_lora_resume_restores_the_dropout_rng(lora_run, lora_config, tmp_path):
    """LoRA's adapter dropout draws from the torch RNG: resuming is exact only if its state is restored."""
    run_dir = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        train_classifier(lora_config, run_dir, on_step_end=Interrupt(8))
    train_classifier(lora_config, run_dir, resume=True)

    expected = load_file(str(lora_run / "model" / "adapter_model.safetensors"))
    resumed = load_file(str(run_dir / "model" / "adapter_model.safetensors"))
    assert resumed.keys() == expected.keys()
    assert all(torch.equal(tensor, expected[name]) for name, tensor in resumed.items())
    assert _split_metrics(run_dir) == _split_metrics(lora_run)


def test_multi_label_jsonl_trains_and_tunes_thresholds(tiny_config, tmp_path):
    path = tmp_path / "tickets.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in make_multi_label_rows(240)))
    config = tiny_config(data={"train": str(path), "label_column": "labels", "multi_label": True},
                         train={"batch_size": 8, "learning_rate": 1e-2, "early_stopping_patience": None})
    run_dir = train_classifier(config, tmp_path / "run")

    labels = _read(run_dir, "labels.json")
    assert labels["classes"] == ["finance", "negative", "positive"] and labels["multi_label"] is True
    assert len(labels["thresholds"]) == 3
    assert all(np.isclose(GRID, t).any() for t in labels["thresholds"])
    predictor = Predictor.from_run_dir(run_dir)
    np.testing.assert_allclose(predictor.thresholds, labels["thresholds"])
    assert predictor.predict(["the film was great money", "story is awful", "the movie was superb"]) == \
        [["finance", "positive"], ["negative"], ["positive"]]
    metrics = _read(run_dir, "metrics.json")
    assert metrics["test"]["micro_f1"] > 0.9
    pngs = sorted(p.name for p in run_dir.glob("*.png"))
    assert pngs == ["test_reliability.png", "validation_reliability.png"]  # no confusion matrix
    exported = export_run(run_dir, tmp_path / "export")  # the tuned thresholds travel with the export
    assert json.loads((exported / "tunekit_labels.json").read_text())["thresholds"] == labels["thresholds"]


def test_multi_label_long_texts_pool_chunks_before_tuning_thresholds(tiny_config, tmp_path):
    path = tmp_path / "tickets.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in make_multi_label_rows(120)))
    config = tiny_config(data={"train": str(path), "label_column": "labels", "multi_label": True,
                               "max_seq_len": 8, "long_text": "chunk", "chunk_stride": 2},
                         train={"epochs": 1})
    run_dir = train_classifier(config, tmp_path / "run")

    assert len(_read(run_dir, "labels.json")["thresholds"]) == 3
    predictor = Predictor.from_run_dir(run_dir)
    probabilities = predictor.predict_proba(["the movie was quite really very good money"])
    assert probabilities.shape == (1, 3)


def test_sentence_pairs_use_the_second_text(tiny_config, tmp_path):
    rng = random.Random(1)
    rows = [{"premise": " ".join(rng.sample(NEUTRAL, k=3)), "hypothesis": row["text"],
             "label": row["label"]} for row in make_sentiment_rows(200, seed=1)]
    path = tmp_path / "pairs.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    config = tiny_config(data={"train": str(path), "text_column": "premise",
                               "text_pair_column": "hypothesis"})
    run_dir = train_classifier(config, tmp_path / "run")

    assert _read(run_dir, "metrics.json")["test"]["accuracy"] > 0.9  # the label is only in the second text
    predictor = Predictor.from_run_dir(run_dir)
    assert predictor.predict(["the movie", "the movie"], ["a wonderful story", "a dreadful story"]) == \
        ["positive", "negative"]


def test_long_texts_are_chunked_for_training_and_prediction(tiny_config, tmp_path):
    rng = random.Random(2)
    rows = []
    for row in make_sentiment_rows(200, seed=2):
        padding = " ".join(rng.choices(NEUTRAL, k=8))
        rows.append({"text": f"{padding} {row['text']}", "label": row["label"]})
    path = tmp_path / "long.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    config = tiny_config(data={"train": str(path), "max_seq_len": 8, "long_text": "chunk", "chunk_stride": 2},
                         train={"early_stopping_patience": None})
    run_dir = train_classifier(config, tmp_path / "run")

    training = _read(run_dir, "metrics.json")["training"]
    # several chunks per text: more examples seen than texts
    assert training["examples_seen"] > 2 * training["train_examples"] * training["epochs"]
    predictions = pd.read_csv(run_dir / "test_predictions.csv")
    assert len(predictions) == 20  # one row per text, not per chunk
    predictor = Predictor.from_run_dir(run_dir)
    probabilities = predictor.predict_proba(["the movie was quite really very the and a plot great", "bad"])
    assert probabilities.shape == (2, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    assert _read(run_dir, "metrics.json")["test"]["accuracy"] > 0.75


def test_balanced_class_weights_reach_the_loss(tiny_config, tmp_path, monkeypatch):
    rows = make_sentiment_rows(200, labels=("negative",) * 4 + ("positive",))
    path = tmp_path / "imbalanced.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    seen = {}
    real_loop = recipe.train_loop

    def spy(model, encoded, objective, **kwargs):
        seen["targets"], seen["class_weights"] = objective.labels.numpy().copy(), objective.class_weights
        return real_loop(model, encoded, objective, **kwargs)

    monkeypatch.setattr(recipe, "train_loop", spy)
    config = tiny_config(data={"train": str(path)},
                         train={"class_weights": "balanced", "early_stopping_metric": "loss"})
    run_dir = train_classifier(config, tmp_path / "run")

    expected = compute_class_weight("balanced", classes=np.arange(2), y=seen["targets"])
    np.testing.assert_allclose(seen["class_weights"].numpy(), expected, rtol=1e-6)
    assert seen["class_weights"][1] > 2 * seen["class_weights"][0]  # the rare positive class weighs more
    assert _read(run_dir, "metrics.json")["test"]["macro_f1"] > 0.8


def test_gradient_accumulation_runs_the_expected_steps(tiny_config, sentiment_file, tmp_path):
    config = tiny_config(data={"train": str(sentiment_file)},
                         train={"gradient_accumulation_steps": 2, "early_stopping_patience": None,
                                "early_stopping_metric": "loss"})
    run_dir = train_classifier(config, tmp_path / "run")

    training = _read(run_dir, "metrics.json")["training"]
    assert training["steps"] == 6 * 6  # 6 epochs of ceil(ceil(162 / 16) / 2) steps
    assert training["examples_seen"] == 6 * 162
    records = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "validation"] == [6, 12, 18, 24, 30, 36]
    assert _read(run_dir, "metrics.json")["test"]["accuracy"] > 0.9


def test_a_new_run_into_an_interrupted_directory_starts_fresh(baseline_run, baseline_config, tmp_path):
    """Without `resume`, an old run is refused; with `overwrite` it is replaced, never continued or mixed in."""
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train_classifier(baseline_config, run_dir, on_step_end=Interrupt(4))
    with pytest.raises(RunDirError, match="already holds a run"):
        train_classifier(baseline_config, run_dir)
    steps = []
    train_classifier(baseline_config, run_dir, overwrite=True, on_step_end=lambda state: steps.append(state.step))
    assert steps[0] == 1
    expected = _model_tensors(baseline_run)
    assert all(torch.equal(tensor, expected[name]) for name, tensor in _model_tensors(run_dir).items())


def test_resuming_a_completed_run_is_refused_and_checkpoints_are_gone(baseline_run, baseline_config):
    assert not (baseline_run / "checkpoints").exists()  # model/ holds the best weights; checkpoints are deleted
    with pytest.raises(RunDirError, match="already completed") as error:
        train_classifier(baseline_config, baseline_run, resume=True)
    assert "tunekit evaluate" in error.value.fix


def test_resume_of_a_run_killed_before_its_first_checkpoint_starts_from_step_0(baseline_run, baseline_config,
                                                                            tmp_path):
    run_dir = tmp_path / "early"
    with pytest.raises(KeyboardInterrupt):
        train_classifier(baseline_config, run_dir, on_step_end=Interrupt(1))
    assert (run_dir / "config.yaml").exists() and not (run_dir / "checkpoints").exists()
    train_classifier(baseline_config, run_dir, resume=True)
    expected = _model_tensors(baseline_run)
    assert all(torch.equal(tensor, expected[name]) for name, tensor in _model_tensors(run_dir).items())


def test_max_seq_len_beyond_the_model_is_a_config_error(baseline_config, tmp_path):
    too_long = dataclasses.replace(baseline_config, data=dataclasses.replace(baseline_config.data, max_seq_len=4096))
    with pytest.raises(ConfigError, match="max_seq_len"):
        train_classifier(too_long, tmp_path / "run")


def test_bf16_working_copies_train_and_resume_bit_identically(baseline_config, tmp_path, monkeypatch):
    """Under bf16 autocast the loop trains the linear weights on bf16 working copies (every one here, the tiny
    model's being small); a run interrupted mid-epoch resumes to exactly the uninterrupted run."""
    from tunekit.training import bf16_working_copies

    monkeypatch.setattr(bf16_working_copies, "MIN_ELEMENTS", 1)
    steps = []
    original_step = bf16_working_copies.Bf16WorkingCopies.step
    monkeypatch.setattr(bf16_working_copies.Bf16WorkingCopies, "step",
                        lambda self, divisor=1.0: (steps.append(len(self.names)), original_step(self, divisor)))
    config = dataclasses.replace(baseline_config, train=dataclasses.replace(baseline_config.train, bf16="on"))
    uninterrupted = train_classifier(config, tmp_path / "uninterrupted")
    assert steps and min(steps) >= 12  # q, k, v, output, intermediate, output dense of 2 layers, pooler, head
    assert _read(uninterrupted, "metrics.json")["test"]["accuracy"] >= 0.9

    run_dir = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        train_classifier(config, run_dir, on_step_end=Interrupt(8))
    train_classifier(config, run_dir, resume=True)
    expected = _model_tensors(uninterrupted)
    for name, tensor in _model_tensors(run_dir).items():
        assert torch.equal(tensor, expected[name]), name
    assert _split_metrics(run_dir) == _split_metrics(uninterrupted)
