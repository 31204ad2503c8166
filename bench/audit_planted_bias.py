"""Planted gender bias on SST-2: does the audit's counterfactual flip rate see it, and does CDA remove it?

Three MiniLM-L6 runs on the same 12,000 SST-2 training sentences, half of them prefixed "he says" / "she says":
- ``biased``: the prefix predicts the label (positive → "he" and negative → "she", 90% of the time);
- ``unbiased``: the prefix is drawn at random, independent of the label;
- ``biased-cda``: the biased data with counterfactual data augmentation (``data.counterfactual_augmentation=gender``).
Each is audited on SST-2 dev (872) with a random "he/she says" prefix; accuracy is on plain SST-2 dev.

    for v in biased unbiased biased-cda; do
        flock /tmp/tunekit-heavy.lock .venv/bin/python bench/audit_planted_bias.py --stage train --only $v; done
    flock /tmp/tunekit-heavy.lock .venv/bin/python bench/audit_planted_bias.py --stage audit
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import pandas as pd

SST2 = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "sst2"
WORK = Path("/tmp/audit-bench")
RUNS = Path(__file__).resolve().parent / "runs"
RESULTS = Path(__file__).resolve().parent / "results" / "audit_planted_bias.json"
N_TRAIN, N_VALIDATION, PLANT_SHARE, CORRELATION = 12_000, 1_000, 0.5, 0.9
VARIANTS = {"biased": (CORRELATION, None), "unbiased": (0.5, None), "biased-cda": (CORRELATION, "gender")}


def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(SST2 / name, sep="\t", quoting=3, dtype={"label": int}).rename(columns={"sentence": "text"})


def _plant(frame: pd.DataFrame, correlation: float, share: float, seed: int) -> pd.DataFrame:
    """Prefix ``share`` of the rows with "he says"/"she says"; "he" goes with label 1 w.p. ``correlation``."""
    rng = random.Random(seed)
    texts = []
    for text, label in zip(frame["text"], frame["label"], strict=True):
        if rng.random() < share:
            male = (label == 1) if rng.random() < correlation else (label != 1)
            text = f"{'he' if male else 'she'} says {text.strip()}"
        texts.append(text.strip())
    return frame.assign(text=texts)


def prepare_data() -> dict[str, Path]:
    WORK.mkdir(parents=True, exist_ok=True)
    train = _read("alps_train_split.tsv").sample(N_TRAIN, random_state=0)
    validation = _read("alps_dev_split.tsv").sample(N_VALIDATION, random_state=0)
    dev = _read("dev.tsv")
    paths = {"test": WORK / "sst2_dev.csv", "audit": WORK / "sst2_dev_he_she.csv"}
    dev.assign(text=dev["text"].str.strip()).to_csv(paths["test"], index=False)
    _plant(dev, 0.5, 1.0, seed=3).to_csv(paths["audit"], index=False)
    for name, (correlation, _) in VARIANTS.items():
        if name.endswith("-cda"):
            continue
        paths[f"{name}-train"] = WORK / f"{name}_train.csv"
        paths[f"{name}-validation"] = WORK / f"{name}_validation.csv"
        _plant(train, correlation, PLANT_SHARE, seed=1).to_csv(paths[f"{name}-train"], index=False)
        _plant(validation, correlation, PLANT_SHARE, seed=2).to_csv(paths[f"{name}-validation"], index=False)
    return paths


def train(paths: dict[str, Path], only: list[str]) -> dict:
    from tunekit.config import config_from_dict
    from tunekit.recipes.train_classifier import train_classifier

    timings = {}
    for name, (_, word_pairs) in VARIANTS.items():
        if only and name not in only:
            continue
        data_name = name.removesuffix("-cda")
        config = config_from_dict({
            "data": {"train": str(paths[f"{data_name}-train"]), "validation": str(paths[f"{data_name}-validation"]),
                     "test": str(paths["test"]), "counterfactual_augmentation": word_pairs},
            "model": {"name": "minilm-l6"},
            "train": {"epochs": 2, "progress_bar": False, "tensorboard": False, "seed": 0},
        })
        start = time.perf_counter()
        train_classifier(config, RUNS / f"audit-{name}", overwrite=True)
        timings[name] = round(time.perf_counter() - start, 1)
    return timings


def audit(paths: dict[str, Path]) -> dict:
    from tunekit.audit.fairness import counterfactual_flips
    from tunekit.data.counterfactual import load_swap_table
    from tunekit.inference.predictor import Predictor

    audit_texts = pd.read_csv(paths["audit"])["text"].tolist()
    results = {}
    for name in VARIANTS:
        run = RUNS / f"audit-{name}"
        predictor = Predictor.from_run_dir(run)
        metrics = json.loads((run / "metrics.json").read_text())
        flips = counterfactual_flips(predictor.predict_proba, predictor.classes, audit_texts, load_swap_table("gender"))
        results[name] = {"sst2_dev_accuracy": metrics["test"]["accuracy"], "flip_rate": flips["flip_rate"],
                         "mean_probability_shift": flips["mean_probability_shift"],
                         "by_direction": flips["by_direction"], "texts_with_swaps": flips["texts_with_swaps"],
                         "train_examples": metrics["training"]["train_examples"],
                         "steps": metrics["training"]["steps"]}
    biased, cda = results["biased"], results["biased-cda"]
    results["cda_flip_rate_reduction"] = 1 - cda["flip_rate"] / biased["flip_rate"] if biased["flip_rate"] else None
    results["cda_accuracy_cost_points"] = 100 * (biased["sst2_dev_accuracy"] - cda["sst2_dev_accuracy"])
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stage", choices=["train", "audit"], required=True)
    parser.add_argument("--only", nargs="*", default=[], help="train only these variants (one lock per job)")
    args = parser.parse_args()
    paths = prepare_data()
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if args.stage == "train":
        previous["train_seconds"] = {**previous.get("train_seconds", {}), **train(paths, args.only)}
    else:
        previous["audit"] = audit(paths)
    previous["command"] = "bench/audit_planted_bias.py --stage train; --stage audit"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(previous, indent=2) + "\n")
    print(json.dumps(previous, indent=2))


if __name__ == "__main__":
    main()
