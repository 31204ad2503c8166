"""Helpers shared by the bench scripts: run a command or a forked function measuring its peak memory, rewrite a
docs table."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"


def run_measured(command: list[str], cwd: Path = ROOT) -> tuple[int, float, float]:
    """Run ``command`` to completion in a fresh process.

    Returns:
        (exit status, wall seconds, peak resident memory of that process in MB from ``os.wait4`` rusage).
    """
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd)
    _, status, usage = os.wait4(process.pid, 0)
    return os.waitstatus_to_exitcode(status), time.perf_counter() - started, usage.ru_maxrss / 1024


def run_forked(main: Callable[[], None], argv: list[str]) -> tuple[int, float, float]:
    """Run ``main()`` with ``sys.argv`` set to ``argv`` in a child forked from this process, measured as
    `run_measured` measures a command.

    The child starts with the modules this process has imported instead of importing them again: torch,
    transformers and tunekit take ~10 s to import on a 2-core host, paid once instead of once per system. Its
    peak resident memory counts the memory it inherited and the shared-library pages it touches, not those only
    the imports touched: 110-145 MB less than a fresh process for the speed benchmark's systems (docs/benchmarks.md,
    "Speed"). This process must not have run torch's thread pool (its OpenMP workers do not survive a fork).

    Returns:
        (exit status, wall seconds, peak resident memory of the child in MB from ``os.wait4`` rusage).
    """
    started = time.perf_counter()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never return into the caller's frames, never run this process's exit handlers
        status = 1
        try:
            sys.argv = argv
            main()
            status = 0
        except SystemExit as exit_:  # as the interpreter exits: None is success, a message is printed, status 1
            status = 0 if exit_.code is None else exit_.code if isinstance(exit_.code, int) else 1
            if exit_.code is not None and not isinstance(exit_.code, int):
                print(exit_.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)
    _, status, usage = os.wait4(pid, 0)
    return os.waitstatus_to_exitcode(status), time.perf_counter() - started, usage.ru_maxrss / 1024


def train_measured(config: str, overrides: list[str], run_dir: Path) -> tuple[int, float, float]:
    """`tunekit train CONFIG OVERRIDES` into ``run_dir`` (replacing a previous run) in a fresh process, measured by
    `run_measured`."""
    return run_measured([sys.executable, "-m", "tunekit", "train", config, *overrides, f"output_dir={run_dir}",
                         "train.progress_bar=false", "--overwrite"])


def machine() -> str:
    """Architecture, core count and CPU model: hosts of one machine kind differ (their GEMM peaks by 2x,
    docs/benchmarks.md), so throughputs compare within one host only."""
    return f"{platform.machine()}, {os.cpu_count()} cores, {cpu_model()}"


def cpu_model() -> str:
    """The CPU's model name with its family and model numbers from /proc/cpuinfo (a hypervisor may show only the
    vendor's brand), else what `platform` knows."""
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/cpuinfo").read_text().split("\n\n")[0].splitlines()
                      if ":" in line)
    except OSError:
        return platform.processor() or "unknown CPU"
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    name = fields.get("model name", platform.processor() or "unknown CPU")
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return name


def write_docs_section(start: str, end: str, table: str, heading: str, docs: Path = DOCS) -> None:
    """Replace the text between the ``start`` and ``end`` markers of ``docs`` with ``table`` (which carries
    both markers), or append it under ``heading`` when the markers are not there yet."""
    text = docs.read_text() if docs.exists() else "# Benchmarks\n\n"
    if start in text:
        head, rest = text.split(start, 1)
        text = head + table + rest.split(end, 1)[1]
    else:
        text += f"\n{heading}\n\n{table}\n"
    docs.write_text(text)
