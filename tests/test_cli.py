"""The `tunekit` command: each command's files, output and exit code, on the tiny model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from sklearn.metrics import accuracy_score
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from typer.testing import CliRunner

import tunekit.cli as cli
import tunekit.recipes.train_classifier as recipe
from tiny_fixtures import make_sentiment_rows, retrain_in_place, tiny_run_config
from tunekit.inference.predictor import Predictor
from tunekit.recipes.train_classifier import train_classifier


def tiny_overrides(model_dir: Path, data: Path, **train) -> list[str]:
    """Dotted overrides for a quick, quiet, single-threaded run on the tiny model."""
    options = {"epochs": 6, "batch_size": 16, "learning_rate": 3e-3, "progress_bar": "false",
               "tensorboard": "false", "bf16": '"off"', "num_threads": 1, **train}
    return [f"model.name={model_dir}", f"data.train={data}", "data.max_seq_len=32",
            *(f"train.{key}={value}" for key, value in options.items())]


@pytest.fixture(autouse=True)
def wide_error_console(monkeypatch):
    """The stderr console was sized at import; keep messages on one line so they can be matched."""
    monkeypatch.setattr(cli.err, "width", 1000)


def invoke(*args: str):
    return CliRunner().invoke(cli.app, [str(a) for a in args], env={"COLUMNS": "250"})


def assert_friendly_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # a TunekitError turned into exit 2, nothing escaped
    assert "error:" in result.output and "fix:" in result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, (fragment, result.output)


@pytest.fixture(scope="module")
def trained_run(tiny_model_dir, sentiment_file, tmp_path_factory) -> Path:
    """`tunekit train key=value ...` with no YAML file: the run evaluate/predict/export use."""
    run_dir = tmp_path_factory.mktemp("cli") / "run"
    result = invoke("train", *tiny_overrides(tiny_model_dir, sentiment_file), f"output_dir={run_dir}")
    assert result.exit_code == 0, result.output
    return run_dir


def test_train_with_overrides_only_writes_a_run_directory(trained_run, tiny_model_dir):
    for name in ("config.yaml", "labels.json", "metrics.json", "report.md", "model/model.safetensors"):
        assert (trained_run / name).is_file(), name
    config = yaml.safe_load((trained_run / "config.yaml").read_text())
    assert config["model"]["name"] == str(tiny_model_dir)
    assert config["train"]["learning_rate"] == 3e-3 and config["train"]["bf16"] == "off"
    assert json.loads((trained_run / "metrics.json").read_text())["test"]["accuracy"] > 0.9


def test_train_with_a_yaml_file_and_an_override(tiny_model_dir, sentiment_file, tmp_path, monkeypatch):
    config_file = tmp_path / "tiny.yaml"
    config_file.write_text(yaml.safe_dump({
        "model": {"name": str(tiny_model_dir)},
        "data": {"train": str(sentiment_file), "max_seq_len": 32},
        "train": {"epochs": 3, "batch_size": 16, "learning_rate": 3e-3, "progress_bar": False,
                  "tensorboard": False, "bf16": "off", "num_threads": 1},
    }))
    monkeypatch.chdir(tmp_path)
    result = invoke("train", config_file, "train.epochs=1")
    assert result.exit_code == 0, result.output

    run_dirs = list((tmp_path / "runs").glob("tiny-*"))  # default: runs/<config name>-<time>
    assert len(run_dirs) == 1
    written = yaml.safe_load((run_dirs[0] / "config.yaml").read_text())
    assert written["train"]["epochs"] == 1 and written["train"]["batch_size"] == 16
    metrics = json.loads((run_dirs[0] / "metrics.json").read_text())
    assert metrics["training"]["epochs"] == 1 and metrics["training"]["steps"] <= 11


def test_evaluate_writes_metrics_plots_and_predictions(trained_run, tmp_path):
    rows = make_sentiment_rows(60, seed=7)
    data = tmp_path / "holdout.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    result = invoke("evaluate", trained_run, "--data", data)
    assert result.exit_code == 0, result.output

    (out_dir,) = (trained_run / "evaluations").glob("holdout-*")
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert {"eval_reliability.png", "eval_confusion_matrix.png"} <= {p.name for p in out_dir.iterdir()}
    assert (out_dir / "report.md").is_file()
    predictions = pd.read_csv(out_dir / "eval_predictions.csv")
    assert len(predictions) == 60 and predictions["text"].tolist() == [r["text"] for r in rows]
    assert metrics["accuracy"] == pytest.approx(accuracy_score(predictions["label"], predictions["predicted"]))
    assert metrics["accuracy"] > 0.9


def test_evaluate_into_a_chosen_directory(trained_run, sentiment_file, tmp_path):
    result = invoke("evaluate", trained_run, "--data", sentiment_file, "--out", tmp_path / "eval", "--batch-size", 7)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["examples"] == 200


def _json_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_predict_prints_one_json_line_per_text(trained_run):
    result = invoke("predict", trained_run, "a wonderful film", "the plot was dreadful")
    assert result.exit_code == 0, result.output
    rows = _json_lines(result.stdout)
    assert [r["text"] for r in rows] == ["a wonderful film", "the plot was dreadful"]
    assert [r["label"] for r in rows] == ["positive", "negative"]
    for row in rows:
        assert set(row["probabilities"]) == {"negative", "positive"}
        assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert row["label"] == max(row["probabilities"], key=row["probabilities"].get)
    expected = Predictor.from_run_dir(trained_run).predict_proba(["a wonderful film"])[0]
    assert [rows[0]["probabilities"][c] for c in ("negative", "positive")] == pytest.approx(expected, abs=1e-6)


def test_predict_from_files(trained_run, tmp_path):
    lines = tmp_path / "texts.txt"
    lines.write_text("the acting was superb\n\nboring story\n")
    result = invoke("predict", trained_run, "--file", lines)
    assert result.exit_code == 0, result.output
    assert [(r["text"], r["label"]) for r in _json_lines(result.stdout)] == [
        ("the acting was superb", "positive"), ("boring story", "negative")]

    table = tmp_path / "unlabeled.csv"
    # Sentiment word second or third, as in make_sentiment_rows' training texts: the tiny model learns word
    # *positions* too, so a text opening with it ("horrible film") is out of distribution and can flip.
    pd.DataFrame({"text": ["a lovely movie", "a horrible film", "a good plot"]}).to_csv(table, index=False)
    result = invoke("predict", trained_run, "--file", table)
    assert result.exit_code == 0, result.output
    assert [r["label"] for r in _json_lines(result.stdout)] == ["positive", "negative", "positive"]


def test_compress_prints_the_check_and_writes_the_int8_model(tiny_classifier_run, tmp_path):
    run_dir = Path(shutil.copytree(tiny_classifier_run, tmp_path / "run"))
    holdout = tmp_path / "holdout.csv"
    pd.DataFrame(make_sentiment_rows(30, seed=4)).to_csv(holdout, index=False)
    result = invoke("compress", run_dir, "--data", holdout, "--max-accuracy-drop", 0.05)
    assert result.exit_code == 0, result.output

    report = json.loads((run_dir / "compressed" / "compression.json").read_text())
    assert report["check_set"] == f"{holdout} (30 texts)" and report["max_accuracy_drop"] == 0.05
    assert (run_dir / "compressed" / "model.int8.onnx").is_file()
    assert "int8 model checked on" in result.stdout  # the table's title (rich wraps the path in it)
    rows = {line.split("│")[1].strip(): [cell.strip() for cell in line.split("│")[2:6]]
            for line in result.stdout.splitlines() if line.count("│") == 6}
    for name, label in (("run", "run's model (fp32)"), ("int8", "int8 ONNX")):
        assert rows[label] == [f"{report['accuracy'][name]:.4f}", f"{report['macro_f1'][name]:.4f}",
                               f"{report['texts_per_second'][name]:.1f}", f"{report['size_mb'][name]:.1f}"]
    flips = report["texts_flipped"]
    summary = (f"the same prediction for {report['prediction_agreement']:.1%} of texts; {flips['right_to_wrong']} "
               f"went from right to wrong, {flips['wrong_to_right']} the other way")
    assert summary in result.stdout
    written = f"written: {run_dir / 'compressed'}"
    assert written in result.stderr and written not in result.stdout
    assert result.output.index(summary) < result.output.index(written)  # the figures first, then where they went


def test_compress_with_fp32_precision_writes_the_fp32_model(tiny_classifier_run, tmp_path):
    run_dir = Path(shutil.copytree(tiny_classifier_run, tmp_path / "run"))
    result = invoke("compress", run_dir, "--precision", "fp32")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (run_dir / "compressed").iterdir()) == ["compression.json", "model.fp32.onnx"]
    assert json.loads((run_dir / "compressed" / "compression.json").read_text())["precision"] == "fp32"
    assert "fp32 model checked on" in result.stdout and "fp32 ONNX" in result.stdout


def test_compress_refuses_an_unknown_precision(tiny_classifier_run):
    result = invoke("compress", tiny_classifier_run, "--precision", "int4")
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--precision'" in result.output and "int8" in result.output
    assert "Traceback" not in result.output
    assert not (tiny_classifier_run / "compressed").exists()


@pytest.mark.parametrize(("drop", "bound"), [("2", "less than or equal to 0.99"), ("1", "less than or equal to 0.99"),
                                             ("-0.01", "greater than or equal to 0"), ("nan", "0.99")])
def test_compress_refuses_an_accuracy_drop_outside_its_range(tiny_classifier_run, drop, bound):
    result = invoke("compress", tiny_classifier_run, "--max-accuracy-drop", drop)
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--max-accuracy-drop'" in result.output and bound in result.output
    assert "Traceback" not in result.output
    assert not (tiny_classifier_run / "compressed").exists()


def test_predict_with_the_compressed_model(tiny_compressed_run):
    texts = ["a wonderful film", "the plot was dreadful", "really great acting", "quite a boring movie"]
    result = invoke("predict", tiny_compressed_run, "--compressed", *texts)
    assert result.exit_code == 0, result.output
    rows = _json_lines(result.stdout)
    assert [r["text"] for r in rows] == texts
    assert [r["label"] for r in rows] == ["positive", "negative", "positive", "negative"]
    printed = np.array([[r["probabilities"][c] for c in ("negative", "positive")] for r in rows])
    int8 = Predictor.from_run_dir(tiny_compressed_run, compressed=True).predict_proba(texts)
    run = Predictor.from_run_dir(tiny_compressed_run).predict_proba(texts)
    assert np.abs(int8 - run).max() > 1e-5  # so matching below shows the flag reached the predictor
    np.testing.assert_allclose(printed, int8, atol=1e-6)


def test_predict_compressed_on_a_run_without_it_says_to_compress(tiny_classifier_run):
    result = invoke("predict", tiny_classifier_run, "--compressed", "a wonderful film")
    assert_friendly_error(result, "the run has no compressed model",
                          f"run `tunekit compress {tiny_classifier_run}` first")
    assert not _json_lines(result.stdout)


def test_evaluate_the_compressed_model(tiny_compressed_run, tmp_path):
    rows = make_sentiment_rows(40, seed=8)
    data = tmp_path / "holdout.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    result = invoke("evaluate", tiny_compressed_run, "--data", data, "--out", tmp_path / "eval", "--compressed")
    assert result.exit_code == 0, result.output

    predictions = pd.read_csv(tmp_path / "eval" / "eval_predictions.csv")
    int8 = Predictor.from_run_dir(tiny_compressed_run, compressed=True).predict_proba([r["text"] for r in rows])
    np.testing.assert_allclose(predictions[["p_negative", "p_positive"]].to_numpy(), int8, atol=2e-6)
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["accuracy"] == pytest.approx(accuracy_score(predictions["label"], predictions["predicted"]))
    assert metrics["accuracy"] > 0.9
    assert metrics["model"] == "int8 ONNX (tunekit compress)"


def test_a_tagger_has_no_compressed_model(tiny_tagger_run, entity_file):
    assert_friendly_error(invoke("predict", tiny_tagger_run, "--compressed", "money in the bank"),
                          "only classifiers are compressed", "drop --compressed")
    assert_friendly_error(invoke("evaluate", tiny_tagger_run, "--data", entity_file, "--compressed"),
                          "only classifiers are compressed", "drop --compressed")
    assert_friendly_error(invoke("compress", tiny_tagger_run), "compresses classifiers")
    assert not (tiny_tagger_run / "evaluations").exists() and not (tiny_tagger_run / "compressed").exists()


def test_predict_compressed_after_retraining_says_to_compress_again(tiny_compressed_run, tmp_path):
    run_dir = Path(shutil.copytree(tiny_compressed_run, tmp_path / "run"))
    retrain_in_place(run_dir)
    result = invoke("predict", run_dir, "--compressed", "a wonderful film")
    assert_friendly_error(result, "was made from other weights", f"run `tunekit compress {run_dir}` again")
    assert not _json_lines(result.stdout)


def test_train_overwrite_drops_the_old_runs_compressed_model(tiny_compressed_run, tiny_model_dir, sentiment_file,
                                                             tmp_path):
    run_dir = Path(shutil.copytree(tiny_compressed_run, tmp_path / "run"))
    result = invoke("train", *tiny_overrides(tiny_model_dir, sentiment_file, epochs=1), f"output_dir={run_dir}",
                    "--overwrite")
    assert result.exit_code == 0, result.output
    assert (run_dir / "model" / "model.safetensors").is_file() and not (run_dir / "compressed").exists()
    assert_friendly_error(invoke("predict", run_dir, "--compressed", "a wonderful film"),
                          "the run has no compressed model", f"run `tunekit compress {run_dir}` first")


def _exported_logits(export_dir: Path, texts: list[str]) -> torch.Tensor:
    tokenizer = AutoTokenizer.from_pretrained(export_dir)
    model = AutoModelForSequenceClassification.from_pretrained(export_dir).eval()
    with torch.no_grad():
        return model(**tokenizer(texts, padding=True, return_tensors="pt")).logits


TEXTS = ["a wonderful film", "the plot was dreadful and the acting poor", "movie"]


def test_export_merged_loads_with_plain_transformers(trained_run):
    result = invoke("export", trained_run, "--merged")
    assert result.exit_code == 0, result.output
    export_dir = trained_run / "export"
    assert (export_dir / "model.safetensors").is_file()
    assert not list(export_dir.glob("*.bin"))
    probabilities = torch.softmax(_exported_logits(export_dir, TEXTS), dim=-1).numpy()
    np.testing.assert_allclose(probabilities, Predictor.from_run_dir(trained_run).predict_proba(TEXTS), atol=1e-5)
    config = json.loads((export_dir / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}


def test_export_merges_lora_adapters(tiny_model_dir, sentiment_file, tmp_path):
    config = tiny_run_config(tiny_model_dir, method="lora", data={"train": str(sentiment_file)},
                             train={"epochs": 2, "learning_rate": 1e-2})
    run_dir = train_classifier(config, tmp_path / "lora")
    result = invoke("export", run_dir, "--merged", "--out", tmp_path / "merged")
    assert result.exit_code == 0, result.output

    files = {p.name for p in (tmp_path / "merged").iterdir()}
    assert "model.safetensors" in files and "adapter_config.json" not in files
    predictor = Predictor.from_run_dir(run_dir)
    with torch.no_grad():
        batch = predictor.tokenizer(TEXTS, padding=True, return_tensors="pt")
        expected = predictor.model(**batch).logits
    torch.testing.assert_close(_exported_logits(tmp_path / "merged", TEXTS), expected, atol=1e-5, rtol=1e-5)


def test_export_without_merged_is_refused(trained_run):
    assert_friendly_error(invoke("export", trained_run), "--merged")


def test_models_lists_the_aliases():
    result = invoke("models")
    assert result.exit_code == 0, result.output
    assert "minilm-l6" in result.output and "mpnet-base" in result.output


def test_options_lists_every_option():
    result = invoke("options")
    assert result.exit_code == 0, result.output
    for option in ("train.learning_rate", "data.text_pair_column", "lora.r", "eval.calibration_bins"):
        assert option in result.output


def test_unknown_option_suggests_the_right_one():
    assert_friendly_error(invoke("train", "train.lr=1"), "`train.lr` is not an option",
                          "Did you mean `train.learning_rate`?")


def test_missing_data_file(tiny_model_dir, tmp_path):
    run_dir = tmp_path / "run"
    result = invoke("train", *tiny_overrides(tiny_model_dir, tmp_path / "nowhere.csv"), f"output_dir={run_dir}")
    assert_friendly_error(result, "nowhere.csv", "does not exist")
    assert not run_dir.exists()


def test_missing_column_names_the_option(tiny_model_dir, tmp_path):
    data = tmp_path / "reviews.csv"
    pd.DataFrame({"review": ["good", "bad"] * 10, "label": ["positive", "negative"] * 10}).to_csv(data, index=False)
    result = invoke("train", *tiny_overrides(tiny_model_dir, data), f"output_dir={tmp_path / 'run'}")
    assert_friendly_error(result, "no column `text`", "data.text_column")


def test_evaluate_on_a_directory_that_is_not_a_run(tmp_path, sentiment_file):
    (tmp_path / "not-a-run").mkdir()
    assert_friendly_error(invoke("evaluate", tmp_path / "not-a-run", "--data", sentiment_file),
                          "not a finished run")
    assert_friendly_error(invoke("predict", tmp_path / "missing", "text"), "does not exist")
    assert_friendly_error(invoke("train", "--resume", tmp_path / "not-a-run"), "no config.yaml")


def test_ctrl_c_during_training_exits_130_and_explains_resume(tiny_model_dir, sentiment_file, tmp_path,
                                                              monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(recipe, "train_loop", interrupted)
    result = invoke("train", *tiny_overrides(tiny_model_dir, sentiment_file), f"output_dir={tmp_path / 'run'}")
    assert result.exit_code == 130
    assert "tunekit train --resume" in result.output and "Traceback" not in result.output


def test_resume_an_interrupted_run(tiny_model_dir, sentiment_file, tmp_path):
    run_dir = tmp_path / "run"
    config = tiny_run_config(tiny_model_dir, data={"train": str(sentiment_file)},
                             train={"checkpoint_every_steps": 3}, output_dir=str(run_dir))

    def stop_at_step_5(state):
        if state.step == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_classifier(config, run_dir, on_step_end=stop_at_step_5)
    assert not (run_dir / "metrics.json").exists()

    result = invoke("train", "--resume", run_dir)
    assert result.exit_code == 0, result.output
    assert json.loads((run_dir / "status.json").read_text()) == {"status": "completed"}
    log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    train_steps = [r["step"] for r in log if r["kind"] == "train"]
    assert train_steps[:4] == [2, 4, 6, 8]  # step 4's first record (after the step-3 checkpoint) was replaced
    assert json.loads((run_dir / "metrics.json").read_text())["test"]["accuracy"] > 0.9


def test_the_installed_command_trains_end_to_end(tiny_model_dir, sentiment_file, tmp_path):
    """The real entry point in a fresh process: logging, exit status and files."""
    run_dir = tmp_path / "run"
    command = [str(Path(sys.executable).parent / "tunekit"), "train",
               *tiny_overrides(tiny_model_dir, sentiment_file, epochs=2), f"output_dir={run_dir}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "250"})
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "done:" in done.stderr and "trainable of" in done.stderr  # the summary log line
    assert (run_dir / "model" / "model.safetensors").is_file()
    assert json.loads((run_dir / "metrics.json").read_text())["training"]["epochs"] == 2
