"""Shared fixtures: a tiny BERT built from a word list, and small learnable labeled data.

Everything here is offline and takes milliseconds to seconds. The plain helpers behind these fixtures live in
``tiny_fixtures.py``; test modules import them from there.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from tiny_fixtures import build_tiny_model_dir, make_sentiment_rows, tiny_run_config

torch.set_num_threads(1)  # tests run in parallel workers (pytest -n 2); one thread each avoids oversubscription


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide BERT with a word-level vocabulary, saved as a local model directory."""
    return build_tiny_model_dir(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture
def sentiment_csv(tmp_path) -> Path:
    path = tmp_path / "sentiment.csv"
    pd.DataFrame(make_sentiment_rows(200)).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def sentiment_file(tmp_path_factory) -> Path:
    """The same 200 rows as ``sentiment_csv``, written once per session for read-only use."""
    path = tmp_path_factory.mktemp("data") / "sentiment.csv"
    pd.DataFrame(make_sentiment_rows(200)).to_csv(path, index=False)
    return path


@pytest.fixture
def tiny_config(tiny_model_dir):
    """Factory: ``tiny_config(train={"epochs": 1}, data={"train": "x.csv"})``."""
    return lambda **sections: tiny_run_config(tiny_model_dir, **sections)
