"""`evaluate_run` on the tiny classifier: which model an evaluation says it scored, and where it goes by default."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tiny_fixtures import make_sentiment_rows
from tunekit.inference.predictor import Predictor
from tunekit.recipes.evaluate_run import evaluate_run


@pytest.fixture
def holdout(tmp_path) -> Path:
    path = tmp_path / "holdout.csv"
    pd.DataFrame(make_sentiment_rows(40, seed=8)).to_csv(path, index=False)
    return path


@pytest.fixture
def compressed_copy(tiny_compressed_run, tmp_path) -> Path:
    """Default evaluations are written into the run: a copy of it."""
    return Path(shutil.copytree(tiny_compressed_run, tmp_path / "run"))


def test_the_int8_and_the_runs_evaluations_are_told_apart(compressed_copy, holdout):
    """Both evaluations of one file go to their own folders, even within one second, and say which model they
    scored."""
    run_metrics, run_out = evaluate_run(compressed_copy, str(holdout))
    int8_metrics, int8_out = evaluate_run(compressed_copy, str(holdout), compressed=True)

    assert run_out.parent == int8_out.parent == compressed_copy / "evaluations"
    assert re.fullmatch(r"holdout-\d{8}-\d{6}", run_out.name), run_out.name
    assert re.fullmatch(r"holdout-int8-\d{8}-\d{6}", int8_out.name), int8_out.name
    assert run_metrics["model"] == "the run's model"
    assert int8_metrics["model"] == "int8 ONNX (tunekit compress)"
    for metrics, out_dir in ((run_metrics, run_out), (int8_metrics, int8_out)):
        assert json.loads((out_dir / "metrics.json").read_text())["model"] == metrics["model"]
    assert (int8_out / "report.md").read_text().startswith(f"# Evaluation of {compressed_copy} (int8 ONNX model)\n")
    assert (run_out / "report.md").read_text().startswith(f"# Evaluation of {compressed_copy}\n")

    texts = pd.read_csv(holdout)["text"].tolist()
    int8 = Predictor.from_run_dir(compressed_copy, compressed=True).predict_proba(texts)
    predictions = pd.read_csv(int8_out / "eval_predictions.csv")
    np.testing.assert_allclose(predictions[["p_negative", "p_positive"]].to_numpy(), int8, atol=2e-6)


def test_an_fp32_onnx_evaluation_is_named_for_its_precision(tiny_fp32_onnx_run, holdout, tmp_path):
    run_dir = Path(shutil.copytree(tiny_fp32_onnx_run, tmp_path / "run"))
    metrics, out_dir = evaluate_run(run_dir, str(holdout), compressed=True)
    assert re.fullmatch(r"holdout-fp32-\d{8}-\d{6}", out_dir.name), out_dir.name
    assert metrics["model"] == "fp32 ONNX (tunekit compress)"
    assert (out_dir / "report.md").read_text().startswith(f"# Evaluation of {run_dir} (fp32 ONNX model)\n")


def test_a_chosen_folder_is_used_as_given(compressed_copy, holdout, tmp_path):
    metrics, out_dir = evaluate_run(compressed_copy, str(holdout), tmp_path / "mine", compressed=True)
    assert out_dir == tmp_path / "mine" and metrics["model"] == "int8 ONNX (tunekit compress)"
    assert not (compressed_copy / "evaluations").exists()
