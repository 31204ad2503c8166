"""Best-score tracking and patience."""

from __future__ import annotations

from tunekit.training.early_stopping import EarlyStopping


def test_higher_is_better_for_scores():
    stopping = EarlyStopping("macro_f1", patience=2)
    assert not stopping.lower_is_better
    assert stopping.update(0.5, step=10)
    assert stopping.update(0.7, step=20)
    assert not stopping.update(0.6, step=30)
    assert (stopping.best, stopping.best_step, stopping.evaluations_without_improvement) == (0.7, 20, 1)
    assert not stopping.should_stop


def test_lower_is_better_for_loss():
    stopping = EarlyStopping("loss", patience=1)
    assert stopping.lower_is_better
    assert stopping.update(0.9, 1)
    assert stopping.update(0.4, 2)
    assert not stopping.update(0.5, 3)
    assert stopping.best == 0.4 and stopping.best_step == 2
    assert stopping.should_stop


def test_a_tie_is_not_an_improvement():
    stopping = EarlyStopping("accuracy", patience=1)
    stopping.update(0.8, 1)
    assert not stopping.update(0.8, 2)
    assert stopping.best_step == 1
    assert stopping.should_stop


def test_patience_counts_consecutive_evaluations_and_resets_on_improvement():
    stopping = EarlyStopping("accuracy", patience=3)
    history = []
    for step, value in enumerate([0.5, 0.4, 0.4, 0.6, 0.5, 0.5, 0.5], start=1):
        stopping.update(value, step)
        history.append((stopping.evaluations_without_improvement, stopping.should_stop))
    assert history == [(0, False), (1, False), (2, False), (0, False), (1, False), (2, False), (3, True)]
    assert stopping.best == 0.6 and stopping.best_step == 4


def test_no_patience_never_stops():
    stopping = EarlyStopping("accuracy", patience=None)
    stopping.update(1.0, 1)
    for step in range(2, 50):
        stopping.update(0.0, step)
    assert stopping.evaluations_without_improvement == 48
    assert not stopping.should_stop


def test_state_dict_round_trip_continues_identically():
    original = EarlyStopping("loss", patience=2)
    original.update(0.3, 5)
    original.update(0.35, 6)
    restored = EarlyStopping("loss", patience=2)
    restored.load_state_dict(original.state_dict())
    assert restored == original
    assert restored.update(0.31, 7) is original.update(0.31, 7) is False
    assert restored.should_stop and original.should_stop
