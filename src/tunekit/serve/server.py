"""`tunekit serve`: check the run and its audit, then run uvicorn with one or more worker processes."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from fastapi import FastAPI

from tunekit.compress.source import check_compressed_source
from tunekit.errors import TunekitError
from tunekit.run.layout import RunLayout
from tunekit.serve.keys import KeyStore
from tunekit.serve.model_service import check_audit_gate, check_compressed_servable
from tunekit.serve.settings import load_serve_config

log = logging.getLogger(__name__)
SERVE_ENV = "TUNEKIT_SERVE_ARGS"  # how the CLI's arguments reach worker processes (uvicorn imports the factory)
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def run_server(run_dir: Path, *, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
               config_path: Path | None = None, key_store_path: Path | None = None,
               allow_failed_audit: bool = False) -> None:
    """Serve ``run_dir`` over HTTP until interrupted.

    Everything a user can get wrong (run directory, audit verdict, config, key store) is checked here, before
    uvicorn starts, so it is reported as a plain error rather than a worker crash.

    Raises:
        TunekitError: an unfinished run, a failed audit without ``allow_failed_audit``, a bad config or store.
    """
    import uvicorn

    if workers < 1:
        raise TunekitError("--workers must be at least 1", "pass --workers 1 (or more on a larger machine)")
    run_dir = Path(run_dir).resolve()
    RunLayout(run_dir).require_finished()
    check_audit_gate(run_dir, allow_failed_audit)
    config = load_serve_config(config_path)
    if config.compressed:
        check_compressed_servable(run_dir)
        check_compressed_source(RunLayout(run_dir))
    if config.require_api_key:
        store = KeyStore(key_store_path)
        if not any(key.active for key in store.list()):
            log.warning("no active API key in %s: every request will be refused; create one with "
                        "`tunekit keys create --name NAME --scope predict`", store.path)
        store.close()
    if host not in LOOPBACK:
        log.warning("listening on %s: reachable from other machines (use TLS in front of it)", host)
    # Idle OpenMP threads sleep instead of spinning against the event loop on a small machine (with gc.freeze, p99
    # at 32 clients went 310 → 115 ms, bench/results/serve_sweep.json). Set before torch loads; workers inherit it.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ[SERVE_ENV] = json.dumps({
        "run_dir": str(run_dir), "config_path": None if config_path is None else str(Path(config_path).resolve()),
        "key_store_path": None if key_store_path is None else str(Path(key_store_path).resolve()),
        "allow_failed_audit": allow_failed_audit, "workers": workers})
    uvicorn.run("tunekit.serve.server:app_from_environment", factory=True, host=host, port=port, workers=workers,
                access_log=False,  # per-request log lines cost ~10% throughput; /metrics counts requests instead
                # C event loop and HTTP parser (pinned dependencies), in every worker: 14% fewer server instructions
                # per request than asyncio + h11 (docs/serving.md); named, not "auto", so a missing one fails loudly
                loop="uvloop", http="httptools",
                log_level="info", timeout_graceful_shutdown=10)


def app_from_environment() -> FastAPI:
    """The app factory uvicorn calls in each worker, from the arguments `run_server` left in the environment."""
    from tunekit.serve.app import create_app

    args = json.loads(os.environ[SERVE_ENV])
    config = load_serve_config(args["config_path"])
    if config.batching.torch_threads is None:
        # All cores, shared by the workers: on 2 cores, 2 threads served 399 requests/s at 32 clients, 1 thread 298.
        config.batching.torch_threads = max(1, (os.cpu_count() or 1) // args["workers"])
    key_store = KeyStore(args["key_store_path"]) if config.require_api_key else None
    return create_app(args["run_dir"], config, key_store=key_store, allow_failed_audit=args["allow_failed_audit"])
