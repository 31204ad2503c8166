"""Micro-batching: concurrent calls share batches, answers stay with their callers, failures reach every caller."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tunekit.serve.batcher import MicroBatcher


class SlowModel:
    """Records each batch; answers each text with its upper-cased self."""

    def __init__(self, delay_s: float = 0.02) -> None:
        self.batches: list[list[str]] = []
        self.threads: set[str] = set()
        self.delay_s = delay_s

    def __call__(self, texts: list[str]) -> list[str]:
        import time

        self.batches.append(list(texts))
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay_s)
        return [t.upper() for t in texts]


async def _with_batcher(model, coroutine_factory, **options):
    observed = []
    batcher = MicroBatcher(model, observers=[lambda t, r, s: observed.append((len(t), s))],
                           **{"max_batch_size": 8, "max_wait_ms": 5.0, **options})
    await batcher.start()
    try:
        return await coroutine_factory(batcher), observed
    finally:
        await batcher.stop()


def test_concurrent_requests_share_batches_and_keep_their_answers():
    model = SlowModel()
    requests = [[f"text{i}"] if i % 3 else [f"text{i}", f"more{i}"] for i in range(20)]
    answers, observed = asyncio.run(_with_batcher(
        model, lambda b: asyncio.gather(*(b.predict(r) for r in requests))))
    assert answers == [[t.upper() for t in r] for r in requests]
    assert len(model.batches) < len(requests)  # batching happened
    assert max(len(b) for b in model.batches) <= 8
    assert sorted(t for b in model.batches for t in b) == sorted(t for r in requests for t in r)
    assert all(batch_size >= 1 and seconds >= 0.02 for batch_size, seconds in observed)
    assert model.threads == {"tunekit-inference_0"}  # off the event loop, always the same thread


def test_a_lone_request_waits_at_most_max_wait():
    model = SlowModel(delay_s=0.0)

    async def one(batcher):
        loop = asyncio.get_running_loop()
        start = loop.time()
        await batcher.predict(["alone"])
        return loop.time() - start

    elapsed, _ = asyncio.run(_with_batcher(model, one, max_wait_ms=30.0))
    assert 0.025 <= elapsed < 0.5
    assert model.batches == [["alone"]]


def test_a_request_larger_than_the_batch_limit_runs_alone_and_whole():
    model = SlowModel()

    async def calls(batcher):
        return await asyncio.gather(batcher.predict(["a", "b"]), batcher.predict([str(i) for i in range(12)]))

    answers, _ = asyncio.run(_with_batcher(model, calls, max_batch_size=4))
    assert answers[1] == [str(i) for i in range(12)]
    assert [str(i) for i in range(12)] in model.batches  # never split across batches


def test_a_failing_batch_fails_its_callers_and_the_batcher_keeps_serving():
    calls = []

    def flaky(texts):
        calls.append(texts)
        if len(calls) == 1:
            raise ValueError("boom")
        return texts

    async def scenario(batcher):
        with pytest.raises(ValueError, match="boom"):
            await batcher.predict(["x"])
        return await batcher.predict(["y"])

    answer, _ = asyncio.run(_with_batcher(flaky, scenario))
    assert answer == ["y"]


def test_predict_before_start_is_an_error():
    batcher = MicroBatcher(SlowModel(), max_batch_size=2, max_wait_ms=1.0)
    with pytest.raises(RuntimeError, match="not running"):
        asyncio.run(batcher.predict(["x"]))
