"""The per-epoch batch order: deterministic in (seed, epoch), complete, grouped per optimiser step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tunekit.training.loop import epoch_batches, steps_per_epoch

LENGTHS = np.random.default_rng(0).integers(3, 40, size=103)


def _as_lists(groups):
    return [[batch.tolist() for batch in group] for group in groups]


def test_same_seed_and_epoch_give_the_same_order_whatever_the_global_rng():
    torch.manual_seed(1)
    first = _as_lists(epoch_batches(LENGTHS, 8, 2, seed=3, epoch=4))
    torch.manual_seed(999)
    torch.rand(100)
    second = _as_lists(epoch_batches(LENGTHS, 8, 2, seed=3, epoch=4))
    assert first == second


def test_epochs_and_seeds_shuffle_differently():
    base = _as_lists(epoch_batches(LENGTHS, 8, 1, seed=0, epoch=0))
    assert _as_lists(epoch_batches(LENGTHS, 8, 1, seed=0, epoch=1)) != base
    assert _as_lists(epoch_batches(LENGTHS, 8, 1, seed=1, epoch=0)) != base


@pytest.mark.parametrize(("batch_size", "accumulation"), [(8, 1), (8, 3), (16, 2), (200, 1)])
def test_every_example_once_per_epoch_in_groups_of_accumulation(batch_size, accumulation):
    groups = epoch_batches(LENGTHS, batch_size, accumulation, seed=0, epoch=0)
    indices = np.concatenate([batch for group in groups for batch in group])
    assert sorted(indices.tolist()) == list(range(len(LENGTHS)))
    assert all(len(group) == accumulation for group in groups[:-1])
    assert 1 <= len(groups[-1]) <= accumulation
    assert all(len(batch) <= batch_size for group in groups for batch in group)
    assert len(groups) == steps_per_epoch(len(LENGTHS), batch_size, accumulation)


def test_batches_hold_examples_of_similar_length():
    lengths = np.arange(400) % 97 + 1
    groups = epoch_batches(lengths, 16, 1, seed=0, epoch=0)
    spread = np.mean([np.ptp(lengths[group[0]]) for group in groups])
    assert spread < 20  # random batches of 16 from 1..97 would spread ~80 tokens


@pytest.mark.parametrize(("n", "batch_size", "accumulation", "expected"),
                         [(162, 16, 1, 11), (162, 16, 2, 6), (160, 16, 2, 5), (1, 32, 4, 1), (64, 8, 3, 3)])
def test_steps_per_epoch(n, batch_size, accumulation, expected):
    assert steps_per_epoch(n, batch_size, accumulation) == expected
