import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tunekit.errors import DataError
from tunekit.inference.tagger import TagPredictor
from tunekit.recipes.train_tagger import train_tagger

WORDS = ["the", "bank", "money", "card", "films", "movie", "was", "great", "Bank", "CARD", "李", "台湾", "x-ray",
         "(", ")", ",", ".", "'s", "naïve", "U.S."]


@pytest.fixture(scope="module")
def predictor(tiny_tagger_run):
    return TagPredictor.from_run_dir(tiny_tagger_run)


def test_the_tiny_tagger_learned_its_entities(tiny_tagger_run, predictor):
    metrics = json.loads((tiny_tagger_run / "metrics.json").read_text())
    assert metrics["test"]["micro_f1"] > 0.8
    assert predictor.predict([["the", "bank", "was", "great"]]) == [["O", "B-ORG", "O", "O"]]


def test_one_tag_per_word_whatever_the_input(predictor):
    sentences = [[], ["bank"], ["films", "\u200b", "card"], ["the"] * 100]  # empty, zero-width word, long
    tags = predictor.predict(sentences)
    assert [len(t) for t in tags] == [0, 1, 3, 100]
    assert tags[2][1] == "O"  # a word with no sub-word at all is outside any entity


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from([" ", "  ", "", "\n", " \t"])), max_size=25))
def test_extracted_spans_are_exact_slices_of_the_original_text(predictor, pieces):
    text = "".join(word + gap for word, gap in pieces)
    for entity in predictor.extract([text])[0]:
        assert entity["text"] == text[entity["start"]:entity["end"]]
        assert entity["text"] == entity["text"].strip() and entity["text"]
        assert 0.0 <= entity["score"] <= 1.0


def test_extract_finds_entities_with_offsets(predictor):
    text = "The bank was great, films too."
    entities = predictor.extract([text])[0]
    assert {"text": "bank", "label": "ORG", "start": 4, "end": 8} in [
        {k: e[k] for k in ("text", "label", "start", "end")} for e in entities]


def test_word_probabilities_are_distributions(predictor):
    probabilities = predictor.word_probabilities([["the", "bank", "films"]])[0]
    assert probabilities.shape == (3, len(predictor.classes))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_a_classification_run_is_not_a_tagger(tiny_config, sentiment_file, tmp_path):
    from tunekit.recipes.train_classifier import train_classifier

    run = train_classifier(tiny_config(data={"train": str(sentiment_file)}, train={"epochs": 1}), tmp_path / "run")
    with pytest.raises(DataError, match="not a tagger"):
        TagPredictor.from_run_dir(run)


def test_tagger_recipe_accepts_in_memory_splits(tiny_config, tmp_path, entity_file):
    from tunekit.config.schema import DataConfig, TaggingConfig
    from tunekit.data.prepare_tagged import load_tagged, make_tagged_splits

    data = load_tagged(str(entity_file), DataConfig(), TaggingConfig())
    splits = make_tagged_splits(data, None, None, DataConfig(), hold_out_test=True)
    config = tiny_config(task="token_classification", train={"epochs": 1})
    run = train_tagger(config, tmp_path / "run", splits=splits)
    assert (run / "test_predictions.conll").read_text().count("\n\n") == len(splits.test)
