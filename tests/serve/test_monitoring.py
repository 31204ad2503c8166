"""Alert rules over rolling windows: fire on a planted shift, stay quiet on clean traffic, notify transitions."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np

from tunekit.serve.drift import Reference, length_reference
from tunekit.serve.monitoring import Monitor, WebhookNotifier
from tunekit.serve.settings import serve_config_from_dict

REFERENCE = Reference({"negative": 0.5, "positive": 0.5}, *length_reference(np.arange(10, 60)))


def _monitor(rules, notify=None, drift_window=20):
    config = serve_config_from_dict({"monitoring": {"alerts": rules, "drift_window": drift_window}}).monitoring
    return Monitor(config, REFERENCE, notify=notify)


def _feed(monitor, labels, text="a text of thirty characters ok"):
    return monitor.observe([text] * len(labels), [{"label": label} for label in labels])


def test_label_share_fires_on_a_planted_negative_wave_and_resolves():
    events = []
    monitor = _monitor([{"name": "neg", "kind": "label_share", "label": "negative", "window": 10, "above": 0.6}],
                       notify=events.append)
    _feed(monitor, ["negative", "positive"] * 5)
    assert monitor.states["neg"].value == 0.5 and not monitor.states["neg"].firing
    changed = _feed(monitor, ["negative"] * 8)
    assert [s.name for s in changed] == ["neg"] and monitor.states["neg"].firing
    assert monitor.states["neg"].value == 0.9
    _feed(monitor, ["positive"] * 10)
    assert not monitor.states["neg"].firing
    assert [e["status"] for e in events] == ["firing", "resolved"] and events[0]["alert"]["name"] == "neg"


def test_nothing_fires_before_the_window_is_full():
    monitor = _monitor([{"name": "neg", "kind": "label_share", "label": "negative", "window": 10, "above": 0.1}])
    _feed(monitor, ["negative"] * 9)
    assert monitor.states["neg"].value is None and monitor.states["neg"].observed == 9
    assert not monitor.states["neg"].firing


def test_label_and_length_psi_rules():
    monitor = _monitor([{"name": "labels", "kind": "label_psi", "window": 50, "above": 0.2},
                        {"name": "lengths", "kind": "length_psi", "window": 50, "above": 0.2}], drift_window=50)
    texts = ["x" * n for n in range(10, 60)]  # the reference's lengths, once each
    monitor.observe(texts, [{"label": label} for label in ["negative", "positive"] * 25])
    assert not monitor.states["labels"].firing and not monitor.states["lengths"].firing
    assert monitor.label_psi < 0.01 and monitor.length_psi < 0.01
    _feed(monitor, ["positive"] * 50, text="x" * 500)
    assert monitor.states["labels"].firing and monitor.states["lengths"].firing
    assert monitor.length_psi > 1.0


def test_numeric_labels_in_rules_match_numeric_predictions():
    monitor = _monitor([{"name": "zero", "kind": "label_share", "label": 0, "window": 2, "above": 0.5}])
    monitor.observe(["a", "b"], [{"label": 0}, {"label": 0}])
    assert monitor.states["zero"].firing


def test_the_webhook_receives_the_alert_as_json():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    async def scenario():
        notifier = WebhookNotifier(f"http://127.0.0.1:{server.server_port}/hook", timeout_s=5)
        notifier({"alert": {"name": "neg"}, "status": "firing"})
        WebhookNotifier("http://127.0.0.1:9/unreachable", timeout_s=0.5)({"status": "firing"})  # logged only
        await notifier.drain()

    asyncio.run(scenario())
    server.shutdown()
    assert received == [{"alert": {"name": "neg"}, "status": "firing"}]
