"""Access control and limits over HTTP: 401 without a valid key, 403 for a wrong scope, 429, 413 and 422."""

from __future__ import annotations

import pytest

from conftest import bearer
from tunekit.serve.settings import serve_config_from_dict

# Every route that needs a key, with a request that is otherwise valid, and the scopes that may not call it.
GUARDED = [
    ("POST", "/v1/predict", {"texts": ["great film"]}, ["explain"]),
    ("POST", "/v1/explain", {"texts": ["great film"]}, ["predict"]),
    ("GET", "/v1/model", None, ["predict", "explain"]),
    ("GET", "/v1/alerts", None, ["predict", "explain"]),
    ("GET", "/metrics", None, ["predict", "explain"]),
]


def _call(client, method, path, body, headers=None):
    return client.request(method, path, json=body, headers=headers or {})


@pytest.mark.parametrize(("method", "path", "body", "wrong_scopes"), GUARDED)
def test_every_guarded_route_needs_a_key_of_its_scope(client, keys, key_store, method, path, body, wrong_scopes):
    missing = _call(client, method, path, body)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
    assert _call(client, method, path, body, {"Authorization": "Basic dXNlcjpwdw=="}).status_code == 401
    assert _call(client, method, path, body, bearer("tk_deadbeef_not-a-key")).status_code == 401
    assert _call(client, method, path, body, bearer(keys["admin"] + "x")).status_code == 401
    for scope in wrong_scopes:
        wrong = _call(client, method, path, body, bearer(keys[scope]))
        assert wrong.status_code == 403, (scope, wrong.text)
        assert f"scope `{scope}`" in wrong.json()["detail"]
    right_scope = path.split("/")[-1] if path.split("/")[-1] in ("predict", "explain") else "admin"
    assert _call(client, method, path, body, bearer(keys[right_scope])).status_code == 200
    assert _call(client, method, path, body, bearer(keys["admin"])).status_code == 200


def test_a_revoked_key_is_refused_from_the_next_request(client, key_store):
    key = key_store.create("soon-revoked", "predict")
    assert client.post("/v1/predict", json={"texts": ["fine"]}, headers=bearer(key)).status_code == 200
    key_store.revoke("soon-revoked")
    response = client.post("/v1/predict", json={"texts": ["fine"]}, headers=bearer(key))
    assert response.status_code == 401 and "revoked" in response.json()["detail"]


def test_a_key_revoked_with_the_cli_is_refused_from_the_next_request(client, key_store):
    from typer.testing import CliRunner

    from tunekit import cli

    key = key_store.create("revoked-elsewhere", "predict")
    for _ in range(2):  # the second request is answered from the store's memory of verified keys
        assert client.post("/v1/predict", json={"texts": ["fine"]}, headers=bearer(key)).status_code == 200
    revoked = CliRunner().invoke(cli.app, ["keys", "revoke", "revoked-elsewhere", "--store", str(key_store.path)])
    assert revoked.exit_code == 0, revoked.output  # its own KeyStore: a connection the server's cache knows nothing of
    response = client.post("/v1/predict", json={"texts": ["fine"]}, headers=bearer(key))
    assert response.status_code == 401 and "revoked" in response.json()["detail"]


def test_the_rate_limit_answers_429_with_retry_after(client, key_store, keys):
    limited = key_store.create("limited", "predict", rate_limit_per_minute=3)
    codes = [client.post("/v1/predict", json={"texts": ["fine"]}, headers=bearer(limited)).status_code
             for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    response = client.post("/v1/predict", json={"texts": ["fine"]}, headers=bearer(limited))
    assert response.status_code == 429 and 1 <= int(response.headers["Retry-After"]) <= 60
    unlimited = [client.post("/v1/predict", json={"texts": ["fine"]}, headers=bearer(keys["predict"])).status_code
                 for _ in range(5)]
    assert unlimited == [200] * 5  # one key's limit leaves the others alone


@pytest.fixture
def small_limits_client(make_client, served_run):
    config = serve_config_from_dict({"limits": {"max_body_bytes": 2000, "max_batch_texts": 3, "max_text_chars": 50,
                                                "max_explain_texts": 1}})
    return make_client(served_run, config)


def test_a_body_over_the_limit_is_413(small_limits_client, keys):
    response = small_limits_client.post("/v1/predict", json={"texts": ["a" * 2500]}, headers=bearer(keys["admin"]))
    assert response.status_code == 413 and "limits.max_body_bytes" in response.json()["detail"]


def test_a_streamed_body_over_the_limit_is_413(small_limits_client, keys):
    def chunks():
        yield b'{"texts": ["' + b"a" * 1500
        yield b"a" * 1500 + b'"]}'

    response = small_limits_client.post("/v1/predict", content=chunks(),
                                        headers={**bearer(keys["admin"]), "Content-Type": "application/json"})
    assert response.status_code == 413


def test_too_many_texts_is_413_and_a_long_text_422(small_limits_client, keys):
    headers = bearer(keys["admin"])
    many = small_limits_client.post("/v1/predict", json={"texts": ["fine"] * 4}, headers=headers)
    assert many.status_code == 413 and "limit is 3" in many.json()["detail"]
    long = small_limits_client.post("/v1/predict", json={"texts": ["fine", "a" * 51]}, headers=headers)
    assert long.status_code == 422 and "texts[1] has 51 characters; the limit is 50" in long.json()["detail"]
    assert small_limits_client.post("/v1/predict", json={"texts": ["fine"] * 3}, headers=headers).status_code == 200
    explain = small_limits_client.post("/v1/explain", json={"texts": ["fine"] * 2}, headers=headers)
    assert explain.status_code == 413


@pytest.mark.parametrize("body", [{"texts": []}, {"texts": ["  "]}, {"texts": "one text"}, {"text": ["x"]},
                                  {"texts": ["ok"], "extra": 1}, {"texts": [3]}])
def test_malformed_requests_are_422_without_echoing_the_input(client, keys, body):
    response = client.post("/v1/predict", json=body, headers=bearer(keys["predict"]))
    assert response.status_code == 422
    assert all(set(error) == {"loc", "msg", "type"} for error in response.json()["detail"])


def test_invalid_json_is_422(client, keys):
    response = client.post("/v1/predict", content=b"{not json", headers={**bearer(keys["predict"]),
                                                                         "Content-Type": "application/json"})
    assert response.status_code == 422


def test_keys_can_be_switched_off_for_a_trusted_gateway(make_client, served_run):
    client = make_client(served_run, serve_config_from_dict({"require_api_key": False}))
    assert client.post("/v1/predict", json={"texts": ["fine"]}).status_code == 200
