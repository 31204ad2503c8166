import numpy as np

from tunekit.audit.postprocess import threshold_optimizer_effect


def _data(shift_b: float, n: int = 2000):
    rng = np.random.default_rng(0)
    groups = np.where(rng.random(n) < 0.5, "a", "b")
    targets = (rng.random(n) < 0.5).astype(int)
    score = np.clip(0.5 + 0.3 * (2 * targets - 1) + rng.normal(0, 0.15, n) + np.where(groups == "b", shift_b, 0), 0, 1)
    return score, targets, groups


def test_group_thresholds_shrink_a_planted_selection_gap():
    score, targets, groups = _data(shift_b=0.3)  # group b gets "positive" far more often
    effect = threshold_optimizer_effect(score, targets, groups)
    assert effect["before"]["demographic_parity_difference"] > 0.2
    assert effect["after"]["demographic_parity_difference"] < 0.5 * effect["before"]["demographic_parity_difference"]


def test_group_thresholds_change_little_when_groups_are_treated_alike():
    score, targets, groups = _data(shift_b=0.0)
    effect = threshold_optimizer_effect(score, targets, groups)
    assert effect["before"]["demographic_parity_difference"] < 0.1
    assert abs(effect["after"]["accuracy"] - effect["before"]["accuracy"]) < 0.05
