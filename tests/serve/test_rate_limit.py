"""Sliding one-minute window per key."""

from __future__ import annotations

from tunekit.serve.rate_limit import RateLimiter, retry_after_header


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_window_slides():
    clock = Clock()
    limiter = RateLimiter(clock)
    assert [limiter.check("k", 2) for _ in range(2)] == [None, None]
    clock.now += 20
    assert limiter.check("k", 2) == 40.0  # the first request leaves the window 60 s after it was made
    clock.now += 40  # both t=0 requests leave; the rejected one was never counted
    assert [limiter.check("k", 2) for _ in range(2)] == [None, None]
    assert limiter.check("k", 2) == 60.0


def test_keys_are_limited_separately_and_none_means_unlimited():
    limiter = RateLimiter(Clock())
    assert limiter.check("a", 1) is None and limiter.check("a", 1) is not None
    assert limiter.check("b", 1) is None
    assert all(limiter.check("c", None) is None for _ in range(1000))


def test_retry_after_is_whole_seconds_at_least_one():
    assert retry_after_header(0.0) == "1" and retry_after_header(1.2) == "2" and retry_after_header(59.0) == "59"
