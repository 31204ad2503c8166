"""Population stability index and the training-time reference read from a run directory."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tunekit.serve.drift import Reference, length_reference, population_stability_index, reference_from_run


def test_psi_is_zero_for_equal_distributions_and_matches_the_formula():
    assert population_stability_index(np.array([30, 70]), np.array([0.3, 0.7])) == pytest.approx(0.0)
    expected = (0.5 - 0.3) * math.log(0.5 / 0.3) + (0.5 - 0.7) * math.log(0.5 / 0.7)
    assert population_stability_index(np.array([5, 5]), np.array([3, 7])) == pytest.approx(expected)


def test_an_empty_bin_gives_a_large_finite_psi():
    value = population_stability_index(np.array([10, 0]), np.array([0.5, 0.5]))
    assert math.isfinite(value) and value > 1.0


def test_length_psi_flags_a_shift_and_not_a_sample_of_the_same_lengths():
    rng = np.random.default_rng(0)
    training = rng.integers(20, 200, size=5000)
    edges, shares = length_reference(training)
    reference = Reference(None, edges, shares)
    assert reference.length_psi(rng.integers(20, 200, size=1000)) < 0.05
    assert reference.length_psi(rng.integers(400, 800, size=1000)) > 1.0
    assert reference.label_psi(["a"]) is None  # no label reference: not monitored


def test_reference_from_a_run_uses_validation_support_and_texts(served_run):
    reference = reference_from_run(served_run)
    assert set(reference.label_shares) == {"negative", "positive"}
    assert sum(reference.label_shares.values()) == pytest.approx(1.0)
    assert reference.length_edges is not None and reference.length_shares.sum() == pytest.approx(1.0)
    assert reference.label_psi(["negative", "positive"] * 50) < 0.01
    assert reference.label_psi(["negative"] * 100) > 1.0


def test_a_run_without_validation_files_monitors_no_drift(tmp_path):
    reference = reference_from_run(tmp_path)
    assert reference.label_psi(["x"]) is None and reference.length_psi([10]) is None
