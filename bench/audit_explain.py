"""Integrated-gradient completeness on SST-2 dev with the MiniLM-L6 SST-2 run.

Acceptance: |sum(attributions) − (f(x) − f(baseline))| below 5% of |f(x) − f(baseline)| for ≥ 95% of the 872
dev sentences (f = the predicted class's probability; steps double from 50 up to 800 until the error is below 5%).

    flock /tmp/tunekit-heavy.lock .venv/bin/python bench/audit_explain.py
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tunekit.explain.integrated_gradients import integrated_gradients
from tunekit.inference.predictor import Predictor

ROOT = Path(__file__).resolve().parent
DEV = ROOT.parents[1] / "shared" / "datasets" / "sst2" / "dev.tsv"
RESULTS = ROOT / "results" / "audit_explain.json"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run-dir", default=str(ROOT / "runs" / "sst2-full"))
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    texts = pd.read_csv(DEV, sep="\t", quoting=3)["sentence"].str.strip().tolist()[:args.limit]
    predictor = Predictor.from_run_dir(args.run_dir)
    torch.set_num_threads(torch.get_num_threads())
    start = time.perf_counter()
    rows = [integrated_gradients(predictor.model, predictor.tokenizer, text,
                                 max_seq_len=predictor.config.data.max_seq_len) for text in texts]
    seconds = time.perf_counter() - start
    relative = np.array([r["relative_delta"] for r in rows])
    gaps = np.array([abs(r["f_x"] - r["f_baseline"]) for r in rows])
    steps = np.array([r["n_steps"] for r in rows])
    result = {
        "command": "bench/audit_explain.py", "run_dir": args.run_dir, "examples": len(rows),
        "share_within_5_percent": float((relative <= 0.05).mean()),
        "relative_delta_median": float(np.median(relative)), "relative_delta_p95": float(np.quantile(relative, 0.95)),
        "relative_delta_max": float(relative.max()),
        "share_with_gap_below_0.01": float((gaps < 0.01).mean()),
        "steps_used": {str(s): int((steps == s).sum()) for s in sorted(set(steps.tolist()))},
        "seconds": round(seconds, 1), "seconds_per_example": round(seconds / len(rows), 3),
        "worst": sorted(({"text": t, "relative_delta": r["relative_delta"], "f_x": r["f_x"],
                          "f_baseline": r["f_baseline"], "n_steps": r["n_steps"]}
                         for t, r in zip(texts, rows, strict=True)), key=lambda r: -r["relative_delta"])[:5],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
