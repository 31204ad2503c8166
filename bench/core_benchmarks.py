"""Real-data accuracy benchmarks for the core classifier (issue: core acceptance figures).

Each experiment runs the real CLI (`tunekit train CONFIG`) in a subprocess, records wall time,
peak resident memory and the run's metrics into bench/results/core.json, then rewrites the
"Core accuracy" table of docs/benchmarks.md from that file.

    python bench/core_benchmarks.py --only sst2-full          # one experiment
    python bench/core_benchmarks.py                           # all of them (about an hour on 2 cores)
    python bench/core_benchmarks.py --table-only              # re-render the docs table
"""

from __future__ import annotations

import argparse
import json
from datetime import date

from bench_common import ROOT, machine, train_measured, write_docs_section

RESULTS = ROOT / "bench" / "results" / "core.json"

SST2_BUDGET = ["data.train=../shared/datasets/sst2/alps_train_split.tsv",
               "data.validation=../shared/datasets/sst2/alps_dev_split.tsv", "train.max_steps=600"]

# name -> (config, extra overrides, acceptance target on test accuracy or None, what the target is)
EXPERIMENTS: dict[str, tuple[str, list[str], float | None, str]] = {
    "sst2-full": ("configs/sst2_minilm_full.yaml", [], 0.89, "SST-2 dev accuracy, MiniLM-L6 full fine-tuning"),
    "sst2-lora": ("configs/sst2_minilm_lora.yaml", [], 0.87, "SST-2 dev accuracy, MiniLM-L6 LoRA"),
    "banking77-full": ("configs/banking77_full.yaml", [], 0.90, "BANKING77 test accuracy, MiniLM-L6 full"),
    "fpb-allagree-full": ("configs/fpb_allagree_full.yaml", [], 0.95, "Financial PhraseBank AllAgree, 20% test"),
    "fpb-allagree-lr1e-4": ("configs/fpb_allagree_full.yaml", ["train.learning_rate=1e-4"], 0.95,
                            "Financial PhraseBank AllAgree, default lr 1e-4"),
    "sst2-mpnet-full": ("configs/sst2_mpnet_full.yaml", [], None, "SST-2 dev accuracy, MPNet-base (budgeted)"),
    # bf16 autocast vs fp32, same data, seed and budget: does the default (bf16 on) cost accuracy?
    "fpb-allagree-fp32": ("configs/fpb_allagree_full.yaml", ["train.bf16=off", "train.learning_rate=1e-4"], None,
                          "Financial PhraseBank AllAgree, fp32 (bf16 check)"),
    "sst2-600steps-bf16": ("configs/sst2_minilm_full.yaml", SST2_BUDGET, None, "SST-2, 600 steps, bf16 autocast"),
    "sst2-600steps-fp32": ("configs/sst2_minilm_full.yaml", [*SST2_BUDGET, "train.bf16=off"], None,
                           "SST-2, 600 steps, fp32 (bf16 check)"),
}

TABLE_START, TABLE_END = "<!-- core-table:start -->", "<!-- core-table:end -->"


def run_experiment(name: str) -> dict:
    config, overrides, target, what = EXPERIMENTS[name]
    run_dir = ROOT / "bench" / "runs" / name
    status, wall, peak_rss_mb = train_measured(config, overrides, run_dir)
    if status != 0:
        raise SystemExit(f"{name} failed with status {status}")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    test = metrics.get("test") or metrics["validation"]
    return {
        "what": what,
        "command": f"python -m tunekit train {config} " + " ".join(overrides),
        "bench_command": f"python bench/core_benchmarks.py --only {name}",
        "target_accuracy": target,
        "test_accuracy": test["accuracy"],
        "test_macro_f1": test["macro_f1"],
        "test_ece": test["ece"],
        "validation_accuracy": metrics["validation"]["accuracy"],
        "training": metrics["training"],
        "wall_seconds": round(wall, 1),
        "peak_rss_mb": round(peak_rss_mb, 1),
        "date": date.today().isoformat(),
        "machine": machine(),
    }


def render_table(results: dict) -> str:
    lines = [TABLE_START, "",
             "| experiment | test accuracy | target | macro F1 | ECE | method | epochs / steps | wall time "
             "| peak RSS |",
             "|---|---:|---:|---:|---:|---|---|---:|---:|"]
    for r in results.values():
        t = r["training"]
        target = f"≥ {r['target_accuracy']:.2f}" if r["target_accuracy"] else "report"
        verdict = "" if not r["target_accuracy"] else (" ✅" if r["test_accuracy"] >= r["target_accuracy"] else " ❌")
        lines.append(f"| {r['what']} | **{r['test_accuracy']:.4f}**{verdict} | {target} | {r['test_macro_f1']:.4f} | "
                     f"{r['test_ece']:.4f} | {t['method']}, lr {t['learning_rate']:.0e}, bf16 {t['bf16']} | "
                     f"{t['epochs']} / {t['steps']} (best {t['best_step']}) | {r['wall_seconds'] / 60:.1f} min | "
                     f"{r['peak_rss_mb']:.0f} MB |")
    lines += ["", "Commands (run from the repository root after `scripts/setup.sh`):", ""]
    lines += [f"- {r['what']}: `{r['bench_command']}` (runs `{r['command'].strip()}`), measured {r['date']}"
              for r in results.values()]
    lines += ["", TABLE_END]
    return "\n".join(lines)


def write_docs(results: dict) -> None:
    write_docs_section(TABLE_START, TABLE_END, render_table(results), "## Core accuracy (issue 2)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=list(EXPERIMENTS), help="experiments to run")
    parser.add_argument("--table-only", action="store_true", help="only re-render docs/benchmarks.md")
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if not args.table_only:
        for name in args.only or list(EXPERIMENTS):
            results[name] = run_experiment(name)
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(results, indent=2) + "\n")
            print(json.dumps({name: results[name]}, indent=2))
    write_docs({k: results[k] for k in EXPERIMENTS if k in results})


if __name__ == "__main__":
    main()
