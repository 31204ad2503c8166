"""Rolling monitoring of served predictions: drift gauges and alert rules, with an optional webhook.

`Monitor.observe` runs after every batch on the event loop; it only appends to bounded deques and recomputes a
handful of numbers, so it costs microseconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from tunekit.serve.drift import Reference
from tunekit.serve.settings import AlertRule, MonitoringConfig

log = logging.getLogger(__name__)


@dataclass
class AlertState:
    """An alert rule with its current value (None until its window is full) and whether it fires."""

    name: str
    kind: str
    label: str | None
    window: int
    above: float
    value: float | None = None
    observed: int = 0
    firing: bool = False
    since: float | None = None  # Unix time the alert started firing


class Monitor:
    """Keeps the last predicted labels and input lengths; computes drift and evaluates alert rules."""

    def __init__(self, config: MonitoringConfig, reference: Reference,
                 notify: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.config = config
        self.reference = reference
        self.rules = list(config.alerts)
        capacity = max([config.drift_window, *(rule.window for rule in self.rules)])
        self._labels: deque[tuple[str, ...]] = deque(maxlen=capacity)
        self._lengths: deque[int] = deque(maxlen=capacity)
        self.states = {rule.name: AlertState(rule.name, rule.kind, rule.label, rule.window, rule.above)
                       for rule in self.rules}
        self._notify = notify
        self.label_psi: float | None = None
        self.length_psi: float | None = None

    def observe(self, texts: list[str], results: list[dict[str, Any]]) -> list[AlertState]:
        """Record a batch; returns the alerts whose firing state changed."""
        for text, result in zip(texts, results, strict=True):
            self._lengths.append(len(text))
            if "label" in result:
                label = result["label"]
                self._labels.append(tuple(map(str, label)) if isinstance(label, list) else (str(label),))
        self.label_psi = self.reference.label_psi(self._recent_single_labels(self.config.drift_window))
        self.length_psi = self.reference.length_psi(self._recent(self._lengths, self.config.drift_window))
        changed = [self.states[rule.name] for rule in self.rules if self._evaluate(rule)]
        for state in changed:
            log.warning("alert %s %s (value %.4f, threshold %s)", state.name,
                        "firing" if state.firing else "resolved", state.value or 0.0, state.above)
            if self._notify is not None:
                self._notify({"alert": asdict(state), "status": "firing" if state.firing else "resolved"})
        return changed

    def _evaluate(self, rule: AlertRule) -> bool:
        """Update the rule's state; True if it started or stopped firing."""
        state = self.states[rule.name]
        source = self._lengths if rule.kind == "length_psi" else self._labels
        state.observed = min(len(source), rule.window)
        if state.observed < rule.window:
            return False
        if rule.kind == "label_share":
            recent = self._recent(self._labels, rule.window)
            state.value = sum(rule.label in labels for labels in recent) / len(recent)
        elif rule.kind == "label_psi":
            state.value = self.reference.label_psi(self._recent_single_labels(rule.window))
        else:
            state.value = self.reference.length_psi(self._recent(self._lengths, rule.window))
        firing = state.value is not None and state.value > rule.above
        if firing == state.firing:
            return False
        state.firing, state.since = firing, (time.time() if firing else None)
        return True

    def _recent_single_labels(self, window: int) -> list[str]:
        return [labels[0] for labels in self._recent(self._labels, window) if len(labels) == 1]

    @staticmethod
    def _recent(values: deque, window: int) -> list:
        return list(values)[-window:]


class WebhookNotifier:
    """POSTs alert transitions as JSON to a URL from a background thread; a failure is logged, never raised."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._pending: set[asyncio.Task] = set()

    def __call__(self, payload: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(asyncio.to_thread(self._post, payload))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _post(self, payload: dict[str, Any]) -> None:
        request = urllib.request.Request(self.url, data=json.dumps(payload).encode("utf-8"), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310 (configured URL)
                response.read()
        except Exception as exc:  # a monitoring endpoint being down must not affect serving
            log.warning("alert webhook %s failed: %s", self.url, exc)

    async def drain(self) -> None:
        """Wait for the POSTs in flight (at shutdown)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
