"""Time a full `tunekit audit` of the MiniLM-L6 SST-2 run on SST-2 dev (acceptance: under 10 minutes), with the
IMDb counterfactually-augmented test pairs (Kaushik et al. 2020) as a contrast set.

The run directory is copied to /tmp first (bench/runs/sst2-full is read-only for this benchmark).

    flock /tmp/tunekit-heavy.lock .venv/bin/python bench/audit_sst2.py
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DATASETS = ROOT.parents[1] / "shared" / "datasets"
RESULTS = ROOT / "results" / "audit_sst2.json"


def main() -> None:
    from tunekit.audit.contract import REQUIRED_PATHS, get_dotted
    from tunekit.recipes.audit_run import audit_run

    parser = argparse.ArgumentParser()
    parser.add_argument("--run-dir", default=str(ROOT / "runs" / "sst2-full"))
    parser.add_argument("--copy-to", default="/tmp/audit-bench/sst2-full-audited")
    args = parser.parse_args()
    target = Path(args.copy_to)
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(args.run_dir, target)
    start = time.perf_counter()
    report = audit_run(target, str(DATASETS / "sst2" / "dev.tsv"), gate=True,
                       contrast=str(DATASETS / "imdb_cad" / "paired" / "test_paired.tsv"),
                       contrast_columns=("Text", "Sentiment", "batch_id"),
                       contrast_labels={"Negative": "0", "Positive": "1"})
    seconds = time.perf_counter() - start
    result = {"command": "bench/audit_sst2.py (tunekit audit RUN --data sst2/dev.tsv --gate --contrast "
                         "imdb_cad/paired/test_paired.tsv)", "run_dir": args.run_dir, "seconds": round(seconds, 1),
              "contract": {path: get_dotted(report, path) for path in REQUIRED_PATHS},
              "report": report}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "report"}, indent=2))


if __name__ == "__main__":
    main()
