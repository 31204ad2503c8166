import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from tiny_fixtures import Interrupt, tiny_run_config
from tunekit.recipes.train_tagger import train_tagger

TAGGING = {"task": "token_classification"}


@pytest.fixture(scope="module")
def tagger_config(tiny_model_dir, entity_file):
    return tiny_run_config(tiny_model_dir, data={"train": str(entity_file)},
                           train={"epochs": 3, "checkpoint_every_steps": 4}, **TAGGING)


@pytest.fixture(scope="module")
def baseline(tagger_config, tmp_path_factory) -> Path:
    return train_tagger(tagger_config, tmp_path_factory.mktemp("tagger-runs") / "baseline")


def _read(run_dir: Path, name: str):
    return json.loads((run_dir / name).read_text())


def test_run_directory_holds_entity_scores_and_reports(tiny_tagger_run):
    metrics = _read(tiny_tagger_run, "metrics.json")
    for split in ("validation", "test"):
        assert {"micro_f1", "macro_f1", "token_accuracy", "per_type", "confusion"} <= metrics[split].keys()
        assert set(metrics[split]["per_type"]) == {"LOC", "MISC", "ORG"}
    assert metrics["test"]["micro_f1"] > 0.8
    config = yaml.safe_load((tiny_tagger_run / "config.yaml").read_text())
    assert config["task"] == "token_classification"
    assert config["train"]["early_stopping_metric"] == "micro_f1"  # resolved: entity F1 picks the checkpoint
    assert _read(tiny_tagger_run, "labels.json")["classes"][0] == "O"
    report = (tiny_tagger_run / "report.md").read_text()
    assert "entity micro F1" in report and "test_confusion_matrix.png" in report
    assert (tiny_tagger_run / "test_confusion_matrix.png").stat().st_size > 0
    assert not (tiny_tagger_run / "checkpoints").exists()
    card = (tiny_tagger_run / "MODEL_CARD.md").read_text()
    assert "Tags named entities of 3 types (LOC, MISC, ORG)" in card and "entity micro-F1" in card


@pytest.mark.parametrize("interrupt_at", [5, 14])
def test_interrupted_and_resumed_tagger_is_bit_identical(baseline, tagger_config, tmp_path, interrupt_at):
    run_dir = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        train_tagger(tagger_config, run_dir, on_step_end=Interrupt(interrupt_at))
    train_tagger(tagger_config, run_dir, resume=True)
    expected = load_file(str(baseline / "model" / "model.safetensors"))
    resumed = load_file(str(run_dir / "model" / "model.safetensors"))
    assert all(torch.equal(resumed[name], expected[name]) for name in expected)
    assert _read(run_dir, "metrics.json")["test"] == _read(baseline, "metrics.json")["test"]


def test_label_all_subtokens_trains_too(tiny_model_dir, entity_file, tmp_path):
    config = tiny_run_config(tiny_model_dir, data={"train": str(entity_file)}, tagging={"label_all_subtokens": True},
                             train={"epochs": 1}, **TAGGING)
    assert _read(train_tagger(config, tmp_path / "run"), "metrics.json")["test"]["entities"] > 0


def test_lora_tagger_saves_an_adapter_that_reloads(tiny_model_dir, entity_file, tmp_path):
    from tunekit.inference.tagger import TagPredictor

    config = tiny_run_config(tiny_model_dir, method="lora", data={"train": str(entity_file)}, train={"epochs": 1},
                             **TAGGING)
    run = train_tagger(config, tmp_path / "run")
    assert (run / "model" / "adapter_model.safetensors").is_file()
    predictor = TagPredictor.from_run_dir(run)
    again = TagPredictor.from_run_dir(run)
    sentence = [["the", "bank", "films"]]
    assert (predictor.word_probabilities(sentence)[0] == again.word_probabilities(sentence)[0]).all()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tunekit", *args], capture_output=True, text=True)


def test_cli_trains_evaluates_and_predicts_a_tagger(tiny_model_dir, entity_file, tmp_path):
    run_dir = tmp_path / "cli-run"
    trained = _cli("train", "task=token_classification", f"model.name={tiny_model_dir}", f"data.train={entity_file}",
                   "data.max_seq_len=32", f"output_dir={run_dir}", "train.epochs=2", "train.progress_bar=false",
                   "train.tensorboard=false", "train.learning_rate=3e-3", "train.bf16=off")
    assert trained.returncode == 0, trained.stderr[-2000:]
    evaluated = _cli("evaluate", str(run_dir), "--data", str(entity_file), "--out", str(tmp_path / "eval"))
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert 0.0 <= _read(tmp_path / "eval", "metrics.json")["micro_f1"] <= 1.0
    predicted = _cli("predict", str(run_dir), "the bank was great", "films")
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    rows = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["the bank was great", "films"]
    assert all(e["text"] == r["text"][e["start"]:e["end"]] for r in rows for e in r["entities"])
    by_file = _cli("predict", str(run_dir), "--file", str(entity_file))
    first = json.loads(by_file.stdout.splitlines()[0])
    assert len(first["tags"]) == len(first["tokens"])


def test_cli_names_a_bad_tag_file(tiny_model_dir, tmp_path):
    bad = tmp_path / "bad.conll"
    bad.write_text("John PERSON\n")
    result = _cli("train", "task=token_classification", f"model.name={tiny_model_dir}", f"data.train={bad}",
                  f"output_dir={tmp_path / 'run'}")
    assert result.returncode == 2
    assert "not an IOB tag" in result.stderr and "Traceback" not in result.stderr


def test_merged_export_of_a_lora_tagger_loads_in_plain_transformers(tiny_model_dir, entity_file, tmp_path):
    from transformers import AutoModelForTokenClassification

    from tunekit.inference.tagger import TagPredictor
    from tunekit.run.export import export_run

    config = tiny_run_config(tiny_model_dir, method="lora", data={"train": str(entity_file)}, train={"epochs": 1},
                             **TAGGING)
    run = train_tagger(config, tmp_path / "run")
    exported = export_run(run, tmp_path / "export")
    plain = AutoModelForTokenClassification.from_pretrained(exported).eval()
    tagger = TagPredictor.from_run_dir(run)
    batch = tagger.tokenizer([["the", "bank", "films"]], is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(plain(**batch).logits, tagger.model(**batch).logits, atol=1e-5, rtol=1e-5)
    assert plain.config.id2label[0] == "O"
