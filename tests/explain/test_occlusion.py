import json

import numpy as np

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
