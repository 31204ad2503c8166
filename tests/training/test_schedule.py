"""Learning-rate schedules: warmup shape, decay shapes and end values, warmup resolution."""

from __future__ import annotations

import pytest
import torch

from tunekit.training.schedule import (
    DEFAULT_WARMUP_RATIO,
    build_scheduler,
    lr_multiplier,
    resolve_warmup_steps,
)

TOTAL, WARMUP = 100, 10


@pytest.mark.parametrize("kind", ["linear", "cosine", "constant"])
def test_warmup_rises_linearly_to_the_peak(kind):
    warmup = [lr_multiplier(step, TOTAL, WARMUP, kind) for step in range(WARMUP)]
    assert warmup == pytest.approx([(step + 1) / (WARMUP + 1) for step in range(WARMUP)])
    assert all(a < b for a, b in zip(warmup, warmup[1:], strict=False))
    assert 0.0 < warmup[0] and warmup[-1] < 1.0  # the first step already moves; the peak comes after warmup
    assert lr_multiplier(WARMUP, TOTAL, WARMUP, kind) == pytest.approx(1.0)


def test_linear_decays_to_zero_at_the_last_step():
    values = [lr_multiplier(step, TOTAL, WARMUP, "linear") for step in range(WARMUP, TOTAL + 1)]
    assert values[0] == pytest.approx(1.0)
    assert values[-1] == pytest.approx(0.0)
    differences = [b - a for a, b in zip(values, values[1:], strict=False)]
    assert differences == pytest.approx([-1.0 / (TOTAL - WARMUP)] * len(differences))  # a straight line
    assert lr_multiplier(55, TOTAL, WARMUP, "linear") == pytest.approx(0.5)


def test_cosine_follows_half_a_cosine_to_zero():
    assert lr_multiplier(WARMUP, TOTAL, WARMUP, "cosine") == pytest.approx(1.0)
    assert lr_multiplier(40, TOTAL, WARMUP, "cosine") == pytest.approx(0.75)  # a third in: (1+cos(pi/3))/2
    assert lr_multiplier(55, TOTAL, WARMUP, "cosine") == pytest.approx(0.5)  # halfway through the decay
    assert lr_multiplier(TOTAL, TOTAL, WARMUP, "cosine") == pytest.approx(0.0, abs=1e-12)
    values = [lr_multiplier(step, TOTAL, WARMUP, "cosine") for step in range(WARMUP, TOTAL + 1)]
    assert all(a > b for a, b in zip(values, values[1:], strict=False))
    # cosine stays above linear in the first half of the decay: it decays slowly at first
    assert lr_multiplier(30, TOTAL, WARMUP, "cosine") > lr_multiplier(30, TOTAL, WARMUP, "linear")


def test_constant_stays_at_the_peak():
    values = [lr_multiplier(step, TOTAL, WARMUP, "constant") for step in range(WARMUP, TOTAL + 5)]
    assert values == [1.0] * (TOTAL + 5 - WARMUP)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_steps_past_the_end_never_go_negative(kind):
    assert lr_multiplier(TOTAL + 50, TOTAL, WARMUP, kind) == pytest.approx(0.0, abs=1e-12)


def test_no_warmup_starts_at_the_peak():
    assert lr_multiplier(0, TOTAL, 0, "linear") == 1.0
    assert lr_multiplier(0, TOTAL, 0, "cosine") == 1.0


def test_scheduler_sets_the_optimizer_learning_rate_per_step():
    parameter = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.SGD([parameter], lr=0.5)
    scheduler = build_scheduler(optimizer, "linear", warmup_steps=2, total_steps=6)
    seen = []
    for _ in range(6):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert seen == pytest.approx([0.5 * lr_multiplier(step, 6, 2, "linear") for step in range(6)])
    assert seen == pytest.approx([0.5 / 3, 1.0 / 3, 0.5, 0.375, 0.25, 0.125])
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0)


@pytest.mark.parametrize(("total", "expected"), [(100, 6), (50, 3), (10, 1), (1000, 60), (17, 2)])
def test_default_warmup_is_six_percent_rounded_up(total, expected):
    assert DEFAULT_WARMUP_RATIO == 0.06
    assert resolve_warmup_steps(total, None, None) == expected


def test_warmup_ratio_and_steps():
    assert resolve_warmup_steps(200, 0.1, None) == 20
    assert resolve_warmup_steps(200, 0.0, None) == 0
    assert resolve_warmup_steps(200, 0.101, None) == 21  # rounded up, never below the requested share
    assert resolve_warmup_steps(200, None, 7) == 7
    assert resolve_warmup_steps(200, None, 0) == 0
    assert resolve_warmup_steps(5, None, 50) == 5  # never longer than the run
