"""The OpenAPI document pins the HTTP contract: any change to it must be deliberate.

After an intended change, refresh the snapshot with ``TUNEKIT_UPDATE_SNAPSHOTS=1 pytest tests/serve/test_openapi.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

SNAPSHOT = Path(__file__).with_name("openapi_snapshot.json")


def test_openapi_matches_the_snapshot(client):
    spec = client.get("/openapi.json").json()
    if os.environ.get("TUNEKIT_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    assert spec == json.loads(SNAPSHOT.read_text(encoding="utf-8"))


def test_the_documented_routes_and_their_auth():
    spec = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    routes = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    assert routes == {("POST", "/v1/predict"), ("POST", "/v1/explain"), ("GET", "/v1/model"), ("GET", "/healthz"),
                      ("GET", "/readyz"), ("GET", "/v1/alerts"), ("GET", "/metrics")}
    for path, item in spec["paths"].items():
        for operation in item.values():
            guarded = path not in ("/healthz", "/readyz")
            assert bool(operation.get("security")) == guarded, path
            assert ("401" in operation["responses"]) == guarded, path
    predict = spec["components"]["schemas"]["PredictResponse"]
    assert predict["required"] == ["predictions"]
