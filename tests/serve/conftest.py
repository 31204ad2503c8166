"""Serve fixtures: one tiny finished run (trained once per session), a key store with a key per scope, clients."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tunekit.serve.app import create_app
from tunekit.serve.keys import KeyStore
from tunekit.serve.settings import ServeConfig


@pytest.fixture(scope="session")
def served_run(tiny_classifier_run) -> Path:
    """A finished classification run on the tiny BERT (labels negative/positive); read-only for tests."""
    return tiny_classifier_run


@pytest.fixture
def run_copy(served_run, tmp_path) -> Path:
    """A writable copy of the run, for tests that add an audit or a model card."""
    return Path(shutil.copytree(served_run, tmp_path / "run"))


@pytest.fixture(scope="module")
def key_store(tmp_path_factory) -> Iterator[KeyStore]:
    store = KeyStore(tmp_path_factory.mktemp("keys") / "keys.sqlite")
    yield store
    store.close()


@pytest.fixture(scope="module")
def keys(key_store) -> dict[str, str]:
    """One key per scope, no rate limit: ``keys["predict"]`` etc."""
    return {scope: key_store.create(f"test-{scope}", scope) for scope in ("predict", "explain", "admin")}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def client(served_run, key_store) -> Iterator[TestClient]:
    """The app with default settings over the tiny run, started once per module."""
    with TestClient(create_app(served_run, key_store=key_store)) as test_client:
        yield test_client


@pytest.fixture
def make_client(key_store) -> Iterator[Callable[..., TestClient]]:
    """Factory for a started client with a custom config or run: ``make_client(run_dir, config)``."""
    opened: list[TestClient] = []

    def make(run_dir: Path, config: ServeConfig | None = None, **kwargs) -> TestClient:
        test_client = TestClient(create_app(run_dir, config, key_store=key_store, **kwargs))
        opened.append(test_client.__enter__())
        return test_client

    yield make
    for test_client in opened:
        test_client.__exit__(None, None, None)
