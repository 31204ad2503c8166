"""The clip's sum of squares: torch's total norm squared, for every kind of gradient the loop hands it, added across
tensors in float64."""

import pytest
import torch

from tunekit.training.gradient_norm import sum_of_squares


def gradients(dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    shapes = [(48, 16), (16, 48), (16,), (1,), (0, 4)]
    return [torch.randn(shape, generator=generator).to(dtype) for shape in shapes]


def torchs(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.nn.utils.get_total_norm(tensors).double().square()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_torchs_total_norm_squared(dtype: torch.dtype) -> None:
    tensors = gradients(dtype)
    squares = sum_of_squares(tensors)
    assert squares.dtype == torch.float64 and squares.dim() == 0
    torch.testing.assert_close(squares, torchs(tensors), rtol=1e-6 if dtype == torch.float32 else 1e-12, atol=0.0)


def test_strided_and_sparse_value_tensors_are_read_as_they_are() -> None:
    dense = torch.randn(12, 10)
    rows = torch.sparse_coo_tensor(torch.tensor([[1, 4, 4]]), torch.randn(3, 10), (8, 10)).coalesce()
    tensors = [dense.t(), dense[:, ::3], dense[0].expand(5, 10), rows.values()]
    torch.testing.assert_close(sum_of_squares(tensors), torchs(tensors), rtol=1e-6, atol=0.0)


def test_half_precision_gradients_are_summed_in_float32() -> None:
    tensors = gradients(torch.bfloat16)
    expected = sum(float(t.double().square().sum()) for t in tensors)  # bf16 values are exact in float32 and 64
    torch.testing.assert_close(sum_of_squares(tensors), torch.tensor(expected, dtype=torch.float64), rtol=1e-6,
                               atol=0.0)


def test_mixed_dtypes_add_up_in_either_order() -> None:
    a, b = torch.full((3,), 2.0), torch.full((4,), 1.0, dtype=torch.bfloat16)
    assert float(sum_of_squares([a, b])) == float(sum_of_squares([b, a])) == 16.0


def test_tensors_are_added_in_float64() -> None:
    """A float32 running total would drop every 1 added to 1e8 (its spacing there is 8)."""
    tensors = [torch.tensor([1e4])] + [torch.tensor([1.0])] * 1000
    assert float(sum_of_squares(tensors)) == 1e8 + 1000


def test_complex_and_other_device_tensors_go_through_torchs_norms() -> None:
    complex_gradient = torch.tensor([3 + 4j, 0j])
    assert float(sum_of_squares([complex_gradient])) == pytest.approx(25.0)
    meta = torch.empty(3, 4, device="meta")
    assert sum_of_squares([meta]).device.type == "meta"


def test_no_tensors_sum_to_zero() -> None:
    squares = sum_of_squares([])
    assert float(squares) == 0.0 and squares.dtype == torch.float64


def test_a_non_finite_gradient_gives_a_non_finite_sum() -> None:
    tensors = gradients()
    tensors[0][3, 2] = float("inf")
    assert torch.isinf(sum_of_squares(tensors))
    tensors[0][3, 2] = float("nan")
    assert torch.isnan(sum_of_squares(tensors))


def test_gradients_that_require_grad_give_a_plain_tensor() -> None:
    gradient = torch.randn(5, requires_grad=True)
    assert not sum_of_squares([gradient]).requires_grad
