"""Dev accuracy of tunekit and Trainer's best settings over several seeds (issue 4: "at equal or better dev accuracy").

One seed cannot tell a faster loop that learns worse from one that drew a worse example order: the speed
benchmark's single-seed accuracies differ by up to 3 points between systems that run the same kernels. This
script trains the speed benchmark's systems (same harness, `bench/speed_train.py`) at each seed, where the seed
picks the 4000 training examples, the head's initialisation and the batch order for every system alike, and
reports each system's mean and standard deviation of final dev accuracy. Only accuracy is read here: the
speed figures stay with `bench/speed_benchmarks.py`, run alone on the machine.

    python bench/speed_accuracy_seeds.py --seeds 0 1 2 3 4

``--results NAME`` keeps another host's figures apart: ``bench/results/NAME.json`` and its own table in
docs/benchmarks.md (default ``speed_accuracy``, the bf16 host's).
"""

from __future__ import annotations

import argparse
import json
import statistics
from datetime import UTC, datetime

from bench_common import ROOT, machine, write_docs_section
from speed_benchmarks import MODES, git_revision, run_worker, training_params

RESULTS_NAME = "speed_accuracy"
SYSTEMS = ["tunekit-full", "trainer-best-full", "tunekit-lora", "trainer-best-lora", "trainer-seeds-full",
           "trainer-seeds-lora"]
DEFAULT_SYSTEMS = SYSTEMS[:4]  # the seeds' fp32 recipe takes 3-5 minutes a run: ask for it by name


def markers(results_name: str) -> tuple[str, str]:
    """The docs markers around ``results_name``'s table (``speed_accuracy``: ``<!-- speed-accuracy:start -->``)."""
    tag = results_name.replace("_", "-")
    return f"<!-- {tag}:start -->", f"<!-- {tag}:end -->"


def measure(seeds: list[int], systems: list[str], run: dict, results_name: str = RESULTS_NAME) -> dict:
    """Train every system at every seed; results are merged into ``run`` (earlier invocations' results)."""
    accuracies = run.setdefault("final_dev_accuracy", {})
    revision = git_revision()  # the code the runs start from: a commit made while they train is not theirs
    for seed in seeds:
        for name in systems:
            system, params = training_params(name, MODES["full"])
            result = run_worker("speed_train.py", system, {**params, "seed": seed})
            accuracies.setdefault(name, {})[str(seed)] = result["final_dev_accuracy"]
            print(name, seed, result["final_dev_accuracy"], flush=True)
    command = "python bench/speed_accuracy_seeds.py --seeds " + " ".join(map(str, seeds))
    if systems != DEFAULT_SYSTEMS:
        command += " --systems " + " ".join(systems)
    if results_name != RESULTS_NAME:
        command += f" --results {results_name}"
    run.setdefault("commands", []).append(command)
    run.setdefault("revisions", []).append(revision)
    run.update(date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), machine=machine())
    return run


def render(run: dict, results_name: str = RESULTS_NAME) -> str:
    start, end = markers(results_name)
    lines = [start, "", "Commands: " + "; ".join(f"`{c}`" for c in run["commands"]) + f" — last run {run['date']}, "
             f"revisions {', '.join(dict.fromkeys(run['revisions']))}, {run['machine']}; 4000 SST-2 training examples "
             "drawn by the seed, 1 epoch, batch 16, final dev accuracy on the 872 GLUE dev sentences.", "",
             "| system | seeds | mean dev acc. | std | per seed |", "|---|---:|---:|---:|---|"]
    for name, by_seed in run["final_dev_accuracy"].items():
        values = list(by_seed.values())
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        lines.append(f"| {name} | {len(values)} | {statistics.mean(values):.4f} | {spread:.4f} | "
                     + ", ".join(f"{v:.4f}" for v in values) + " |")
    return "\n".join([*lines, "", end])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=DEFAULT_SYSTEMS)
    parser.add_argument("--table-only", action="store_true", help="only re-render docs/benchmarks.md")
    parser.add_argument("--results", default=RESULTS_NAME, metavar="NAME",
                        help="results file bench/results/NAME.json and its own docs table (another host's figures)")
    args = parser.parse_args()
    results = ROOT / "bench" / "results" / f"{args.results}.json"
    if not args.table_only:
        earlier = json.loads(results.read_text()) if results.exists() else {}
        results.write_text(json.dumps(measure(args.seeds, args.systems, earlier, args.results), indent=2) + "\n")
    heading = "### Dev accuracy over seeds" + ("" if args.results == RESULTS_NAME else f" ({args.results})")
    write_docs_section(*markers(args.results), render(json.loads(results.read_text()), args.results), heading)


if __name__ == "__main__":
    main()
