"""The compiled AdamW over bf16 gradients: torch's fused AdamW step up to float rounding, the bf16 copy rounded
as torch rounds, and the bf16 sum of squares."""

import math

import numpy as np
import pytest
import torch

from tunekit.training.adamw_kernels import adamw_bf16_step, bf16_sum_of_squares


def _bits(tensor: torch.Tensor) -> np.ndarray:
    return tensor.view(torch.int16).numpy().view(np.uint16)


@pytest.mark.parametrize(("weight_decay", "divisor"), [(0.0, 1.0), (0.01, 1.0), (0.1, 3.5)])
def test_steps_match_torch_fused_adamw(weight_decay, divisor):
    generator = torch.Generator().manual_seed(0)
    size = 10_007  # not a multiple of any vector width
    weight = torch.randn(size, generator=generator)
    reference = weight.clone().requires_grad_()
    optimizer = torch.optim.AdamW([reference], lr=1e-2, betas=(0.8, 0.95), eps=1e-6, weight_decay=weight_decay,
                                  fused=True)
    exp_avg, exp_avg_sq = torch.zeros(size), torch.zeros(size)
    copy = torch.empty(size, dtype=torch.bfloat16)
    for step in range(1, 6):
        gradient = torch.randn(size, generator=generator).to(torch.bfloat16)
        reference.grad = gradient.float()
        optimizer.grad_scale = torch.tensor(divisor)
        optimizer.step()
        adamw_bf16_step(weight.numpy(), _bits(gradient), exp_avg.numpy(), exp_avg_sq.numpy(), _bits(copy), 1e-2,
                        0.8, 0.95, 1e-6, weight_decay, 1 - 0.8 ** step, math.sqrt(1 - 0.95 ** step), divisor)
        state = optimizer.state[reference]
        torch.testing.assert_close(weight, reference.detach(), rtol=0, atol=1e-6)
        torch.testing.assert_close(exp_avg, state["exp_avg"], rtol=1e-6, atol=1e-7)  # lerp with or without FMA
        torch.testing.assert_close(exp_avg_sq, state["exp_avg_sq"], rtol=1e-6, atol=0)
        assert torch.equal(copy, weight.to(torch.bfloat16))


def test_the_copy_rounds_ties_to_even_and_keeps_nan_and_inf():
    weight = torch.tensor([1.0 + 2 ** -8, 1.0 + 3 * 2 ** -8, float("nan"), float("inf"), -float("inf"), -0.0])
    copy = torch.empty(6, dtype=torch.bfloat16)
    zeros = np.zeros(6, dtype=np.float32)
    # lr 0: the step leaves the weight as it is and only writes the copy
    adamw_bf16_step(weight.numpy(), np.zeros(6, dtype=np.uint16), zeros, zeros.copy(), _bits(copy), 0.0, 0.9, 0.999,
                    1e-8, 0.0, 0.1, 0.1, 1.0)
    expected = weight.to(torch.bfloat16)
    assert torch.equal(copy.isnan(), expected.isnan())
    assert torch.equal(copy[~copy.isnan()], expected[~expected.isnan()])
    assert _bits(copy)[5] == _bits(expected)[5]  # -0.0 keeps its sign


def test_sum_of_squares_of_bf16_bits():
    values = torch.randn(100_003, generator=torch.Generator().manual_seed(2)).to(torch.bfloat16)
    assert bf16_sum_of_squares(_bits(values)) == pytest.approx(values.double().pow(2).sum().item(), rel=1e-6)
    assert bf16_sum_of_squares(np.zeros(0, dtype=np.uint16)) == 0.0
