"""Load test: `tunekit serve` vs. a naive FastAPI + transformers.pipeline server, same model, same run.

Single-text POST /v1/predict requests (SST-2 dev sentences, cycled) from 1, 8, 32 and 128 concurrent keep-alive
clients on loopback, each level bounded in time and requests; then 128 clients for a longer endurance run against
tunekit. Reports requests/s, p50/p99 latency and errors; writes bench/results/serve.json and the table in
docs/benchmarks.md.

    flock /tmp/tunekit-heavy.lock .venv/bin/python bench/serve_load.py

The client is a minimal asyncio HTTP/1.1 client (one coroutine per connection, pre-built requests) so that the
load generator, which shares the machine's cores with the server, costs as little CPU as possible.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "serve.json"
DOCS = ROOT / "docs" / "benchmarks.md"
SST2_DEV = ROOT.parent / "shared" / "datasets" / "sst2" / "dev.tsv"
START, END = "<!-- serve-table:start -->", "<!-- serve-table:end -->"
COMMAND = "flock /tmp/tunekit-heavy.lock .venv/bin/python bench/serve_load.py"


def sst2_sentences() -> list[str]:
    with open(SST2_DEV, encoding="utf-8", newline="") as handle:
        return [row["sentence"].strip() for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)]


def build_requests(texts: list[str], port: int, key: str | None) -> list[bytes]:
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    requests = []
    for text in texts:
        body = json.dumps({"texts": [text]}).encode()
        head = (f"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
        requests.append(head.encode() + body)
    return requests


async def _client(port: int, requests: list[bytes], offset: int, stop_at: float, budget: list[int],
                  latencies: list[float], errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = offset
    try:
        while time.perf_counter() < stop_at and budget[0] > 0:
            budget[0] -= 1
            request = requests[i % len(requests)]
            i += 1
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
            await reader.readexactly(length)
            if head[9:12] != b"200":
                errors.append(head[9:12].decode())
                continue
            latencies.append(time.perf_counter() - start)
    except (OSError, asyncio.IncompleteReadError, AttributeError) as exc:
        errors.append(type(exc).__name__)
    finally:
        writer.close()


async def _load(port: int, requests: list[bytes], clients: int, duration_s: float, max_requests: int) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    budget = [max_requests]
    start = time.perf_counter()
    stop_at = start + duration_s
    await asyncio.gather(*(_client(port, requests, c * 7919, stop_at, budget, latencies, errors)
                           for c in range(clients)))
    elapsed = time.perf_counter() - start
    lat_ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    return {"clients": clients, "duration_s": round(elapsed, 2), "requests": len(latencies) + len(errors),
            "ok": len(latencies), "errors": len(errors), "error_kinds": sorted(set(errors)),
            "requests_per_s": round(len(latencies) / elapsed, 1),
            "p50_ms": round(float(np.percentile(lat_ms, 50)), 1), "p99_ms": round(float(np.percentile(lat_ms, 99)), 1)}


def run_async(coroutine, client_loop: str):
    """Run the load generator on ``client_loop``: ``uvloop`` (a tunekit dependency) or ``asyncio``. It shares the
    cores with the server under test, so every cycle it saves is one the server gets."""
    if client_loop == "asyncio":
        return asyncio.run(coroutine)
    import uvloop

    return uvloop.run(coroutine)


def run_level(port: int, requests: list[bytes], clients: int, duration_s: float, max_requests: int,
              warmup_s: float, server: psutil.Process, client_loop: str) -> dict:
    run_async(_load(port, requests, clients, warmup_s, max_requests), client_loop)  # fill caches and pipelines
    cpu_before, client_cpu_before = server_cpu_s(server), time.process_time()
    level = run_async(_load(port, requests, clients, duration_s, max_requests), client_loop)
    # CPU seconds the server burnt per answered request: unlike requests/s, barely moved by other load on the cores
    cpu_ms = (server_cpu_s(server) - cpu_before) * 1000
    level["server_cpu_ms_per_request"] = round(cpu_ms / max(level["requests"], 1), 2)
    client_ms = (time.process_time() - client_cpu_before) * 1000
    level["load_generator_cpu_ms_per_request"] = round(client_ms / max(level["requests"], 1), 3)
    return level


def server_cpu_s(server: psutil.Process) -> float:
    """User + system CPU seconds of the server and its worker processes (all threads)."""
    total = 0.0
    for process in (server, *server.children(recursive=True)):
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def wait_ready(port: int, process: subprocess.Popen, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"server on port {port} not ready after {timeout_s} s")


def start(command: list[str], port: int, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    log = open(log_path, "w")  # noqa: SIM115 (closed with the process)
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    wait_ready(port, process)
    return process


def stop(process: subprocess.Popen) -> int | None:
    """Stop the server; returns its exit code if it had already died (a crash), else None."""
    crashed = process.poll()
    if crashed is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return crashed


def render_table(results: dict) -> str:
    rows = ["| server | clients | requests/s | p50 ms | p99 ms | errors | requests |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for level in results["levels"]:
        rows.append(f"| {level['server']} | {level['clients']} | {level['requests_per_s']:.1f} | {level['p50_ms']:.1f} "
                    f"| {level['p99_ms']:.1f} | {level['errors']} | {level['requests']} |")
    endurance = results.get("endurance")
    if endurance:
        rows.append(f"| tunekit, {endurance['duration_s']:.0f} s endurance | {endurance['clients']} "
                    f"| {endurance['requests_per_s']:.1f} | {endurance['p50_ms']:.1f} | {endurance['p99_ms']:.1f} "
                    f"| {endurance['errors']} | {endurance['requests']} |")
    speedups = results.get("speedup_vs_naive", {})
    notes = ["Speed-up over the naive server: " + ", ".join(f"{k} clients {v:.1f}×" for k, v in speedups.items())
             + "." if speedups else "",
             f"Settings: {results['settings']}.",
             f"Machine: {results['machine']}. Measured by `{results['command']}` ({results['date']})."]
    return "\n".join(rows) + "\n\n" + "\n".join(n for n in notes if n)


def update_docs(table: str) -> None:
    text = DOCS.read_text(encoding="utf-8")
    block = f"{START}\n\n{table}\n\n{END}"
    if START in text:
        text = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n## Serving (issue 6)\n\n" + block + "\n"
    DOCS.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, default=ROOT / "bench" / "runs" / "sst2-full")
    parser.add_argument("--work", type=Path, default=Path("/tmp/tunekit-serve-bench"))
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 8, 32, 128])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per level")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--max-requests", type=int, default=20000, help="per level")
    parser.add_argument("--endurance", type=float, default=60.0, help="seconds at 128 clients (0: skip)")
    parser.add_argument("--servers", nargs="+", default=["tunekit", "naive"])
    parser.add_argument("--serve-config", type=Path, default=None, help="YAML passed to tunekit serve --config")
    parser.add_argument("--workers", type=int, default=1, help="tunekit serve --workers")
    parser.add_argument("--client-loop", choices=["uvloop", "asyncio"], default="uvloop",
                        help="event loop of the load generator")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results JSON")
    parser.add_argument("--no-docs", action="store_true", help="write the JSON only")
    parser.add_argument("--render", action="store_true", help="only re-render the docs table from --out")
    args = parser.parse_args()
    if args.render:
        update_docs(render_table(json.loads(args.out.read_text(encoding="utf-8"))))
        return

    from tunekit.serve.keys import KeyStore

    args.work.mkdir(parents=True, exist_ok=True)
    texts = sst2_sentences()
    mean_chars = np.mean([len(t) for t in texts])
    store_path = args.work / "keys.sqlite"
    store_path.unlink(missing_ok=True)
    key = KeyStore(store_path).create("load-test", "predict")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    python = sys.executable
    servers = {
        "tunekit": ([python, "-m", "tunekit", "serve", str(args.run_dir), "--port", "8761", "--store", str(store_path),
                     "--workers", str(args.workers),
                     *(["--config", str(args.serve_config)] if args.serve_config else [])], 8761, key),
        "naive": ([python, "bench/serve_naive.py", str(args.work / "export"), "--port", "8762"], 8762, None),
    }
    if "naive" in args.servers and not (args.work / "export" / "config.json").is_file():
        shutil.rmtree(args.work / "export", ignore_errors=True)
        subprocess.run([python, "-m", "tunekit", "export", str(args.run_dir), "--merged", "--out",
                        str(args.work / "export")], cwd=ROOT, check=True)

    command = COMMAND + "".join(f" {arg}" for arg in sys.argv[1:])
    results: dict = {"levels": [], "command": command, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                     "machine": f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), "
                                "load generator on the same cores",
                     "settings": f"single-text requests (SST-2 dev sentences, mean {mean_chars:.0f} chars), "
                                 f"{args.duration:.0f} s per level after {args.warmup:.0f} s warm-up, "
                                 f"keep-alive connections; tunekit with default serving config"
                                 f"{' + ' + args.serve_config.name if args.serve_config else ''}, "
                                 f"{args.workers} worker{'s' if args.workers > 1 else ''} and an API key; "
                                 f"load generator on {args.client_loop}; "
                                 "naive = FastAPI + transformers.pipeline, fp32, one request at a time"}
    for name in args.servers:
        command, port, server_key = servers[name]
        process = start(command, port, env, args.work / f"{name}.log")
        try:
            requests = build_requests(texts, port, server_key)
            for clients in args.levels:
                level = run_level(port, requests, clients, args.duration, args.max_requests, args.warmup,
                                  psutil.Process(process.pid), args.client_loop)
                results["levels"].append({"server": name, **level})
                print(json.dumps(results["levels"][-1]), flush=True)
            if name == "tunekit" and args.endurance > 0:
                results["endurance"] = run_async(_load(port, requests, 128, args.endurance, 10**7), args.client_loop)
                print("endurance", json.dumps(results["endurance"]), flush=True)
        finally:
            crashed = stop(process)
            if crashed is not None:
                results.setdefault("crashes", []).append({"server": name, "exit_code": crashed})
    by = {(lv["server"], lv["clients"]): lv["requests_per_s"] for lv in results["levels"]}
    results["speedup_vs_naive"] = {str(c): round(by[("tunekit", c)] / by[("naive", c)], 2)
                                   for c in args.levels if by.get(("naive", c)) and ("tunekit", c) in by}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if not args.no_docs:
        update_docs(render_table(results))
    print(render_table(results))


if __name__ == "__main__":
    main()
