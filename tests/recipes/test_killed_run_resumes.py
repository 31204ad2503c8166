"""A training process killed with SIGKILL at an arbitrary moment keeps a loadable checkpoint and resumes
to exactly the result of an uninterrupted run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from tunekit.training.checkpoint import latest_checkpoint

TRAIN = {"epochs": 3, "batch_size": 16, "learning_rate": 3e-3, "progress_bar": "false", "tensorboard": "false",
         "bf16": '"off"', "num_threads": 1, "checkpoint_every_steps": 1}


def _command(model_dir: Path, data: Path, run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "tunekit", "train", f"model.name={model_dir}", f"data.train={data}",
            "data.max_seq_len=32", f"output_dir={run_dir}", *(f"train.{k}={v}" for k, v in TRAIN.items())]


def _latest_step(run_dir: Path) -> int:
    pointer = run_dir / "checkpoints" / "latest.json"
    try:
        return int(json.loads(pointer.read_text())["checkpoint"].split("-")[1])
    except (OSError, ValueError, KeyError):
        return -1


def test_sigkill_mid_training_then_resume_matches_uninterrupted(tiny_model_dir, sentiment_csv, tmp_path):
    killed = tmp_path / "killed"
    process = subprocess.Popen(_command(tiny_model_dir, sentiment_csv, killed), stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _latest_step(killed) < 5 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)  # no cleanup handlers run: whatever was on disk is what remains
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (killed / "model").exists()

    checkpoint = latest_checkpoint(killed / "checkpoints")
    assert checkpoint is not None
    assert load_file(str(checkpoint / "trainable.safetensors"))  # complete and readable

    resumed = subprocess.run([sys.executable, "-m", "tunekit", "train", "--resume", str(killed)],
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]

    reference = tmp_path / "reference"
    subprocess.run(_command(tiny_model_dir, sentiment_csv, reference), check=True, capture_output=True)
    resumed_weights = load_file(str(killed / "model" / "model.safetensors"))
    reference_weights = load_file(str(reference / "model" / "model.safetensors"))
    assert all(torch.equal(resumed_weights[name], reference_weights[name]) for name in reference_weights)
    resumed_metrics = json.loads((killed / "metrics.json").read_text())
    reference_metrics = json.loads((reference / "metrics.json").read_text())
    assert resumed_metrics["test"]["accuracy"] == reference_metrics["test"]["accuracy"]
    assert resumed_metrics["validation"]["loss"] == reference_metrics["validation"]["loss"]
