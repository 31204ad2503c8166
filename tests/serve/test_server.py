"""`tunekit serve` and `tunekit keys`: the checks before uvicorn starts, the worker factory, the key commands."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tiny_fixtures import retrain_in_place
from tunekit import cli
from tunekit.errors import RunDirError, TunekitError
from tunekit.serve import server
from tunekit.serve.keys import KeyStore


def _invoke(*args):
    return CliRunner().invoke(cli.app, [str(a) for a in args], env={"COLUMNS": "250"})


@pytest.fixture
def no_uvicorn(monkeypatch):
    """Record what would be passed to uvicorn instead of serving."""
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append((args, kwargs)))
    environ = {k: v for k, v in os.environ.items() if k not in (server.SERVE_ENV, "OMP_WAIT_POLICY")}
    monkeypatch.setattr(os, "environ", environ)  # run_server writes the environment: keep that inside the test
    return calls


def test_serve_starts_uvicorn_on_loopback_with_the_factory(no_uvicorn, served_run, tmp_path, monkeypatch):
    store = tmp_path / "keys.sqlite"
    server.run_server(served_run, workers=2, key_store_path=store)
    (target,), options = no_uvicorn[0]
    assert target == "tunekit.serve.server:app_from_environment" and options["factory"] is True
    assert options["host"] == "127.0.0.1" and options["workers"] == 2 and options["access_log"] is False
    assert (options["loop"], options["http"]) == ("uvloop", "httptools")  # passed on to every worker
    args = json.loads(server.os.environ[server.SERVE_ENV])
    assert args["run_dir"] == str(served_run.resolve()) and args["workers"] == 2
    assert server.os.environ["OMP_WAIT_POLICY"] == "PASSIVE"  # inherited by the workers before torch loads


def test_uvicorn_can_load_the_event_loop_and_parser_it_is_given(no_uvicorn, served_run, tmp_path):
    import uvicorn
    import uvloop

    server.run_server(served_run, key_store_path=tmp_path / "keys.sqlite")
    _, options = no_uvicorn[0]
    config = uvicorn.Config(server.app_from_environment, factory=True, loop=options["loop"], http=options["http"],
                            log_config=None)
    config.load()
    assert config.http_protocol_class.__name__ == "HttpToolsProtocol"
    loop = config.get_loop_factory()()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_the_worker_factory_builds_a_working_app(no_uvicorn, served_run, tmp_path):
    import torch

    store = tmp_path / "keys.sqlite"
    key = KeyStore(store).create("w", "predict")
    server.run_server(served_run, key_store_path=store)
    threads = torch.get_num_threads()
    try:
        with TestClient(server.app_from_environment()) as client:
            response = client.post("/v1/predict", json={"texts": ["great film"]},
                                   headers={"Authorization": f"Bearer {key}"})
            assert client.app.state.serve.config.batching.torch_threads == os.cpu_count()  # one worker: all cores
    finally:
        torch.set_num_threads(threads)  # the app set the process-wide default for new threads
    assert response.status_code == 200


def test_serve_refuses_a_compressed_config_for_a_run_without_one(no_uvicorn, served_run, tmp_path):
    config = tmp_path / "serve.yaml"
    config.write_text("compressed: true\n")
    with pytest.raises(RunDirError, match="asks for the compressed model") as error:
        server.run_server(served_run, config_path=config, key_store_path=tmp_path / "keys.sqlite")
    assert f"tunekit compress {served_run.resolve()}" in error.value.fix
    assert no_uvicorn == []  # refused before uvicorn started


def test_serve_refuses_a_compressed_config_for_a_tagger(no_uvicorn, tiny_tagger_run, tmp_path):
    config = tmp_path / "serve.yaml"
    config.write_text("compressed: true\n")
    with pytest.raises(RunDirError, match="is a tagger, and only classifiers are compressed") as error:
        server.run_server(tiny_tagger_run, config_path=config, key_store_path=tmp_path / "keys.sqlite")
    assert "compressed: false" in error.value.fix
    assert no_uvicorn == []


def test_serve_refuses_a_stale_compressed_model_before_starting(no_uvicorn, tiny_compressed_run, tmp_path):
    run_dir = Path(shutil.copytree(tiny_compressed_run, tmp_path / "run"))
    retrain_in_place(run_dir)
    config = tmp_path / "serve.yaml"
    config.write_text("compressed: true\n")
    with pytest.raises(RunDirError, match="was made from other weights"):
        server.run_server(run_dir, config_path=config, key_store_path=tmp_path / "keys.sqlite")
    assert no_uvicorn == []


def test_a_compressed_config_reaches_the_workers(no_uvicorn, tiny_compressed_run, tmp_path):
    import torch

    from tunekit.compress.onnx_classifier import OnnxClassifier

    config = tmp_path / "serve.yaml"
    config.write_text("compressed: true\nrequire_api_key: false\n")
    server.run_server(tiny_compressed_run, config_path=config)
    assert len(no_uvicorn) == 1
    threads = torch.get_num_threads()
    try:
        with TestClient(server.app_from_environment()) as client:
            assert isinstance(client.app.state.serve.service.model.compressed, OnnxClassifier)
            response = client.post("/v1/predict", json={"texts": ["a wonderful film"]})
    finally:
        torch.set_num_threads(threads)  # the app set the process-wide default for new threads
    assert response.status_code == 200 and response.json()["predictions"][0]["label"] == "positive"


def test_serve_refuses_a_failed_audit_before_starting(no_uvicorn, run_copy, tmp_path):
    (run_copy / "audit").mkdir()
    (run_copy / "audit" / "audit.json").write_text(json.dumps({"gate": {"passed": False}}))
    with pytest.raises(TunekitError, match="--allow-failed-audit"):
        server.run_server(run_copy, key_store_path=tmp_path / "k.sqlite")
    assert no_uvicorn == []
    server.run_server(run_copy, key_store_path=tmp_path / "k.sqlite", allow_failed_audit=True)
    assert len(no_uvicorn) == 1


def test_serve_refuses_an_unfinished_run_and_bad_options(no_uvicorn, tmp_path):
    with pytest.raises(RunDirError):
        server.run_server(tmp_path / "missing")
    with pytest.raises(TunekitError, match="--workers"):
        server.run_server(tmp_path, workers=0)


def test_cli_serve_reports_a_failed_audit_as_a_plain_error(no_uvicorn, run_copy, tmp_path):
    (run_copy / "audit").mkdir()
    (run_copy / "audit" / "audit.json").write_text(json.dumps({"gate": {"passed": False}}))
    result = _invoke("serve", run_copy, "--store", tmp_path / "k.sqlite")
    assert result.exit_code == 2 and "--allow-failed-audit" in result.output and "Traceback" not in result.output


def test_cli_keys_create_list_revoke(tmp_path):
    store = tmp_path / "keys.sqlite"
    created = _invoke("keys", "create", "--name", "billing", "--scope", "explain", "--rate-limit", "30",
                      "--store", store)
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[0]
    assert KeyStore(store).verify(key).scope == "explain"
    listed = _invoke("keys", "list", "--store", store)
    assert "billing" in listed.output and "explain" in listed.output and key not in listed.output
    assert _invoke("keys", "revoke", "billing", "--store", store).exit_code == 0
    assert KeyStore(store).verify(key) is None
    assert _invoke("keys", "revoke", "billing", "--store", store).exit_code == 2
    bad = _invoke("keys", "create", "--name", "x", "--scope", "root", "--store", store)
    assert bad.exit_code == 2 and "unknown scope" in bad.output
