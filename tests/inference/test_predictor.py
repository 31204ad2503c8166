"""`Predictor` loaded from a finished tiny run: streaming, ordering, empty and bad input, the compressed model's
checks."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tiny_fixtures import make_sentiment_rows, retrain_in_place, tiny_run_config
from tunekit.errors import DataError, RunDirError, TunekitError
from tunekit.inference.predictor import Predictor
from tunekit.recipes.train_classifier import train_classifier


@pytest.fixture(scope="module")
def run_dir(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("predictor-run")
    data = root / "train.csv"
    pd.DataFrame(make_sentiment_rows(200)).to_csv(data, index=False)
    return train_classifier(tiny_run_config(tiny_model_dir, data={"train": str(data)}), root / "run")


@pytest.fixture(scope="module")
def predictor(run_dir):
    return Predictor.from_run_dir(run_dir)


@pytest.fixture(scope="module")
def texts():
    """30 texts of 3 to 12 words, so blocks of 7 and batches of 3 cut across different lengths."""
    rows = make_sentiment_rows(30, seed=5)
    rng = random.Random(5)
    texts = [r["text"] + " and the story was quite" * rng.randint(0, 1) for r in rows]
    return texts, [r["label"] for r in rows]


def test_loads_classes_and_config(predictor):
    assert predictor.classes == ["negative", "positive"]
    assert predictor.config.data.max_seq_len == 32
    assert predictor.bf16 is False
    assert not predictor.model.training


def test_predicts_the_learned_labels(predictor, texts):
    inputs, labels = texts
    predicted = predictor.predict(inputs)
    assert all(p in predictor.classes for p in predicted)
    assert np.mean([p == y for p, y in zip(predicted, labels, strict=True)]) > 0.9


def test_predict_proba_rows_are_distributions(predictor, texts):
    probabilities = predictor.predict_proba(texts[0])
    assert probabilities.shape == (30, 2) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)


def test_streaming_blocks_equal_one_block(predictor, texts):
    inputs = texts[0]
    blocks = list(predictor.iter_predict_proba(inputs, block_size=7))
    assert [len(b) for b in blocks] == [7, 7, 7, 7, 2]
    whole = predictor.predict_proba(inputs)
    np.testing.assert_allclose(np.concatenate(blocks), whole, atol=1e-6)
    single = np.concatenate(list(predictor.iter_predict_proba(inputs, block_size=len(inputs))))
    np.testing.assert_allclose(single, whole, atol=1e-6)


def test_results_follow_input_order_not_length_order(run_dir, texts):
    predictor = Predictor.from_run_dir(run_dir, batch_size=3)  # many length-sorted batches
    inputs = texts[0]
    reference = predictor.predict_proba(inputs)
    permutation = np.random.default_rng(0).permutation(len(inputs))
    shuffled = predictor.predict_proba([inputs[i] for i in permutation])
    np.testing.assert_allclose(shuffled, reference[permutation], atol=1e-6)
    # and each row is what that text gets on its own
    for i in (0, 13, 29):
        np.testing.assert_allclose(predictor.predict_proba([inputs[i]])[0], reference[i], atol=1e-6)


def test_empty_input_gives_zero_rows(predictor):
    out = predictor.predict_proba([])
    assert out.shape == (0, 2)
    assert predictor.predict([]) == []


@pytest.mark.parametrize("bad", [["a good film", 3], ["a good film", None], ["a good film", "   "]])
def test_non_text_input_raises_data_error(predictor, bad):
    with pytest.raises(DataError, match="row 2|rows 2"):
        predictor.predict_proba(bad)


def test_compressed_needs_the_runs_int8_model(tiny_classifier_run):
    with pytest.raises(RunDirError, match="no compressed model") as error:
        Predictor.from_run_dir(tiny_classifier_run, compressed=True)
    assert f"tunekit compress {tiny_classifier_run}" in error.value.fix


@pytest.fixture
def compressed_copy(tiny_compressed_run, tmp_path) -> Path:
    return Path(shutil.copytree(tiny_compressed_run, tmp_path / "run"))


def relabel(run_dir: Path) -> None:
    """Swap the class names in labels.json (the weights stay)."""
    labels = json.loads((run_dir / "labels.json").read_text())
    (run_dir / "labels.json").write_text(json.dumps({**labels, "classes": labels["classes"][::-1]}))


@pytest.mark.parametrize("change", [retrain_in_place, relabel])
def test_a_compressed_model_of_other_weights_or_labels_is_refused(compressed_copy, change):
    """A run trained again (or relabeled) after `tunekit compress` must not answer from its old int8 model."""
    originals = {name: (compressed_copy / name).read_bytes() for name in ("model/model.safetensors", "labels.json")}
    change(compressed_copy)
    with pytest.raises(RunDirError, match="was made from other weights than .* holds now") as error:
        Predictor.from_run_dir(compressed_copy, compressed=True)
    assert error.value.fix == f"run `tunekit compress {compressed_copy}` again"
    Predictor.from_run_dir(compressed_copy).predict_proba(["a wonderful film"])  # the run itself still loads

    for name, content in originals.items():  # the same bytes again (a newer file time): accepted
        (compressed_copy / name).write_bytes(content)
    Predictor.from_run_dir(compressed_copy, compressed=True).predict_proba(["a wonderful film"])


@pytest.mark.parametrize("report", [None, "{", "[]", '{"accuracy": {"run": 1.0, "int8": 1.0}}'])
def test_a_compressed_model_without_a_readable_report_is_refused(compressed_copy, report):
    """compression.json gone, truncated, not an object, or from before fingerprints: the source is unknown."""
    path = compressed_copy / "compressed" / "compression.json"
    path.unlink()
    if report is not None:
        path.write_text(report)
    with pytest.raises(RunDirError, match="compression.json is missing or unreadable, so the compressed model "
                                          "cannot be matched to the run's weights") as error:
        Predictor.from_run_dir(compressed_copy, compressed=True)
    assert error.value.fix == f"run `tunekit compress {compressed_copy}` again"


def test_a_compressed_predictor_stays_on_the_cpu(tiny_compressed_run):
    predictor = Predictor.from_run_dir(tiny_compressed_run, compressed=True)
    expected = predictor.predict_proba(["a wonderful film"])
    with pytest.raises(TunekitError, match="CPU only"):
        predictor.to("meta")
    assert predictor.device.type == "cpu" and next(predictor.model.parameters()).device.type == "cpu"
    np.testing.assert_array_equal(predictor.to("cpu").predict_proba(["a wonderful film"]), expected)
