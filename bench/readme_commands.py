"""Time the README's two commands (quick start and tests) on this checkout, once set up.

    python bench/readme_commands.py            # runs scripts/setup.sh, then both commands, timed

Writes bench/results/readme_commands.json and the "README commands" table in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "readme_commands.json"
DOCS = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- readme-table:start -->", "<!-- readme-table:end -->"
COMMANDS = {"quick start": ["scripts/quickstart.sh", "train.progress_bar=false"],
            "tests": ["scripts/test.sh"]}


def timed(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return time.perf_counter() - started, done.stdout + done.stderr


def main() -> None:
    subprocess.run(["scripts/setup.sh"], cwd=ROOT, check=True)  # "once set up": installation is not timed
    results = {}
    for name, command in COMMANDS.items():
        seconds, output = timed(command)
        summary = re.findall(r"\d+ passed[^\n]*", output) or re.findall(r"accuracy: \*\*[0-9.]+\*\*", output)
        results[name] = {"command": " ".join(command), "seconds": round(seconds, 1), "summary": summary[-1:],
                         "date": date.today().isoformat(), "cpu_count": os.cpu_count()}
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    rows = [START, "", "| command | wall time | result |", "|---|---:|---|"]
    rows += [f"| `{r['command']}` | {r['seconds'] / 60:.1f} min | {'; '.join(r['summary'])} |"
             for r in results.values()]
    rows += ["", "Measured by `python bench/readme_commands.py` (set-up done beforehand, not timed).", "", END]
    text = DOCS.read_text()
    table = "\n".join(rows)
    text = (text.split(START)[0] + table + text.split(END)[1]) if START in text else \
        text + "\n## README commands (issue 2)\n\n" + table + "\n"
    DOCS.write_text(text)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
