"""Dynamic micro-batching: texts from concurrent requests share one model call, run off the event loop.

The first text to arrive while the model is idle waits at most ``max_wait_ms`` for company; while the model is
busy, arrivals queue and form the next batch, up to ``max_batch_size`` texts. All model work runs in one
dedicated thread, so the event loop keeps accepting requests and torch never runs two batches at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
BatchObserver = Callable[[list[str], list[Any], float], None]  # (texts, results, model_seconds)


@dataclass
class _Pending:
    texts: list[str]
    future: asyncio.Future


class MicroBatcher:
    """Gathers `predict` calls into batches for ``predict_fn(texts) -> results`` (one result per text)."""

    def __init__(self, predict_fn: Callable[[list[str]], list[Any]], *, max_batch_size: int, max_wait_ms: float,
                 observers: list[BatchObserver] | None = None) -> None:
        self._predict_fn = predict_fn
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000.0
        self._observers = observers or []
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tunekit-inference")
        self._queue: asyncio.Queue[_Pending] | None = None
        self._carry: _Pending | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._serve_forever(), name="tunekit-micro-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._executor.shutdown(wait=True)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def predict(self, texts: list[str]) -> list[Any]:
        """Results for ``texts`` in input order, computed in a batch shared with concurrent callers."""
        if not self.running:
            raise RuntimeError("the micro-batcher is not running")
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(texts, future))
        return await future

    async def run_exclusive(self, fn: Callable[..., T], *args: Any) -> T:
        """Run other model work (explanations) on the inference thread, between batches."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _serve_forever(self) -> None:
        while True:
            batch = await self._gather()
            await self._run(batch)

    async def _gather(self) -> list[_Pending]:
        first, self._carry = self._carry or await self._queue.get(), None
        batch, size = [first], len(first.texts)
        deadline = time.monotonic() + self.max_wait_s
        while size < self.max_batch_size:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            if size + len(item.texts) > self.max_batch_size:
                self._carry = item  # first in the next batch, so no request is split or starved
                break
            batch.append(item)
            size += len(item.texts)
        return batch

    async def _run(self, batch: list[_Pending]) -> None:
        batch = [item for item in batch if not item.future.done()]  # callers that gave up (disconnected)
        if not batch:
            return
        texts = [text for item in batch for text in item.texts]
        try:
            results, model_seconds = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._timed_predict, texts)
        except Exception as exc:  # each waiting request gets the failure; the batcher keeps serving
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        start = 0
        for item in batch:
            if not item.future.done():
                item.future.set_result(results[start:start + len(item.texts)])
            start += len(item.texts)
        for observe in self._observers:
            observe(texts, results, model_seconds)

    def _timed_predict(self, texts: list[str]) -> tuple[list[Any], float]:
        start = time.perf_counter()
        results = self._predict_fn(texts)
        return results, time.perf_counter() - start
