"""Shared fixtures: a tiny BERT built from a word list, and small learnable labeled data.

Everything here is offline and takes milliseconds to seconds. The plain helpers behind these fixtures live in
``tiny_fixtures.py``; test modules import them from there.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from tiny_fixtures import (
    build_tiny_model_dir,
    make_entity_sentences,
    make_sentiment_rows,
    tiny_run_config,
    write_tagged_jsonl,
)

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


@pytest.fixture(scope="session")
def entity_file(tmp_path_factory) -> Path:
    """300 tagged sentences (JSONL ``tokens``/``tags``) from `make_entity_sentences`, for read-only use."""
    return write_tagged_jsonl(tmp_path_factory.mktemp("ner") / "entities.jsonl", *make_entity_sentences(300))


@pytest.fixture(scope="session")
def tiny_tagger_run(tmp_path_factory, tiny_model_dir, entity_file) -> Path:
    """A finished tagger run directory on the tiny BERT, trained once per session (read-only)."""
    from tunekit.recipes.train_tagger import train_tagger

    config = tiny_run_config(tiny_model_dir, task="token_classification", data={"train": str(entity_file)},
                             train={"epochs": 8})
    return train_tagger(config, tmp_path_factory.mktemp("tagger") / "run")


@pytest.fixture(scope="session")
def tiny_classifier_run(tmp_path_factory, tiny_model_dir, sentiment_file) -> Path:
    """A finished sentiment classifier run on the tiny BERT (labels negative/positive), trained once per session
    (read-only: copy it to change it)."""
    from tunekit.recipes.train_classifier import train_classifier

    config = tiny_run_config(tiny_model_dir, data={"train": str(sentiment_file)})
    return train_classifier(config, tmp_path_factory.mktemp("classifier") / "run")


@pytest.fixture(scope="session")
def tiny_compressed_run(tmp_path_factory, tiny_classifier_run) -> Path:
    """A copy of ``tiny_classifier_run`` with ``compressed/`` written by `compress_run` (default check set: its
    validation split); read-only."""
    from tunekit.recipes.compress_run import compress_run

    run_dir = Path(shutil.copytree(tiny_classifier_run, tmp_path_factory.mktemp("compressed") / "run"))
    compress_run(run_dir)
    return run_dir


@pytest.fixture(scope="session")
def tiny_fp32_onnx_run(tmp_path_factory, tiny_classifier_run) -> Path:
    """A copy of ``tiny_classifier_run`` compressed with ``precision="fp32"`` (``compressed/model.fp32.onnx``);
    read-only."""
    from tunekit.recipes.compress_run import compress_run

    run_dir = Path(shutil.copytree(tiny_classifier_run, tmp_path_factory.mktemp("fp32-onnx") / "run"))
    compress_run(run_dir, precision="fp32")
    return run_dir
