import pytest
import torch

from tunekit.training.gradient_norm import total_norm


def gradients(dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    shapes = [(48, 16), (16, 48), (16,), (1,), (0, 4)]
    return [torch.randn(shape, generator=generator).to(dtype) for shape in shapes]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_torchs_total_norm(dtype: torch.dtype) -> None:
    tensors = gradients(dtype)
    norm = total_norm(tensors)
    assert norm.dtype == dtype and norm.dim() == 0
    torch.testing.assert_close(norm, torch.nn.utils.get_total_norm(tensors))


def test_strided_and_sparse_value_tensors_are_read_as_they_are() -> None:
    dense = torch.randn(12, 10)
    rows = torch.sparse_coo_tensor(torch.tensor([[1, 4, 4]]), torch.randn(3, 10), (8, 10)).coalesce()
    tensors = [dense.t(), dense[:, ::3], rows.values()]
    torch.testing.assert_close(total_norm(tensors), torch.nn.utils.get_total_norm(tensors))


def test_dtypes_blas_has_no_dot_for_are_summed_in_float32() -> None:
    tensors = gradients(torch.bfloat16)
    norm = total_norm(tensors)
    expected = torch.cat([t.float().reshape(-1) for t in tensors]).norm()
    assert norm.dtype == torch.float32
    torch.testing.assert_close(norm, expected, rtol=1e-3, atol=0.0)


def test_mixed_dtypes_add_up() -> None:
    a, b = torch.full((3,), 2.0), torch.full((4,), 1.0, dtype=torch.bfloat16)
    torch.testing.assert_close(total_norm([a, b]), torch.tensor(4.0))


def test_no_tensors_have_norm_zero() -> None:
    assert float(total_norm([])) == 0.0


def test_large_tensors_keep_float32_accuracy() -> None:
    big = torch.full((1_000_003,), 0.1)
    exact = (2_000_006 * float(big[0]) ** 2) ** 0.5
    # a float32 dot of a million terms: BLAS's blocked partial sums land within ~2e-5 here, torch's norm ~4e-4
    torch.testing.assert_close(total_norm([big, big]), torch.tensor(exact), rtol=1e-4, atol=0.0)


def test_a_non_finite_gradient_gives_a_non_finite_norm() -> None:
    tensors = gradients()
    tensors[0][3, 2] = float("inf")
    assert not torch.isfinite(total_norm(tensors))
    tensors[0][3, 2] = float("nan")
    assert torch.isnan(total_norm(tensors))
