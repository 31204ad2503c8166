"""`create_app(run_dir)`: the FastAPI application serving one run directory.

The model is loaded in the lifespan (so importing this module or building the app is cheap), every route but
/healthz and /readyz requires an API key, and no response ever carries a stack trace or a server path.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from tunekit.errors import TunekitError
from tunekit.serve.batcher import MicroBatcher
from tunekit.serve.body_limit import BodyLimitMiddleware
from tunekit.serve.dependencies import Guard, ServeState
from tunekit.serve.drift import reference_from_run
from tunekit.serve.keys import KeyStore
from tunekit.serve.metrics import MetricsMiddleware, ServeMetrics
from tunekit.serve.model_service import ModelService
from tunekit.serve.monitoring import Monitor, WebhookNotifier
from tunekit.serve.rate_limit import RateLimiter
from tunekit.serve.routes import explanations, health, model, monitoring, predictions
from tunekit.serve.settings import ServeConfig

log = logging.getLogger(__name__)


def create_app(run_dir: str | Path, config: ServeConfig | None = None, *, key_store: KeyStore | None = None,
               allow_failed_audit: bool = False) -> FastAPI:
    """Build the app for ``run_dir``; the model loads when the app starts (``with TestClient(app)``, uvicorn).

    Args:
        run_dir: a finished run directory.
        config: limits, batching and monitoring; defaults when None.
        key_store: where API keys are verified; None opens the default store. Unused when keys are not required.
        allow_failed_audit: serve a run whose audit failed.
    """
    config = config or ServeConfig()
    run_dir = Path(run_dir)
    if not config.require_api_key:
        key_store = None
    elif key_store is None:
        key_store = KeyStore()
    metrics = ServeMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if config.batching.torch_threads is not None:  # else the process's setting (`tunekit serve` sets one)
            import torch

            torch.set_num_threads(config.batching.torch_threads)
        service = await asyncio.to_thread(ModelService.load, run_dir, allow_failed_audit=allow_failed_audit,
                                          model_batch_size=config.batching.model_batch_size,
                                          compressed=config.compressed)
        monitoring_config = config.monitoring
        notifier = (WebhookNotifier(monitoring_config.webhook_url, monitoring_config.webhook_timeout_s)
                    if monitoring_config.webhook_url else None)
        monitor = Monitor(monitoring_config, reference_from_run(run_dir), notify=notifier)

        def observe(texts: list[str], results: list[dict], model_seconds: float) -> None:
            metrics.observe_batch(texts, results, model_seconds)
            monitor.observe(texts, results)
            metrics.observe_monitor(monitor)

        batcher = MicroBatcher(service.predict, max_batch_size=config.batching.max_batch_size,
                               max_wait_ms=config.batching.max_wait_ms, observers=[observe])
        gc.freeze()  # the model's objects are permanent: keep them out of every later garbage collection pass
        await batcher.start()
        app.state.serve = ServeState(config, service, batcher, monitor, metrics)
        log.info("serving %s (%s, audit: %s)", run_dir, service.task, service.audit.status)
        try:
            yield
        finally:
            await batcher.stop()
            if notifier is not None:
                await notifier.drain()
            app.state.serve = None

    app = FastAPI(title="tunekit model service", version="1", lifespan=lifespan,
                  description="Predictions, explanations and monitoring for one tunekit run directory. "
                              "Send `Authorization: Bearer <key>` (keys: `tunekit keys create`).")
    app.state.guard = Guard(key_store, RateLimiter())
    app.state.serve = None
    for router in (predictions.router, explanations.router, model.router, monitoring.router, health.router):
        app.include_router(router)
    _add_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=config.limits.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Only where and what: never echo the (possibly huge or sensitive) input back.
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "invalid"), "type": e.get("type", "")}
                  for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(TunekitError)
    async def tunekit_error(request: Request, exc: TunekitError) -> JSONResponse:
        return JSONResponse({"detail": exc.problem}, status_code=422)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s", request.url.path)
        return JSONResponse({"detail": "internal server error"}, status_code=500)
