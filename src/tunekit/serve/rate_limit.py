"""Per-key request limits: a sliding one-minute window, kept in this process's memory."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW_S = 60.0


class RateLimiter:
    """Allows at most N requests per key in any 60-second window.

    With several worker processes each keeps its own window, so a key may get up to N per process per minute.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._history: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key_id: str, limit_per_minute: int | None) -> float | None:
        """Record one request; None if allowed, else the seconds until the oldest one leaves the window."""
        if limit_per_minute is None:
            return None
        now = self._clock()
        with self._lock:
            history = self._history.setdefault(key_id, deque())
            while history and history[0] <= now - WINDOW_S:
                history.popleft()
            if len(history) >= limit_per_minute:
                return max(history[0] + WINDOW_S - now, 0.0)
            history.append(now)
            return None


def retry_after_header(wait_s: float) -> str:
    """`Retry-After` in whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(wait_s)))
