"""Speed benchmark (issue 4): tunekit against Hugging Face Trainer and `transformers.pipeline`, in one run.

Same model (MiniLM-L6), same SST-2 examples, epochs, seed, batch size, learning rate and starting weights for
every training system; each system runs in its own process (bench/speed_train.py, bench/speed_infer.py) so its
peak memory is its own, forked from this one after it has imported what every system imports (torch,
transformers, the scripts' tunekit modules): ~10 s a system less on a 2-core host. Model FLOPs utilisation is
measured against a GEMM peak measured in the same run (bench/speed_flops.py). Results go to
bench/results/speed.json; the table in docs/benchmarks.md is rendered from it.

    python bench/speed_benchmarks.py              # 4000 training examples, 1 epoch, full + LoRA, inference
    python bench/speed_benchmarks.py --part full  # only full fine-tuning (+ MPNet memory); times in the docs
    python bench/speed_benchmarks.py --part lora  # only LoRA and inference
    python bench/speed_benchmarks.py --part full --repeats 3  # tunekit and Trainer-best 3 times each, alternating
    python bench/speed_benchmarks.py --quick      # 800 examples (seeds: 320), 256 dev texts, no MPNet: < 5 min
    python bench/speed_benchmarks.py --only tunekit-full --tag before-X   # one system, kept as a named figure
    python bench/speed_benchmarks.py --table-only

Run it alone on the machine (the figures are throughputs): `flock /tmp/tunekit-heavy.lock python bench/...`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import mkl_as_shipped  # noqa: F401  before tunekit: the baselines' MKL stays as their users get it
from bench_common import ROOT, machine, run_forked, run_measured, write_docs_section
from tunekit.errors import ModelUnavailableError
from tunekit.models.resolve import resolve_model
from tunekit.run.layout import RunLayout

RESULTS = ROOT / "bench" / "results" / "speed.json"
RUN_DIR = ROOT / "bench" / "runs" / "sst2-full"  # the finished run inference is measured on, by default
TABLE_START, TABLE_END = "<!-- speed-table:start -->", "<!-- speed-table:end -->"
LEARNING_RATES = {"full": 1e-4, "lora": 1e-3}  # tunekit's defaults for a 384-wide encoder, given to every system
MODES = {
    "full": {"n_train": 4000, "epochs": 1, "eval_every": 50, "n_dev": None, "n_texts": None},
    "quick": {"n_train": 800, "epochs": 1, "eval_every": 50, "n_dev": 256, "n_texts": 256, "seeds_n_train": 320},
}
# --quick gives the seeds' fp32 recipe the first 320 of the 800 examples: at ~10 samples/s it would otherwise take
# 3 of the 5 minutes, and its samples/s does not depend on how many examples it trains on. Every system validates
# on the first 256 GLUE dev texts (n_dev), as inference reads: all 872 took 13 s a pass in the seeds' recipe on a
# 2-core host without native bf16, outside the training clock but inside the 5 minutes
TRAINING = [f"{system}-{method}" for method in ("full", "lora") for system in ("tunekit", "trainer-best",
                                                                               "trainer-seeds")]
INFERENCE = [f"{system}-batch{b}" for b in (1, 64) for system in ("tunekit", "pipeline")]
# the run's int8 ONNX model (`tunekit compress`, done first if the run has none, outside the timings): in a full run
# of every system (--quick leaves it out, to stay under 5 minutes) or named in --only
INFERENCE_INT8 = [f"tunekit-int8-batch{b}" for b in (1, 64)]
# the same with the run's fp32 weights (`tunekit compress --precision fp32`, written to a linked copy of the run,
# `onnx_fp32_run`, so the run's own int8 model stays)
INFERENCE_ONNX_FP32 = [f"tunekit-onnx-fp32-batch{b}" for b in (1, 64)]
INFERENCE_ONNX = INFERENCE_INT8 + INFERENCE_ONNX_FP32
# each part compares tunekit with its baselines within one invocation; `all` runs both
PARTS = {"full": ["tunekit-full", "trainer-best-full", "trainer-seeds-full", "mpnet-full", "mpnet-full-checkpointed"],
         "lora": ["tunekit-lora", "trainer-best-lora", "trainer-seeds-lora", *INFERENCE]}
COMMON = {"model": "minilm-l6", "batch_size": 16, "seed": 0, "target_accuracy": 0.80}
# Gradient checkpointing on the larger model: a short bounded tunekit run each way (core config's lr and batch)
MPNET = {"model": "mpnet-base", "method": "full", "learning_rate": 3e-5, "batch_size": 32, "n_train": 640,
         "n_dev": 128, "epochs": 1, "eval_every": 20, "seed": 0, "target_accuracy": 0.85}
MEMORY = {"mpnet-full": {}, "mpnet-full-checkpointed": {"gradient_checkpointing": True}}
FP32_HOSTS = {"-fp32": "without native bf16", "-fp32-avx512": "with AVX-512 but without native bf16"}


def import_shared_modules() -> dict[str, Callable[[], None]]:
    """Import, in this process, what every system imports, so that the systems forked from it start with them
    (after the command line is checked: a mistyped option should not wait for torch); the scripts' mains by name."""
    import transformers.models.bert.modeling_bert  # noqa: F401  every system's model

    import speed_flops
    import speed_infer
    import speed_train
    from tunekit.run import model_io  # noqa: F401  every system builds or loads its model through it or Auto classes

    return {"speed_flops.py": speed_flops.main, "speed_train.py": speed_train.main, "speed_infer.py": speed_infer.main}


def launch(script: str, args: list[str], fresh: bool = False) -> tuple[int, float, float]:
    """Run a bench script with ``args`` in a process of its own: forked from this one, or with ``fresh`` in a new
    interpreter that imports everything itself (the harness before 2026-12-07). Returns `run_measured`'s
    (exit status, wall seconds, peak RSS in MB)."""
    if fresh:
        return run_measured([sys.executable, str(ROOT / "bench" / script), *args])
    return run_forked(import_shared_modules()[script], [script, *args])


def run_worker(script: str, system: str, params: dict, fresh: bool = False) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        status, wall, peak_rss_mb = launch(script, [system, json.dumps(params), str(out)], fresh)
        if status != 0:
            raise SystemExit(f"{script} {system} failed with status {status}")
        # the 1-minute load average includes this run's own threads: well above the core count means it shared them
        return {**json.loads(out.read_text()), "process_seconds": round(wall, 1), "peak_rss_mb": round(peak_rss_mb),
                "load_average_after": round(os.getloadavg()[0], 1)}


def training_params(name: str, mode: dict) -> tuple[str, dict]:
    system, method = name.rsplit("-", 1)
    n_train = mode.get("seeds_n_train", mode["n_train"]) if system == "trainer-seeds" else mode["n_train"]
    return system, {**COMMON, "method": method, "learning_rate": LEARNING_RATES[method],
                    "n_train": n_train, "n_dev": mode["n_dev"], "epochs": mode["epochs"],
                    "eval_every": mode["eval_every"]}


def inference_params(name: str, mode: dict, run_dir: Path) -> tuple[str, dict]:
    system, batch = name.rsplit("-batch", 1)
    return system, {"seed": 0, "batch_size": int(batch), "n_texts": mode["n_texts"], "run_dir": str(run_dir)}


def add_ratios(run: dict) -> None:
    """Speed-ups of tunekit over each baseline, and utilisation of the measured peaks."""
    peak = run["gemm_peak"]
    for r in run["training"].values():
        r["mfu_bf16_peak"] = r["model_tflops_per_second"] * 1e3 / peak["bf16_gflops"]
        r["mfu_fp32_peak"] = r["model_tflops_per_second"] * 1e3 / peak["fp32_gflops"]
        r["mfu"] = r[f"mfu_{precision(r)}_peak"]
    for method in ("full", "lora"):
        ours = run["training"].get(f"tunekit-{method}")
        for baseline in ("trainer-seeds", "trainer-best"):
            other = run["training"].get(f"{baseline}-{method}")
            if ours and other:
                ours[f"speedup_vs_{baseline}"] = ours["samples_per_second"] / other["samples_per_second"]
                ours[f"accuracy_minus_{baseline}"] = ours["final_dev_accuracy"] - other["final_dev_accuracy"]
    for batch in (1, 64):
        other = run["inference"].get(f"pipeline-batch{batch}")
        for system in ("tunekit", "tunekit-int8", "tunekit-onnx-fp32"):
            ours = run["inference"].get(f"{system}-batch{batch}")
            if ours and other:
                ours["speedup_vs_pipeline"] = ours["texts_per_second"] / other["texts_per_second"]


def precision(result: dict) -> str:
    """What a system's matmuls ran in; runs before 2026-12-07 did not say, and their MFU was taken against the bf16
    peak for every system."""
    return result.get("precision", "bf16")


def mfu(result: dict, peak: dict) -> str:
    """Model FLOPs utilisation against the GEMM peak of the precision the system ran in, that peak named (no int8
    peak is measured)."""
    if precision(result) == "int8":
        return "— (int8)"
    return f"{result['model_tflops_per_second'] * 1e3 / peak[f'{precision(result)}_gflops']:.1%} " \
           f"({precision(result)} peak)"


def git_revision() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()

    return git("rev-parse", "--short", "HEAD") + ("+dirty" if git("status", "--porcelain", "src") else "")


def median_run(runs: list[dict]) -> dict:
    """The run with the median samples/s (the lower middle one of an even count), with every run's samples/s."""
    ranked = sorted(runs, key=lambda r: r["samples_per_second"])
    return {**ranked[(len(ranked) - 1) // 2], "samples_per_second_of_runs": [r["samples_per_second"] for r in runs]}


def measure(mode_name: str, only: list[str] | None, run_dir: Path, command: str, repeats: int = 1,
            fresh: bool = False, mkl_avx2_for_baselines: bool = False) -> dict:
    mode = MODES[mode_name]
    baseline_mkl = {"mkl_avx2_on_amd": True} if mkl_avx2_for_baselines else {}
    run = {"mode": mode_name, "settings": {**COMMON, **mode, "learning_rates": LEARNING_RATES, "repeats": repeats},
           "command": command,
           "revision": git_revision(), "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
           "machine": machine(), "cpu_capability": cpu_capability(), "gemm_peak": None,
           "training": {}, "memory": {}, "inference": {}}
    run["gemm_peak"] = gemm_peak(fresh)
    selected = [name for name in TRAINING if only is None or name in only]
    repeated = [name for name in selected if not name.startswith("trainer-seeds")]
    runs: dict[str, list[dict]] = {name: [] for name in selected}

    def train_once(name: str) -> None:
        system, params = training_params(name, mode)
        runs[name].append(run_worker("speed_train.py", system, {**params, **baseline_mkl}, fresh))
        print(name, json.dumps({k: v for k, v in runs[name][-1].items() if k != "evaluations"}), flush=True)

    for round_ in range(repeats):  # the fast systems alternate, in turned-around order every other round
        for name in repeated if round_ % 2 == 0 else repeated[::-1]:
            train_once(name)
    for name in selected:
        if name not in repeated:  # the seeds' fp32 recipe: minutes a run and 10x slower, once is enough
            train_once(name)
        run["training"][name] = median_run(runs[name])
    for name, overrides in MEMORY.items():
        if name in memory_rows(only, mode_name):
            run["memory"][name] = run_worker("speed_train.py", "tunekit", {**MPNET, "train_overrides": overrides},
                                           fresh)
            print(name, json.dumps({k: v for k, v in run["memory"][name].items() if k != "evaluations"}), flush=True)
    rows = inference_rows(only, mode_name)
    fp32_run = onnx_fp32_run(run_dir) if set(rows) & set(INFERENCE_ONNX_FP32) else None
    if set(rows) & set(INFERENCE_INT8):
        compress_for_rows(run_dir, "int8")
    if fp32_run is not None:
        compress_for_rows(fp32_run, "fp32")
    for name in INFERENCE + INFERENCE_ONNX:
        if name in rows:
            system, params = inference_params(name, mode, fp32_run if name in INFERENCE_ONNX_FP32 else run_dir)
            run["inference"][name] = run_worker("speed_infer.py", system, {**params, **baseline_mkl}, fresh)
            print(name, json.dumps(run["inference"][name]), flush=True)
    add_ratios(run)
    return run


def onnx_fp32_run(run_dir: Path) -> Path:
    """``RUN_DIR-onnx-fp32``: ``run_dir``'s files as symbolic links, with a ``compressed/`` of its own for the fp32
    ONNX export, so the run's int8 model stays where the int8 rows read it."""
    linked = run_dir.parent / f"{run_dir.name}-onnx-fp32"
    linked.mkdir(exist_ok=True)
    for item in run_dir.iterdir():
        if item.name != "compressed" and not (linked / item.name).exists():
            (linked / item.name).symlink_to(item.resolve())
    return linked


def compress_for_rows(run_dir: Path, onnx_precision: str) -> None:
    """`tunekit compress --precision ONNX_PRECISION` on ``run_dir`` unless it holds that model already (outside
    every timing)."""
    layout = RunLayout(run_dir)
    if layout.compressed_model.is_file() and layout.compressed_precision == onnx_precision:
        return
    from tunekit.recipes.compress_run import compress_run

    print(f"compressing {run_dir} to {onnx_precision} for its rows (tunekit compress; not part of any timing)",
          flush=True)
    # in a child: torch operations here would fix MKL's code path for every system forked after them
    if run_forked(lambda: compress_run(run_dir, precision=onnx_precision), ["compress"])[0] != 0:
        raise SystemExit(f"compressing {run_dir} failed")


def memory_rows(only: list[str] | None, mode_name: str) -> list[str]:
    """The MPNet memory rows to run: all of them in a full run of every system (--quick leaves them out), else those
    named in ``only``."""
    return [name for name in MEMORY if (only is None and mode_name == "full") or (only and name in only)]


def inference_rows(only: list[str] | None, mode_name: str) -> list[str]:
    """The inference rows to run: the fp32/bf16 ones unless ``only`` leaves them out; the ONNX ones (int8 and fp32)
    in a full run of every system (--quick leaves them out, to stay under 5 minutes) or named in ``only``."""
    if only is not None:
        return [name for name in INFERENCE + INFERENCE_ONNX if name in only]
    return INFERENCE + (INFERENCE_ONNX if mode_name == "full" else [])


def missing_prerequisite(only: list[str] | None, mode_name: str, run_dir: Path) -> str | None:
    """What the selected systems need that is not there (the finished run inference uses, the MPNet model the
    memory rows train), as a message that says how to get it; None when nothing is missing."""
    rows = inference_rows(only, mode_name)
    if rows and not (run_dir / "model").is_dir():
        return (f"inference needs a finished run at {run_dir}, and there is none: make it with "
                "`python bench/core_benchmarks.py --only sst2-full` (or pass --run-dir), then run this again")
    if memory_rows(only, mode_name):
        try:
            resolve_model(MPNET["model"])
        except ModelUnavailableError as error:
            return f"the MPNet memory rows cannot run: {error.problem}; {error.fix}"
    return None


def part_of(only: list[str] | None, part: str) -> str:
    """The part whose table a run's figures go to: the named part, or the one every system of ``only`` lies in
    (``inference`` for inference alone), so a run of a few systems does not replace a whole part's table."""
    if not only:
        return part
    if set(only) <= set(INFERENCE + INFERENCE_ONNX):
        return "inference"
    return next((name for name, systems in PARTS.items() if set(only) <= set(systems)), "all")


def gemm_peak(fresh: bool = False) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "peak.json"
        status, _, _ = launch("speed_flops.py", [str(out)], fresh)
        if status != 0:
            raise SystemExit(f"speed_flops.py failed with status {status}")
        return json.loads(out.read_text())


def _time(seconds: float | None) -> str:
    return "not reached" if seconds is None else f"{seconds:.0f} s"


def dev_texts(settings: dict) -> str:
    """Which GLUE dev texts a run validated on and classified (runs before 2026-12-07 validated on all 872)."""
    validation, inference = settings.get("n_dev") or 872, settings["n_texts"] or 872
    if validation == inference:
        return f"validation and inference on GLUE dev ({validation} texts)"
    return f"validation on GLUE dev ({validation} texts; {inference} for inference)"


def render_run(run: dict) -> list[str]:
    s, peak = run["settings"], run["gemm_peak"]
    compute = peak.get("compute_precision", "bf16")
    lines = [f"Command: `{run['command']}` — measured {run['date']} on {run['machine']} (revision {run['revision']}); "
             f"{s['n_train']} SST-2 training examples"
             + (f" ({s['seeds_n_train']} of them for trainer-seeds)" if s.get("seeds_n_train") else "")
             + f", {s['epochs']} epoch, batch {s['batch_size']}, seed {s['seed']}, "
             + dev_texts(s) + ". GEMM peak measured in the same "
             f"run at {peak['threads']} threads: **bf16 {peak['bf16_gflops']:.0f} GFLOP/s, fp32 "
             f"{peak['fp32_gflops']:.0f} GFLOP/s**; {compute} GEMMs at the shapes of a batch-16 MiniLM step: "
             + ", ".join(f"{k} {v:.0f}" for k, v in peak.get(f"{compute}_gflops_at_model_shapes", {}).items())
             + " GFLOP/s." + (f" tunekit and trainer-best ran {s['repeats']} times each, alternating: the row is the "
                              "median run, every run's samples/s in brackets." if s.get("repeats", 1) > 1 else "")]
    if run["training"]:
        lines += ["", "| training | samples/s | real tokens/s | padded tokens/s | padding | MFU (of its precision's "
                  f"peak) | time to {s['target_accuracy']:.2f} dev acc. | final dev acc. | peak RSS | "
                  "tunekit speed-up |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, r in run["training"].items():
        speedup = " / ".join(f"{r[k]:.2f}× vs {k.removeprefix('speedup_vs_')}" for k in r if k.startswith("speedup"))
        runs = r.get("samples_per_second_of_runs", [])
        each = f" ({', '.join(f'{v:.1f}' for v in runs)})" if len(runs) > 1 else ""
        lines.append(f"| {name} | {r['samples_per_second']:.1f}{each} | {r['real_tokens_per_second']:.0f} | "
                     f"{r['padded_tokens_per_second']:.0f} | {r['padding_fraction']:.0%} | {mfu(r, peak)} | "
                     f"{_time(r['time_to_target_seconds'])} | {r['final_dev_accuracy']:.4f} | "
                     f"{r['peak_rss_mb']} MB | {speedup} |")
    if run.get("memory"):
        lines += ["", f"Memory: MPNet-base full fine-tuning, {MPNET['n_train']} examples at batch "
                  f"{MPNET['batch_size']} "
                  "(a short bounded run each way; full vs LoRA memory for MiniLM is the peak RSS column above).", "",
                  "| training | gradient checkpointing | samples/s | peak RSS |", "|---|---|---:|---:|"]
        for name, r in run["memory"].items():
            lines.append(f"| {name.removesuffix('-checkpointed')} | {'on' if 'checkpointed' in name else 'off'} | "
                         f"{r['samples_per_second']:.1f} | {r['peak_rss_mb']} MB |")
    if run["inference"]:
        lines += ["", "| inference | batch | texts/s | MFU (of its precision's peak) | dev acc. | peak RSS | "
                  "tunekit speed-up |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        for name, r in run["inference"].items():
            speedup = f"{r['speedup_vs_pipeline']:.2f}× vs pipeline" if "speedup_vs_pipeline" in r else ""
            lines.append(f"| {name.rsplit('-batch', 1)[0]} | {r['batch_size']} | {r['texts_per_second']:.1f} | "
                         f"{mfu(r, peak)} | "
                         f"{r['dev_accuracy']:.4f} | {r['peak_rss_mb']} MB | {speedup} |")
    return lines


def render_tagged(tagged: dict) -> list[str]:
    lines = ["| figure | revision | system | samples/s | MFU (of its precision's peak) | final dev acc. | peak RSS |",
             "|---|---|---|---:|---:|---:|---:|"]
    for tag, run in tagged.items():
        for name, r in run["training"].items():
            lines.append(f"| {tag} | {run['revision']} | {name} | {r['samples_per_second']:.1f} | "
                         f"{mfu(r, run['gemm_peak'])} | {r['final_dev_accuracy']:.4f} | {r['peak_rss_mb']} MB |")
        for name, r in run["inference"].items():
            lines.append(f"| {tag} | {run['revision']} | {name} (texts/s) | {r['texts_per_second']:.1f} | "
                         f"| {r['dev_accuracy']:.4f} | {r['peak_rss_mb']} MB |")
    return lines


def cpu_capability() -> str:
    """The widest vector instructions torch's kernels use here (``AVX2``, ``AVX512``, ...)."""
    import torch  # here, not at the top: a mistyped option should not wait for torch

    return torch.backends.cpu.get_cpu_capability()


def host_tables(run: dict) -> str:
    """The suffix of the tables a run belongs in: a host without native bf16 keeps its own (its systems run fp32,
    another comparison), and one with AVX-512 others again (its fp32 matmuls run twice as wide)."""
    if run["gemm_peak"].get("compute_precision") != "fp32":
        return ""
    return "-fp32-avx512" if run.get("cpu_capability") == "AVX512" else "-fp32"


def render_table(results: dict) -> str:
    lines = [TABLE_START, ""]
    parts = {"all": "", "full": ": full fine-tuning", "lora": ": LoRA, inference", "inference": ": inference"}
    titles = {f"{mode}-{part}": f"{mode.capitalize()} run{what}" for mode in MODES for part, what in parts.items()}
    titles |= {f"{key}{suffix}": f"{title}, on a CPU {cpu} (every system in fp32)"
               for key, title in list(titles.items()) for suffix, cpu in FP32_HOSTS.items()}
    for key, title in titles.items():
        if key in results:
            notes = [note for rows, note in ((INFERENCE_INT8, "tunekit-int8 on the run's int8 model"),
                                             (INFERENCE_ONNX_FP32, "tunekit-onnx-fp32 on its fp32 ONNX export"))
                     if set(rows) & set(results[key]["inference"])]
            if notes:
                extra = ", ".join(notes)
                title = f"{title[:-1]}, {extra})" if title.endswith(")") else f"{title} ({extra})"
            lines += [f"### {title}", "", *render_run(results[key]), ""]
    if results.get("tagged"):
        lines += ["### Before/after figures", "",
                  "Each optimisation measured with the same harness before and after it "
                  "(`python bench/speed_benchmarks.py --only SYSTEMS --tag NAME`):", "",
                  *render_tagged(results["tagged"]), ""]
    return "\n".join([*lines, TABLE_END])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="800 training examples (320 for the seeds' recipe), 256 dev texts to validate and infer")
    parser.add_argument("--part", choices=["all", *PARTS], default="all", help="full fine-tuning or LoRA + inference")
    parser.add_argument("--only", nargs="*", choices=TRAINING + list(MEMORY) + INFERENCE + INFERENCE_ONNX,
                        help="systems to run")
    parser.add_argument("--repeats", type=int, default=1,
                        help="run tunekit and Trainer-best this many times each, alternating; report the median run")
    parser.add_argument("--tag", help="keep this run under a name (before/after figures) instead of as the table")
    parser.add_argument("--run-dir", type=Path, default=RUN_DIR,
                        help="finished run used for inference (python bench/core_benchmarks.py --only sst2-full)")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="results file to update; docs/benchmarks.md is rendered only from the default one")
    parser.add_argument("--fresh-processes", action="store_true",
                        help="start each system in a new interpreter instead of forking it from this one (slower)")
    parser.add_argument("--mkl-avx2-for-baselines", action="store_true",
                        help="let the baselines' MKL take its AVX2 path on an AMD CPU too, as tunekit's does "
                             "(tunekit.mkl_on_amd); without it they run MKL as shipped")
    parser.add_argument("--table-only", action="store_true", help="only re-render docs/benchmarks.md")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    results = json.loads(args.results.read_text()) if args.results.exists() else {}
    if not args.table_only:
        mode = "quick" if args.quick else "full"
        command = "python bench/speed_benchmarks.py" + (" --quick" if args.quick else "")
        command += f" --part {args.part}" if args.part != "all" else ""
        command += f" --repeats {args.repeats}" if args.repeats != 1 else ""
        command += f" --only {' '.join(args.only)}" if args.only else ""
        command += f" --tag {args.tag}" if args.tag else ""
        command += f" --run-dir {args.run_dir}" if args.run_dir.absolute() != RUN_DIR else ""
        command += " --fresh-processes" if args.fresh_processes else ""
        command += " --mkl-avx2-for-baselines" if args.mkl_avx2_for_baselines else ""
        only = args.only or (PARTS[args.part] if args.part != "all" else None)
        missing = missing_prerequisite(only, mode, args.run_dir)
        if missing:
            parser.error(missing)  # before any system runs: a run that fails late loses every figure before it
        run = measure(mode, only, args.run_dir, command, args.repeats, args.fresh_processes,
                      args.mkl_avx2_for_baselines)
        if args.tag:
            results.setdefault("tagged", {})[args.tag] = run
        else:
            results[f"{mode}-{part_of(args.only, args.part)}{host_tables(run)}"] = run
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(results, indent=2) + "\n")
    if args.results.resolve() != RESULTS.resolve():  # a scratch file's few rows would replace every table
        print(f"results in {args.results}; docs/benchmarks.md left as it is "
              f"(rendered from {RESULTS.relative_to(ROOT)})")
        return
    write_docs_section(TABLE_START, TABLE_END, render_table(results), "## Speed (issue 4)")


if __name__ == "__main__":
    main()
