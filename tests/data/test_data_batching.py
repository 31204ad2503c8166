"""length_grouped_batches, sorted_batches and collate."""

from __future__ import annotations

import numpy as np
import torch

from tunekit.data.batching import PAD_MULTIPLE, collate, length_grouped_batches, sorted_batches
from tunekit.data.tokenize import EncodedTexts


def random_lengths(n: int = 2000, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(3, 200, size=n)


def padding_waste(lengths: np.ndarray, batches) -> int:
    return int(sum(lengths[b].max() * len(b) - lengths[b].sum() for b in batches))


def test_every_index_exactly_once():
    lengths = random_lengths(1003)
    batches = length_grouped_batches(lengths, 16, torch.Generator().manual_seed(0), group_factor=5)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1003))
    assert sorted(len(b) for b in batches)[:2] == [1003 % 16, 16]  # groups hold whole batches: one is short


def test_deterministic_given_generator_seed():
    lengths = random_lengths(500)
    first = length_grouped_batches(lengths, 8, torch.Generator().manual_seed(7))
    second = length_grouped_batches(lengths, 8, torch.Generator().manual_seed(7))
    other = length_grouped_batches(lengths, 8, torch.Generator().manual_seed(8))
    assert [b.tolist() for b in first] == [b.tolist() for b in second]
    assert [b.tolist() for b in first] != [b.tolist() for b in other]


def test_batches_hold_similar_lengths():
    lengths = random_lengths(3200)
    grouped = length_grouped_batches(lengths, 32, torch.Generator().manual_seed(0), group_factor=20)
    rng = np.random.default_rng(0)
    shuffled = np.array_split(rng.permutation(len(lengths)), len(lengths) // 32)
    assert padding_waste(lengths, grouped) < 0.1 * padding_waste(lengths, shuffled)
    first_lengths = [int(lengths[b].max()) for b in grouped[:20]]
    assert len(set(first_lengths)) > 5  # batch order is shuffled, not sorted by length
    assert first_lengths != sorted(first_lengths, reverse=True)


def test_sorted_batches():
    lengths = np.array([5, 9, 1, 9, 3, 7, 2])
    batches = sorted_batches(lengths, 3)
    assert [b.tolist() for b in batches] == [[1, 3, 5], [0, 4, 6], [2]]


def encoded(rows, types=None) -> EncodedTexts:
    return EncodedTexts(input_ids=rows, token_type_ids=types, owner=np.arange(len(rows)))


def test_collate_pads_to_multiple_of_8():
    data = encoded([[2, 5, 6, 3], list(range(10, 21)), [2, 3]])
    batch = collate(data, np.array([0, 1]), pad_id=0)
    assert set(batch) == {"input_ids", "attention_mask"}
    assert batch["input_ids"].shape == (2, 16)
    assert batch["input_ids"].dtype == torch.int64
    assert batch["input_ids"][0].tolist() == [2, 5, 6, 3] + [0] * 12
    assert batch["input_ids"][1, :11].tolist() == list(range(10, 21))
    assert batch["attention_mask"].sum(dim=1).tolist() == [4, 11]
    assert batch["attention_mask"][0].tolist() == [1] * 4 + [0] * 12
    short = collate(data, np.array([2, 0]), pad_id=99)
    assert short["input_ids"].shape == (2, PAD_MULTIPLE)
    assert short["input_ids"][0].tolist() == [2, 3] + [99] * 6


def test_collate_exact_multiple_is_not_padded_further():
    batch = collate(encoded([list(range(1, 17))]), np.array([0]), pad_id=0)
    assert batch["input_ids"].shape == (1, 16)
    assert batch["attention_mask"].all()


def test_collate_token_type_ids():
    data = encoded([[2, 4, 3, 5, 3], [2, 6, 3]], types=[[0, 0, 0, 1, 1], [0, 0, 0]])
    batch = collate(data, np.array([1, 0]), pad_id=0)
    assert batch["token_type_ids"].shape == (2, 8)
    assert batch["token_type_ids"][0].tolist() == [0] * 8
    assert batch["token_type_ids"][1].tolist() == [0, 0, 0, 1, 1, 0, 0, 0]
