"""`TextClassifier` honours the scikit-learn estimator contract on the tiny model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import accuracy_score
from sklearn.utils.estimator_checks import check_no_attributes_set_in_init

from tiny_fixtures import make_sentiment_rows
from tunekit import TextClassifier
from tunekit.errors import DataError, RunDirError

OVERRIDES = {"train.learning_rate": 3e-3, "train.bf16": "off", "data.max_seq_len": 32}
INT_LABELS = {"negative": 10, "positive": 2}  # numeric order differs from string order ("10" < "2")


def _estimator(model_dir: Path, output_dir: Path | None = None, **params) -> TextClassifier:
    return TextClassifier(model=str(model_dir), epochs=6, batch_size=16,
                          output_dir=None if output_dir is None else str(output_dir),
                          config_overrides=dict(OVERRIDES), **params)


@pytest.fixture(scope="module")
def rows():
    return {"train": make_sentiment_rows(200, seed=0), "test": make_sentiment_rows(60, seed=1)}


@pytest.fixture(scope="module")
def fitted(tiny_model_dir, tmp_path_factory, rows):
    """A full fine-tune on string labels; ``fit``'s return value is kept to check it is the estimator."""
    clf = _estimator(tiny_model_dir, tmp_path_factory.mktemp("clf-full") / "run")
    returned = clf.fit([r["text"] for r in rows["train"]], [r["label"] for r in rows["train"]])
    return clf, returned


@pytest.fixture(scope="module")
def fitted_lora(tiny_model_dir, tmp_path_factory, rows):
    clf = _estimator(tiny_model_dir, tmp_path_factory.mktemp("clf-lora") / "run", method="lora")
    return clf.fit([r["text"] for r in rows["train"]], [r["label"] for r in rows["train"]])


def _texts(rows) -> list[str]:
    return [r["text"] for r in rows]


def _labels(rows) -> list[str]:
    return [r["label"] for r in rows]


# --- construction and parameters -------------------------------------------------------------------


def test_init_only_stores_params(tiny_model_dir):
    params = dict(model="no-such-model-anywhere", method="lora", epochs=3, batch_size=8, learning_rate=1e-3,
                  max_seq_len=16, multi_label=True, class_weights="balanced", validation_size=0.2,
                  random_state=7, output_dir="/nonexistent/dir", config_overrides={"lora.r": 4}, verbose=True)
    clf = TextClassifier(**params)  # nothing is resolved, validated or created here
    assert vars(clf) == params
    assert not Path("/nonexistent/dir").exists()
    check_no_attributes_set_in_init("TextClassifier", TextClassifier())


def test_get_params_and_set_params(tiny_model_dir):
    clf = _estimator(tiny_model_dir)
    params = clf.get_params()
    assert params["model"] == str(tiny_model_dir)
    assert params["epochs"] == 6 and params["batch_size"] == 16 and params["method"] == "full"
    assert params["config_overrides"] == OVERRIDES
    assert set(params) == set(vars(clf))
    assert clf.set_params(method="lora", epochs=2) is clf
    assert clf.get_params()["method"] == "lora" and clf.epochs == 2
    with pytest.raises(ValueError, match="no_such_param"):
        clf.set_params(no_such_param=1)


def test_clone_copies_params_and_is_unfitted(fitted):
    clf, _ = fitted
    copy = clone(clf)
    assert copy is not clf
    assert copy.get_params() == clf.get_params()
    assert not hasattr(copy, "predictor_") and not hasattr(copy, "classes_")
    with pytest.raises(NotFittedError):
        copy.predict(["a great film"])


def test_predict_before_fit_raises_not_fitted(tiny_model_dir):
    clf = _estimator(tiny_model_dir)
    with pytest.raises(NotFittedError):
        clf.predict(["a great film"])
    with pytest.raises(NotFittedError):
        clf.predict_proba(["a great film"])
    with pytest.raises(NotFittedError):
        clf.save("anywhere")


# --- fitted behaviour ---------------------------------------------------------------------------------


def test_fit_returns_self(fitted):
    clf, returned = fitted
    assert returned is clf


def test_classes_are_sorted(fitted):
    clf, _ = fitted
    assert list(clf.classes_) == ["negative", "positive"]
    assert isinstance(clf.classes_, np.ndarray)


def test_predict_returns_list_of_known_labels(fitted, rows):
    clf, _ = fitted
    predicted = clf.predict(_texts(rows["test"]))
    assert isinstance(predicted, list)
    assert len(predicted) == len(rows["test"])
    assert set(predicted) <= set(clf.classes_)
    assert set(predicted) == {"negative", "positive"}  # a learned model predicts both classes


def test_predict_single_element_list(fitted):
    clf, _ = fitted
    predicted = clf.predict(["a wonderful film"])
    assert isinstance(predicted, list) and len(predicted) == 1
    assert predicted[0] in set(clf.classes_)
    assert clf.predict_proba(["a wonderful film"]).shape == (1, 2)


def test_predict_bare_string_raises_data_error(fitted):
    clf, _ = fitted
    with pytest.raises(DataError, match="single string") as excinfo:
        clf.predict("a wonderful film")
    assert "[text]" in excinfo.value.fix


def test_predict_proba_shape_and_rows_sum_to_one(fitted, rows):
    clf, _ = fitted
    proba = clf.predict_proba(_texts(rows["test"]))
    assert isinstance(proba, np.ndarray)
    assert proba.shape == (len(rows["test"]), len(clf.classes_))
    assert np.all(proba >= 0) and np.all(proba <= 1)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    # predict is the argmax of predict_proba in classes_ order
    assert clf.predict(_texts(rows["test"])) == list(clf.classes_[proba.argmax(axis=1)])


def test_score_equals_sklearn_accuracy_and_learns(fitted, rows):
    clf, _ = fitted
    texts, labels = _texts(rows["test"]), _labels(rows["test"])
    score = clf.score(texts, labels)
    assert score == pytest.approx(accuracy_score(labels, clf.predict(texts)))
    assert score > 0.9
    # flipping every label must flip the score: score really compares against y
    flipped = ["positive" if y == "negative" else "negative" for y in labels]
    assert clf.score(texts, flipped) == pytest.approx(1.0 - score)


def test_integer_labels_stay_ints(tiny_model_dir, tmp_path, rows):
    clf = _estimator(tiny_model_dir, tmp_path / "run")
    clf.fit(_texts(rows["train"]), [INT_LABELS[y] for y in _labels(rows["train"])])
    assert list(clf.classes_) == [2, 10]  # numeric, not string, order
    predicted = clf.predict(_texts(rows["test"]))
    assert all(type(p) is int for p in predicted)
    assert set(predicted) <= {2, 10}
    assert clf.score(_texts(rows["test"]), [INT_LABELS[y] for y in _labels(rows["test"])]) > 0.9
    loaded = TextClassifier.load(clf.save(tmp_path / "saved"))
    assert all(type(p) is int for p in loaded.predict(_texts(rows["test"][:5])))


def test_text_pair_tuples(tiny_model_dir, tmp_path, rows):
    # The label is decided by the second text only, so a high score shows the pair is really used.
    pairs_train = [("the film", text) for text in _texts(rows["train"])]
    pairs_test = [("the film", text) for text in _texts(rows["test"])]
    clf = _estimator(tiny_model_dir, tmp_path / "run").fit(pairs_train, _labels(rows["train"]))
    proba = clf.predict_proba(pairs_test)
    assert proba.shape == (len(pairs_test), 2)
    assert clf.score(pairs_test, _labels(rows["test"])) > 0.9
    # Swapping the texts changes the input the model sees, so the probabilities change.
    swapped = clf.predict_proba([(b, a) for a, b in pairs_test])
    assert not np.allclose(proba, swapped)


# "ok" (two characters) must not silently become the pair ("o", "k")
@pytest.mark.parametrize("X", [[("the film", "good"), "bad"], [("the film", "good"), ("a", "b", "c")],
                               [("the film", "good"), "ok"]])
def test_malformed_pairs_raise_data_error(fitted, X):
    clf, _ = fitted
    with pytest.raises(DataError, match="row 2"):
        clf.predict_proba(X)


def test_mismatched_lengths_raise_data_error(tiny_model_dir, tmp_path):
    clf = _estimator(tiny_model_dir, tmp_path / "run")
    with pytest.raises(DataError, match="3 texts but 2 labels"):
        clf.fit(["good", "bad", "great"], ["positive", "negative"])
    assert not (tmp_path / "run").exists()  # rejected before any training started


# --- save and load --------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["full", "lora"])
def test_save_load_gives_identical_probabilities(which, fitted, fitted_lora, rows, tmp_path):
    clf = fitted[0] if which == "full" else fitted_lora
    texts = _texts(rows["test"])
    before = clf.predict_proba(texts)
    path = clf.save(tmp_path / "saved")
    assert path == tmp_path / "saved"
    assert not (path / "checkpoints").exists()  # resumable checkpoints are not copied
    loaded = TextClassifier.load(path)
    assert isinstance(loaded, TextClassifier)
    assert loaded.method == which
    assert list(loaded.classes_) == list(clf.classes_)
    after = loaded.predict_proba(texts)
    assert np.array_equal(before, after)
    assert loaded.predict(texts) == clf.predict(texts)


def test_loaded_estimator_keeps_every_training_option(fitted, tmp_path):
    """`clone(TextClassifier.load(path))` must refit with the options the run used, overrides included."""
    clf = fitted[0]
    loaded = TextClassifier.load(clf.save(tmp_path / "saved"))
    # learning rate and length come back as constructor params; the rest as overrides
    assert (loaded.learning_rate, loaded.max_seq_len) == (3e-3, 32)
    assert loaded.config_overrides["train.bf16"] == "off"
    assert loaded.output_dir is None  # refitting a loaded estimator must never overwrite the saved run
    assert (loaded.epochs, loaded.batch_size) == (clf.epochs, clf.batch_size)
    refit_config = clone(loaded)._config()
    assert refit_config.train.learning_rate == 3e-3 and refit_config.train.bf16 == "off"
    assert refit_config.data.max_seq_len == 32


def test_save_refuses_a_non_empty_directory(fitted, tmp_path):
    target = tmp_path / "occupied"
    target.mkdir()
    (target / "adapter_config.json").write_text("{}")  # a stale file that would change how the copy loads
    with pytest.raises(RunDirError, match="not empty"):
        fitted[0].save(target)
