"""Schemathesis generates requests from the OpenAPI document, valid and not; none may get a 5xx answer."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation.modes import GenerationMode

from conftest import bearer


def test_no_generated_request_gets_a_server_error(client, keys):
    schema = schemathesis.openapi.from_dict(client.get("/openapi.json").json())
    operations = [result.ok() for result in schema.get_all_operations()]
    seen_statuses = set()

    @settings(max_examples=150, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def fuzz(data):
        operation = data.draw(st.sampled_from(operations))
        mode = data.draw(st.sampled_from([GenerationMode.POSITIVE, GenerationMode.NEGATIVE]))
        case = data.draw(operation.as_strategy(mode))
        key = data.draw(st.sampled_from([keys["admin"], keys["predict"], keys["explain"], None]))
        request = case.as_transport_kwargs(headers=bearer(key) if key else {})
        response = client.request(request["method"], request["url"].replace("http://localhost", ""),
                                  headers=request.get("headers"), params=request.get("params"),
                                  content=_body(request))
        seen_statuses.add(response.status_code)
        assert response.status_code < 500, (request, response.text)
        assert "Traceback" not in response.text

    fuzz()
    assert 200 in seen_statuses and 401 in seen_statuses and 422 in seen_statuses  # the fuzzing reached each layer


def _body(request: dict) -> bytes | None:
    if "json" in request:
        import json

        return json.dumps(request["json"]).encode()
    return request.get("data")
