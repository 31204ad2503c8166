import random

import numpy as np
import pytest

from fake_predictors import ConstantPredictor, KeywordPredictor
from tunekit.audit.perturbations import (
    character_typos,
    default_perturbations,
    delete_words,
    swap_adjacent_words,
    synonym_substitution,
)
from tunekit.audit.robustness import (
    attack_success_rate,
    contrast_set_accuracy,
    greedy_substitution_attack,
    perturbed_accuracy,
)
from tunekit.audit.synonyms import table_synonyms

TEXTS = ["great film", "awful film", "great plot", "awful plot"] * 10
TARGETS = np.array([1, 0, 1, 0] * 10)
SYNONYMS = table_synonyms({"great": ["fine", "large"], "film": ["movie"]})


def test_perturbations_are_seeded_and_change_the_text():
    text = "the wonderful acting carried a rather thin story"
    for perturb in (character_typos, delete_words, swap_adjacent_words, synonym_substitution(
            table_synonyms({"wonderful": ["marvellous"]}), rate=1.0)):
        first, second = perturb(text, random.Random(1)), perturb(text, random.Random(1))
        assert first == second and first != text
    assert set(default_perturbations(None)) == {"character_typos", "word_deletion", "word_swap"}


def test_perturbations_break_a_model_that_needs_exact_words():
    keyword = KeywordPredictor()
    result = perturbed_accuracy(keyword.predict_proba, TEXTS, TARGETS, default_perturbations(SYNONYMS))
    assert result["clean_accuracy"] == 1.0
    assert result["per_perturbation"]["synonym_substitution"] < 0.9  # "great" → "fine" loses the cue
    assert result["per_perturbation"]["word_swap"] == 1.0  # order does not matter to it
    assert result["accuracy_drop"] > 0.1 and result["examples"]


def test_perturbations_leave_a_model_that_ignores_its_input_alone():
    constant = ConstantPredictor()  # always "positive"
    result = perturbed_accuracy(constant.predict_proba, TEXTS, np.ones(len(TEXTS), int),
                                default_perturbations(SYNONYMS))
    assert result["accuracy_drop"] == 0.0


def test_greedy_attack_flips_a_keyword_model_within_budget():
    keyword = KeywordPredictor()
    run = greedy_substitution_attack(keyword.predict_proba, "great film", 1, SYNONYMS, query_budget=10)
    assert run["success"] and run["adversarial"].split()[0] in {"fine", "large"} and run["queries"] <= 10
    assert not greedy_substitution_attack(keyword.predict_proba, "great film", 1, SYNONYMS, query_budget=1)["success"]
    summary = attack_success_rate(keyword.predict_proba, TEXTS, TARGETS, SYNONYMS, 10, max_examples=8)
    assert summary["attacked"] == 8 and 0 < summary["attack_success_rate"] <= 1


def test_greedy_attack_fails_without_synonyms_for_the_cue_words():
    keyword = KeywordPredictor()
    summary = attack_success_rate(keyword.predict_proba, TEXTS, TARGETS, table_synonyms({"film": ["movie"]}), 20, 8)
    assert summary["attack_success_rate"] == 0.0


def test_contrast_sets_separate_a_model_that_reads_from_one_that_does_not():
    originals, edited = ["great film", "awful plot"], ["awful film", "great plot"]
    keyword = contrast_set_accuracy(KeywordPredictor().predict_proba, originals, np.array([1, 0]),
                                    edited, np.array([0, 1]))
    assert keyword["contrast_consistency"] == 1.0
    constant = contrast_set_accuracy(ConstantPredictor().predict_proba, originals, np.array([1, 0]),
                                     edited, np.array([0, 1]))
    assert constant["contrast_consistency"] == 0.0 and constant["original_accuracy"] == pytest.approx(0.5)
