import numpy as np
import pytest

from fake_predictors import KeywordPredictor
from tunekit.audit.fairness import counterfactual_flips, group_metrics
from tunekit.data.counterfactual import load_swap_table

TEXTS = ["he says the film was long", "she says the plot was thin", "the acting was great", "his story is awful"]


def test_counterfactual_swaps_expose_a_planted_gender_rule():
    biased = KeywordPredictor(positive=("he", "his"), negative=("she", "her"))
    result = counterfactual_flips(biased.predict_proba, biased.classes, TEXTS, load_swap_table("gender"))
    assert result["texts_with_swaps"] == 3  # "the acting was great" has no gendered word
    assert result["flip_rate"] == 1.0
    assert set(result["by_direction"]) == {"male→female", "female→male"}
    assert result["by_direction"]["male→female"]["mean_class_probability_change"]["positive"] < -0.4
    assert result["examples"][0]["original_label"] != result["examples"][0]["swapped_label"]


def test_counterfactual_swaps_find_nothing_in_a_model_blind_to_gender():
    fair = KeywordPredictor(positive=("great",), negative=("awful",))
    result = counterfactual_flips(fair.predict_proba, fair.classes, TEXTS, load_swap_table("gender"))
    assert result["flip_rate"] == 0.0 and result["mean_probability_shift"] == pytest.approx(0.0)


def test_group_metrics_measure_a_planted_disparity():
    targets = np.array([1, 0, 1, 0, 1, 0, 1, 0])
    groups = ["a"] * 4 + ["b"] * 4
    unfair = np.array([1, 0, 1, 0, 1, 1, 1, 1])  # always "positive" for group b
    result = group_metrics(targets, unfair, groups, ["neg", "pos"])
    assert result["groups"]["a"]["accuracy"] == 1.0 and result["groups"]["b"]["accuracy"] == 0.5
    assert result["demographic_parity_difference"] == pytest.approx(0.5)
    assert result["equalized_odds_difference"] == pytest.approx(1.0)  # FPR 0 vs 1
    fair = group_metrics(targets, targets, groups, ["neg", "pos"])
    assert fair["demographic_parity_difference"] == 0.0 and fair["equalized_odds_difference"] == 0.0
