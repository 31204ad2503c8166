import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from tiny_fixtures import make_entity_sentences
from tunekit import TokenTagger
from tunekit.errors import DataError, RunDirError

FAST = {"data.max_seq_len": 32, "train.bf16": "off", "train.tensorboard": False}


@pytest.fixture(scope="module")
def fitted(tiny_model_dir):
    sentences, tags = make_entity_sentences(200)
    tagger = TokenTagger(model=str(tiny_model_dir), epochs=6, batch_size=16, learning_rate=3e-3,
                         config_overrides=FAST)
    return tagger.fit(sentences, tags), sentences, tags


def test_fit_predict_score_extract(fitted):
    tagger, sentences, tags = fitted
    assert tagger.classes_[0] == "O"
    predicted = tagger.predict(sentences[:5])
    assert [len(p) for p in predicted] == [len(s) for s in sentences[:5]]
    assert tagger.score(sentences, tags) > 0.8
    entities = tagger.extract("the bank was great")
    assert isinstance(entities, list) and all(set(e) == {"text", "label", "start", "end", "score"} for e in entities)
    both = tagger.extract(["the bank was great", "films"])
    assert len(both) == 2 and [e["text"] for e in both[0] if e["label"] == "ORG"] == ["bank"]


def test_save_and_load_give_the_same_predictions(fitted, tmp_path):
    tagger, sentences, _ = fitted
    path = tagger.save(tmp_path / "tagger")
    loaded = TokenTagger.load(path)
    assert loaded.predict(sentences[:20]) == tagger.predict(sentences[:20])
    assert loaded.get_params()["learning_rate"] == tagger.learning_rate
    with pytest.raises(RunDirError, match="not empty"):
        tagger.save(path)


def test_sklearn_contract(fitted, tiny_model_dir):
    tagger, _, _ = fitted
    fresh = clone(tagger)
    assert fresh.get_params() == tagger.get_params()
    with pytest.raises(NotFittedError):
        fresh.predict([["bank"]])


@pytest.mark.parametrize(("X", "y", "message"), [
    (["a flat list of words"], [["O"]], "list of sentences"),
    ([["a", "b"]], [["O"]], "2 words but 1 tags"),
    ([["a"]], [["O"], ["O"]], "1 sentences but 2 tag lists"),
    ([["a"]], [["PERSON"]], "not an IOB tag"),
    ([], [], "no training sentences"),
])
def test_bad_input_is_named(tiny_model_dir, X, y, message):
    with pytest.raises(DataError, match=message):
        TokenTagger(model=str(tiny_model_dir)).fit(X, y)
