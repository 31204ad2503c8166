"""DP-SGD on SST-2 (MiniLM-L6 + LoRA, ε ≤ 8 at δ = 1/n) and the membership-inference AUC of private and
non-private runs.

Acceptance: ≥ 0.80 SST-2 dev accuracy at ε ≤ 8; the membership-inference AUC (loss-threshold attack, 1000
training members vs 1000 non-members from the held-out 10% validation split of the same GLUE train file, texts
also in training excluded) is reported next to the non-private runs' (bench/runs/sst2-lora, bench/runs/sst2-full:
same file, same split seed, so the same members and non-members).

Run from the repository root (the config's data paths are relative to it):

    flock /tmp/tunekit-heavy.lock .venv/bin/python bench/audit_dp.py --stage train
    flock /tmp/tunekit-heavy.lock .venv/bin/python bench/audit_dp.py --stage attack
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
CONFIG = REPO / "configs" / "sst2_minilm_lora_dp.yaml"
RESULTS = ROOT / "results" / "audit_dp.json"
DP_RUN = ROOT / "runs" / "audit-sst2-dp-lora"


def train() -> dict:
    """Train the shipped DP config (`configs/sst2_minilm_lora_dp.yaml`) as `tunekit train` would."""
    import yaml

    from tunekit.config import load_config
    from tunekit.recipes.train_classifier import train_classifier

    start = time.perf_counter()
    train_classifier(load_config(CONFIG, ["train.progress_bar=false", "train.tensorboard=false"]), DP_RUN,
                     overwrite=True)
    metrics = json.loads((DP_RUN / "metrics.json").read_text())
    return {"seconds": round(time.perf_counter() - start, 1), "sst2_dev_accuracy": metrics["test"]["accuracy"],
            "validation_accuracy": metrics["validation"]["accuracy"],
            "privacy": json.loads((DP_RUN / "privacy.json").read_text()),
            "config": yaml.safe_load(CONFIG.read_text(encoding="utf-8"))}


def attack(n: int = 1000) -> dict:
    from tunekit.audit.privacy import example_losses, membership_inference_auc
    from tunekit.data.prepare import load_splits
    from tunekit.inference.predictor import Predictor

    results = {}
    for name in ("audit-sst2-dp-lora", "sst2-lora", "sst2-full"):
        if not (ROOT / "runs" / name / "model").exists():
            results[name] = {"missing": "no finished run directory"}
            continue
        predictor = Predictor.from_run_dir(ROOT / "runs" / name)
        config = predictor.config.data
        splits = load_splits(config)  # the splits the run trained and validated on (same file, same seed)
        train, held_out = splits.train, splits.validation
        seen = set(train.texts)
        outside = [i for i in range(len(held_out)) if held_out.texts[i] not in seen]  # GLUE repeats some phrases
        members = random.Random(0).sample(range(len(train)), n)
        non_members = random.Random(1).sample(outside, n)
        member_losses = example_losses(predictor.predict_proba, [train.texts[i] for i in members],
                                       predictor.label_map.encode([train.labels[i] for i in members]))
        non_member_losses = example_losses(predictor.predict_proba, [held_out.texts[i] for i in non_members],
                                           predictor.label_map.encode([held_out.labels[i] for i in non_members]))
        metrics = json.loads((ROOT / "runs" / name / "metrics.json").read_text())
        results[name] = {**membership_inference_auc(member_losses, non_member_losses),
                         "sst2_dev_accuracy": metrics["test"]["accuracy"],
                         "train_accuracy_on_members": float(np.mean(member_losses < np.log(2)))}
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stage", choices=["train", "attack"], required=True)
    args = parser.parse_args()
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    previous[args.stage] = train() if args.stage == "train" else attack()
    previous["command"] = "bench/audit_dp.py --stage train; --stage attack"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(previous, indent=2) + "\n")
    print(json.dumps(previous[args.stage], indent=2))


if __name__ == "__main__":
    main()
