import json

import numpy as np
import pytest

from fake_predictors import ConstantPredictor, KeywordPredictor
from tunekit.explain import explain_with_predictor


def test_occlusion_finds_the_planted_cue_word():
    [result] = explain_with_predictor(KeywordPredictor(), ["the plot was great and long"])
    assert result["method"] == "occlusion" and result["label"] == "positive"
    assert result["tokens"] == ["the", "plot", "was", "great", "and", "long"]
    scores = np.asarray(result["attributions"])
    assert scores.argmax() == 3 and scores[3] > 0.4  # removing "great" drops P(positive) from 0.95 to 0.5
    assert np.allclose(np.delete(scores, 3), 0.0)
    json.dumps(result)  # the serve endpoint returns it as is


def test_occlusion_attributes_nothing_to_a_model_that_ignores_its_input():
    [result] = explain_with_predictor(ConstantPredictor(), ["great awful movie"])
    assert np.allclose(result["attributions"], 0.0)
    assert result["label"] == "positive"


def test_empty_text_and_batch():
    results = explain_with_predictor(KeywordPredictor(), ["great", "awful film"])
    assert [r["label"] for r in results] == ["positive", "negative"]
    assert results[1]["attributions"][0] > 0.4  # "awful" supports the negative label


def test_a_one_word_text_never_sends_an_empty_text_to_the_predictor():
    class RefusesEmpty(KeywordPredictor):
        def predict_proba(self, texts):
            assert all(t.strip() for t in texts), "empty text sent"
            return super().predict_proba(texts)

    [result] = explain_with_predictor(RefusesEmpty(), ["great"])
    assert result["attributions"][0] == pytest.approx(result["probability"] - 0.5)
