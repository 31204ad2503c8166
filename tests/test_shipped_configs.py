"""Every config in configs/ loads and validates, and names a known model and data that exists."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunekit.config import load_config
from tunekit.models.registry import ALIASES

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


def test_there_are_shipped_configs():
    assert len(CONFIGS) >= 1


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_validates(path):
    config = load_config(path)
    assert config.model.name in ALIASES, f"{path.name}: model `{config.model.name}` is not an alias"
    # data paths are relative to the repository root (where the README runs commands)
    for split in ("train", "validation", "test"):
        value = getattr(config.data, split)
        if value is None:
            continue
        data_path = REPO / value
        if not (REPO / "../shared/datasets").is_dir():
            continue  # the shared datasets are not on this machine
        assert data_path.exists(), f"{path.name}: data.{split}={value} does not exist"


def test_every_registered_method_is_a_valid_config_value():
    """The config's `method` choices and the method registry are one list, not two that can drift."""
    from typing import get_args

    from tunekit.config import RunConfig
    from tunekit.methods import METHODS

    assert set(get_args(RunConfig.__pydantic_fields__["method"].annotation)) == set(METHODS)
