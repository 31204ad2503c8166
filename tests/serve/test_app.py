"""Every route through TestClient: the predict contract, explain, model, health, metrics, alerts, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from conftest import bearer
from tiny_fixtures import retrain_in_place
from tunekit.atomic import read_json
from tunekit.compress.onnx_classifier import OnnxClassifier
from tunekit.errors import RunDirError, TunekitError
from tunekit.inference.predictor import Predictor
from tunekit.run.layout import RunLayout
from tunekit.serve.app import create_app
from tunekit.serve.schemas import PredictResponse
from tunekit.serve.settings import serve_config_from_dict

TEXTS = ["the film was wonderful", "a dull and boring plot", "really great acting", "terrible story"]


def assert_is_a_predict_response(body: dict) -> None:
    """/v1/predict writes its body without FastAPI's response validation: it must be exactly the documented model
    (no extra or null fields, the declared types)."""
    assert PredictResponse.model_validate(body).model_dump(exclude_none=True) == body


def test_predict_answers_labels_and_probabilities_in_input_order(client, keys, served_run):
    response = client.post("/v1/predict", json={"texts": TEXTS}, headers=bearer(keys["predict"]))
    assert response.status_code == 200
    assert_is_a_predict_response(response.json())
    predictions = response.json()["predictions"]
    expected = Predictor.from_run_dir(served_run).predict_proba(TEXTS)
    assert [p["label"] for p in predictions] == ["positive", "negative", "positive", "negative"]
    for row, prediction in zip(expected, predictions, strict=True):
        assert set(prediction) == {"label", "probabilities"}
        assert list(prediction["probabilities"]) == ["negative", "positive"]
        np.testing.assert_allclose(list(prediction["probabilities"].values()), row, atol=1e-5)


def test_concurrent_requests_are_batched_and_each_gets_its_own_answers(client, keys):
    import concurrent.futures

    texts = [f"{word} movie" for word in ("great", "awful", "lovely", "poor", "superb", "dreadful")] * 4

    def call(text):
        return client.post("/v1/predict", json={"texts": [text]}, headers=bearer(keys["admin"])).json()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(call, texts))
    single = client.post("/v1/predict", json={"texts": texts}, headers=bearer(keys["admin"])).json()["predictions"]
    assert [a["predictions"][0]["label"] for a in answers] == [p["label"] for p in single]


def test_explain_returns_tokens_and_attributions(client, keys, monkeypatch):
    calls = []

    def fake_explain(predictor, texts):
        calls.append(list(texts))
        return [{"tokens": t.split(), "attributions": [0.5] * len(t.split()), "label": "positive",
                 "method": "occlusion", "probability": 0.9} for t in texts]

    monkeypatch.setattr("tunekit.explain.explain_with_predictor", fake_explain)
    response = client.post("/v1/explain", json={"texts": ["great film"]}, headers=bearer(keys["explain"]))
    assert response.status_code == 200, response.text
    assert response.json()["explanations"] == [{"tokens": ["great", "film"], "attributions": [0.5, 0.5],
                                                "label": "positive", "method": "occlusion", "probability": 0.9}]
    assert calls == [["great film"]]


def test_explain_with_the_real_explainer(client, keys):
    response = client.post("/v1/explain", json={"texts": ["the film was wonderful"]}, headers=bearer(keys["admin"]))
    assert response.status_code == 200, response.text
    explanation = response.json()["explanations"][0]
    assert explanation["tokens"] == ["the", "film", "was", "wonderful"]
    assert len(explanation["attributions"]) == 4 and explanation["label"] == "positive"


def test_model_route_reports_labels_metrics_and_audit(client, keys, served_run):
    info = client.get("/v1/model", headers=bearer(keys["admin"])).json()
    assert info["labels"] == ["negative", "positive"] and info["task"] == "classification"
    assert info["audit"] == "not audited"
    assert info["model_card"] == (served_run / "MODEL_CARD.md").read_text()
    assert 0.0 <= info["metrics"]["validation"]["accuracy"] <= 1.0
    assert "/" not in info["run_dir_name"]


def test_health_and_readiness_need_no_key(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_readiness_is_503_before_the_model_is_loaded(served_run, key_store):
    not_started = TestClient(create_app(served_run, key_store=key_store))  # no `with`: lifespan never ran
    assert not_started.get("/readyz").status_code == 503
    response = not_started.post("/v1/predict", json={"texts": ["x"]}, headers=bearer(key_store.create("r", "admin")))
    assert response.status_code == 503


def test_metrics_count_requests_batches_and_labels(client, keys):
    client.post("/v1/predict", json={"texts": ["great film", "awful film"]}, headers=bearer(keys["predict"]))
    text = client.get("/metrics", headers=bearer(keys["admin"])).text
    assert 'tunekit_requests_total{method="POST",route="/v1/predict",status="200"}' in text
    assert 'tunekit_request_latency_seconds_bucket{le="0.1",route="/v1/predict",status="200"}' in text
    assert "tunekit_batch_size_texts_count" in text and "tunekit_model_seconds_count" in text
    assert 'tunekit_predicted_labels_total{label="positive"}' in text
    assert 'tunekit_predicted_labels_total{label="negative"}' in text
    assert "tunekit_label_drift_psi" in text and "tunekit_length_drift_psi" in text


def test_unknown_paths_are_counted_under_one_route_label(client, keys):
    assert client.get("/no/such/path").status_code == 404
    text = client.get("/metrics", headers=bearer(keys["admin"])).text
    assert 'route="unmatched"' in text and "/no/such/path" not in text


def test_alert_rule_fires_on_a_planted_negative_share(make_client, served_run, keys):
    config = serve_config_from_dict({"monitoring": {"alerts": [
        {"name": "too_negative", "kind": "label_share", "label": "negative", "window": 8, "above": 0.5}]}})
    client = make_client(served_run, config)
    headers = bearer(keys["admin"])
    client.post("/v1/predict", json={"texts": ["great film"] * 8}, headers=headers)
    assert client.get("/v1/alerts", headers=headers).json()["alerts"][0]["firing"] is False
    client.post("/v1/predict", json={"texts": ["awful film"] * 6}, headers=headers)
    alert = client.get("/v1/alerts", headers=headers).json()["alerts"][0]
    assert alert["firing"] is True and alert["value"] == pytest.approx(6 / 8) and alert["since"] is not None
    assert 'tunekit_alert_firing{alert="too_negative"} 1.0' in client.get("/metrics", headers=headers).text


def test_internal_errors_hide_the_trace_and_paths(served_run, key_store, keys):
    with TestClient(create_app(served_run, key_store=key_store), raise_server_exceptions=False) as client:
        client.app.state.serve.service.model.predict_proba = lambda texts: 1 / 0
        response = client.post("/v1/predict", json={"texts": ["fine"]}, headers=bearer(keys["admin"]))
    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error"}
    assert "Traceback" not in response.text and str(served_run) not in response.text


def test_a_tagger_run_answers_entities_with_offsets(make_client, tiny_tagger_run, keys):
    from tunekit.inference.tagger import TagPredictor

    texts = ["the bank sent money card to the film", "nothing here"]
    client = make_client(tiny_tagger_run)
    response = client.post("/v1/predict", json={"texts": texts}, headers=bearer(keys["admin"]))
    assert response.status_code == 200, response.text
    assert_is_a_predict_response(response.json())
    expected = TagPredictor.from_run_dir(tiny_tagger_run).extract(texts)
    predictions = response.json()["predictions"]
    assert [list(p) for p in predictions] == [["entities"], ["entities"]]
    assert [[(e["text"], e["label"], e["start"], e["end"]) for e in p["entities"]] for p in predictions] == \
        [[(e["text"], e["label"], e["start"], e["end"]) for e in found] for found in expected]
    assert predictions[0]["entities"] and all(texts[0][e["start"]:e["end"]] == e["text"]
                                              for e in predictions[0]["entities"])
    info = client.get("/v1/model", headers=bearer(keys["admin"])).json()
    assert info["task"] == "token_classification" and info["labels"] == ["LOC", "MISC", "ORG"]
    assert client.post("/v1/explain", json={"texts": ["bank"]}, headers=bearer(keys["admin"])).status_code == 422


def test_a_compressed_config_answers_with_the_int8_model(make_client, tiny_compressed_run, keys):
    client = make_client(tiny_compressed_run, serve_config_from_dict({"compressed": True}))
    assert isinstance(client.app.state.serve.service.model.compressed, OnnxClassifier)
    response = client.post("/v1/predict", json={"texts": TEXTS}, headers=bearer(keys["predict"]))
    assert response.status_code == 200, response.text
    assert_is_a_predict_response(response.json())
    predictions = response.json()["predictions"]
    assert [p["label"] for p in predictions] == ["positive", "negative", "positive", "negative"]

    int8 = Predictor.from_run_dir(tiny_compressed_run, compressed=True).predict_proba(TEXTS)
    run = Predictor.from_run_dir(tiny_compressed_run).predict_proba(TEXTS)
    assert np.abs(int8 - run).max() > 1e-5  # so matching below shows the served numbers are the int8 model's
    served = [list(p["probabilities"].values()) for p in predictions]
    np.testing.assert_allclose(served, int8, atol=1.5e-6)  # the response rounds to 6 decimals

    explained = client.post("/v1/explain", json={"texts": TEXTS[:1]}, headers=bearer(keys["explain"]))
    assert explained.status_code == 200, explained.text
    assert explained.json()["explanations"][0]["label"] == "positive"

    info = client.get("/v1/model", headers=bearer(keys["admin"])).json()
    assert info["compression"] == read_json(RunLayout(tiny_compressed_run).compression_report)


def test_a_compressed_run_is_served_uncompressed_by_default(make_client, tiny_compressed_run, keys):
    client = make_client(tiny_compressed_run)
    assert client.app.state.serve.service.model.compressed is None
    assert client.get("/v1/model", headers=bearer(keys["admin"])).json()["compression"] is None


def test_a_compressed_config_does_not_start_without_an_int8_model(served_run, tiny_tagger_run, key_store):
    config = serve_config_from_dict({"compressed": True})
    with pytest.raises(RunDirError, match="tunekit compress"), TestClient(create_app(served_run, config,
                                                                                     key_store=key_store)):
        pass
    with pytest.raises(RunDirError, match="(?s)is a tagger, and only classifiers are compressed.*compressed: false"), \
            TestClient(create_app(tiny_tagger_run, config, key_store=key_store)):
        pass


def test_a_compressed_config_does_not_start_on_a_stale_int8_model(tiny_compressed_run, tmp_path, key_store):
    """A run retrained after `tunekit compress`: the app refuses to start rather than answer from old weights."""
    run_dir = Path(shutil.copytree(tiny_compressed_run, tmp_path / "run"))
    retrain_in_place(run_dir)
    config = serve_config_from_dict({"compressed": True})
    with pytest.raises(RunDirError, match="was made from other weights"), TestClient(create_app(run_dir, config,
                                                                                              key_store=key_store)):
        pass


def _write_audit(run_dir, passed: bool) -> None:
    (run_dir / "audit").mkdir()
    (run_dir / "audit" / "audit.json").write_text(json.dumps({"gate": {"passed": passed, "failures": []}}))


def test_a_failed_audit_is_refused_unless_allowed(run_copy, key_store, make_client, keys):
    _write_audit(run_copy, passed=False)
    app = create_app(run_copy, key_store=key_store)
    with pytest.raises(TunekitError, match="--allow-failed-audit"), TestClient(app):
        pass
    client = make_client(run_copy, allow_failed_audit=True)
    assert client.get("/v1/model", headers=bearer(keys["admin"])).json()["audit"] == "failed"


def test_a_passed_audit_and_model_card_are_reported(run_copy, make_client, keys):
    _write_audit(run_copy, passed=True)
    (run_copy / "MODEL_CARD.md").write_text("# Model card\n")
    info = make_client(run_copy).get("/v1/model", headers=bearer(keys["admin"])).json()
    assert info["audit"] == "passed" and info["audit_gate"]["passed"] is True
    assert info["model_card"] == "# Model card\n"
