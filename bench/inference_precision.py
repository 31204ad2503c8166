"""A finished run's test scores two ways: as tunekit predicts for a loaded run (the frozen whole-model `bf16_copy`,
padding-free layers with fused GELU and residual adds, explicit bf16 attention) and with autocast casting the fp32
weights on every call, the residual stream in fp32 (how a loaded run predicted before those changes).

    python bench/inference_precision.py RUN_DIR [RUN_DIR ...]

Classification runs are scored on the texts and labels of their ``test_predictions.csv`` (accuracy), tagger runs
on their test file (entity micro-F1, seqeval, IOB2). Prints one line per run and writes
bench/results/inference_precision.json; quoted in docs/benchmarks.md, "Speed".
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from bench_common import ROOT, machine
from ner_benchmarks import scored_test_file
from tunekit.run.setup import run_task

RESULTS = ROOT / "bench" / "results" / "inference_precision.json"


def classification_scores(run_dir: Path) -> dict:
    from tunekit.inference.predictor import Predictor

    loaded = Predictor.from_run_dir(run_dir)
    per_call = Predictor(loaded.model, loaded.tokenizer, loaded.label_map, loaded.config, loaded.thresholds)
    test = pd.read_csv(run_dir / "test_predictions.csv", keep_default_na=False)
    texts, labels = test["text"].tolist(), test["label"].astype(str).to_numpy()
    scores = {}
    probabilities = {}
    for name, predictor in (("bf16_copy", loaded), ("per_call_autocast", per_call)):
        probabilities[name] = predictor.predict_proba(texts)
        predicted = np.array([str(p) for p in predictor.labels_from_probabilities(probabilities[name])])
        scores[name] = {"test_accuracy": float(np.mean(predicted == labels))}
    difference = np.abs(probabilities["bf16_copy"] - probabilities["per_call_autocast"])
    return {"task": "classification", "texts": len(texts), **scores,
            "largest_probability_difference": float(difference.max()),
            "changed_predictions": int(np.sum(probabilities["bf16_copy"].argmax(1)
                                              != probabilities["per_call_autocast"].argmax(1)))}


def tagger_scores(run_dir: Path) -> dict:
    from seqeval.metrics import f1_score
    from seqeval.scheme import IOB2

    from tunekit.data.tagged import read_tagged
    from tunekit.inference.tagger import TagPredictor

    loaded = TagPredictor.from_run_dir(run_dir)
    per_call = TagPredictor(loaded.model, loaded.tokenizer, loaded.tag_map, loaded.config)
    test = read_tagged(scored_test_file(run_dir))
    scores, predictions = {}, {}
    for name, predictor in (("bf16_copy", loaded), ("per_call_autocast", per_call)):
        predictions[name] = predictor.predict(test.words)
        scores[name] = {"test_micro_f1": float(f1_score(test.tags, predictions[name], mode="strict", scheme=IOB2))}
    changed = sum(a != b for x, y in zip(predictions["bf16_copy"], predictions["per_call_autocast"], strict=True)
                  for a, b in zip(x, y, strict=True))
    return {"task": "token_classification", "sentences": len(test.words), **scores, "changed_tags": changed}


def main() -> None:
    run_dirs = [Path(a) for a in sys.argv[1:]]
    if not run_dirs or not all((d / "model").is_dir() for d in run_dirs):
        raise SystemExit("usage: inference_precision.py RUN_DIR [RUN_DIR ...] (finished runs: bench/runs/sst2-full)")
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    revision = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=ROOT).stdout.strip()
    for run_dir in run_dirs:
        tagged = run_task(run_dir) == "token_classification"
        result = tagger_scores(run_dir) if tagged else classification_scores(run_dir)
        command = f"python bench/inference_precision.py {run_dir.resolve().relative_to(ROOT)}"
        result.update(command=command, revision=revision, machine=machine(),
                      date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
        results[run_dir.name] = result
        print(run_dir.name, json.dumps(result), flush=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
