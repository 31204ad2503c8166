"""The compiled SplitMix64 mask kernel: SplitMix64's stream, split into 16-bit draws, thresholded."""

from __future__ import annotations

import numpy as np
import pytest

from tunekit.training.dropout_bits import fill_keep_mask

MASK_64 = (1 << 64) - 1


def _splitmix64(seed: int, count: int) -> list[int]:
    """SplitMix64 as published (Steele et al. 2014; Vigna's splitmix64.c), in plain Python integers."""
    state, out = seed, []
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & MASK_64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK_64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK_64
        out.append(z ^ (z >> 31))
    return out


def test_draws_are_splitmix64_words_in_16_bit_pieces_lowest_first():
    seed, threshold = 1234567, 30000
    out = np.empty(4 * 6 + 3, dtype=np.int16)  # a partial last word
    fill_keep_mask(seed, threshold, np.int16(7), out)
    draws = [(word >> (16 * j)) & 0xFFFF for word in _splitmix64(seed, 7) for j in range(4)][:out.size]
    assert out.tolist() == [7 if d >= threshold else 0 for d in draws]


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.int64])
@pytest.mark.parametrize("threshold", [0, 6554, 32768])
def test_keep_rate_matches_the_threshold(dtype, threshold):
    out = np.empty(200_003, dtype=dtype)
    fill_keep_mask(99, threshold, dtype(-5), out)
    assert set(np.unique(out).tolist()) <= {0, -5}
    assert abs((out != 0).mean() - (1 - threshold / 65536)) < 0.005


def test_threshold_65536_with_kept_value_zero_gives_all_zeros():
    out = np.full(1000, 3, dtype=np.int16)
    fill_keep_mask(5, 65536, np.int16(0), out)
    assert not out.any()


def test_different_seeds_give_uncorrelated_masks():
    a, b = np.empty(100_000, np.int16), np.empty(100_000, np.int16)
    fill_keep_mask(1, 32768, np.int16(1), a)
    fill_keep_mask(2, 32768, np.int16(1), b)
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.02
    fill_keep_mask(1, 32768, np.int16(1), b)
    assert np.array_equal(a, b)
