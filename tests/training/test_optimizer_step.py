"""OptimizerStep: clip-then-step arithmetic unchanged, with row gradients for vocabulary embeddings and the clip
folded into fused AdamW."""

import contextlib

import pytest
import torch
from torch import nn

from tunekit.training.optimizer import build_optimizer
from tunekit.training.optimizer_step import SPARSE_MIN_ROWS, OptimizerStep, sparse_gradient_embeddings

VOCABULARY = SPARSE_MIN_ROWS + 904


class _Encoder(nn.Module):
    """A vocabulary table (with a padding row), a small position table and a projection."""

    def __init__(self) -> None:
        super().__init__()
        self.words = nn.Embedding(VOCABULARY, 8, padding_idx=0)
        self.positions = nn.Embedding(16, 8)
        self.dense = nn.Linear(8, 3)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        hidden = self.words(ids) + self.positions(torch.arange(ids.shape[1]))
        return self.dense(torch.tanh(hidden)).sum(dim=1)


def _batches(steps: int, accumulation: int = 1) -> list[list[torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    # a few hundred rows in use, padding included, so most of the table is never touched
    return [[torch.randint(0, 300, (4, 6), generator=generator) for _ in range(accumulation)] for _ in range(steps)]


def _train(step_with_optimizer_step: bool, optimizer_for=None, max_norm: float | None = 0.05,
           accumulation: int = 1) -> tuple[_Encoder, list[float]]:
    """Four steps through `OptimizerStep`, or through the reference: dense gradients, torch's clip, the step."""
    torch.manual_seed(0)
    model = _Encoder()
    optimizer = (optimizer_for or (lambda m: build_optimizer(m, 1e-2, 0.1)))(model)
    clip_and_step = OptimizerStep(model, optimizer, max_norm) if step_with_optimizer_step else None
    norms = []
    with clip_and_step or contextlib.nullcontext():
        for micro_batches in _batches(4, accumulation):
            for ids in micro_batches:
                model(ids).pow(2).sum().backward()
            if clip_and_step is not None:
                clip_and_step()
            else:
                if max_norm is not None:
                    norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)))
                optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    return model, norms


def _assert_same_parameters(a: nn.Module, b: nn.Module) -> None:
    for (name, x), (_, y) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6, msg=name)


def test_vocabulary_tables_train_through_row_gradients_only_inside_the_context():
    model = _Encoder()
    optimizer = build_optimizer(model, 1e-2, 0.1)
    with OptimizerStep(model, optimizer, 1.0) as clip_and_step:
        assert clip_and_step.embeddings == [model.words]  # the 16-row position table stays dense
        assert model.words.sparse
        model(torch.tensor([[3, 4, 0]])).sum().backward()
        assert model.words.weight.grad.is_sparse
        clip_and_step()
        assert model.words.weight.grad is None  # fused AdamW: stepped over its touched rows, not as a dense .grad
    assert not model.words.sparse
    assert not model.words._forward_pre_hooks  # the lookup hook goes with the context


def test_a_non_fused_optimizer_sees_the_dense_gradient():
    model = _Encoder()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, foreach=True)
    with OptimizerStep(model, optimizer, 1.0) as clip_and_step:
        model(torch.tensor([[3, 4, 0]])).sum().backward()
        clip_and_step()
        assert not model.words.weight.grad.is_sparse
        assert model.words.weight.grad[3].abs().sum() > 0


@pytest.mark.parametrize("accumulation", [1, 3])
def test_matches_dense_clip_then_fused_adamw(accumulation):
    reference, norms = _train(False, accumulation=accumulation)
    assert min(norms) > 0.05  # clipping was active at every step
    model, _ = _train(True, accumulation=accumulation)
    _assert_same_parameters(model, reference)
    # rows no batch touched still change (weight decay), as under dense AdamW
    assert not torch.equal(model.words.weight[1000:], _initial_words()[1000:])


def _initial_words() -> torch.Tensor:
    torch.manual_seed(0)
    return _Encoder().words.weight.detach()


def test_matches_without_clipping_and_with_a_non_fused_optimizer():
    _assert_same_parameters(_train(True, max_norm=None)[0], _train(False, max_norm=None)[0])

    def foreach(model):
        return torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1, foreach=True)

    model, _ = _train(True, foreach)
    _assert_same_parameters(model, _train(False, foreach)[0])


@pytest.mark.parametrize("fused", [True, False])
def test_gradients_after_the_step_are_the_clipped_ones(fused):
    """The gradients left for `after_optimizer_step` hooks; a table stepped over its touched rows has none."""
    torch.manual_seed(0)
    model, reference = _Encoder(), _Encoder()
    reference.load_state_dict(model.state_dict())
    ids = torch.randint(0, 300, (4, 6))
    for m in (model, reference):
        m.zero_grad()
    optimizer = (build_optimizer(model, 1e-2, 0.1) if fused
                 else torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1, foreach=True))
    with OptimizerStep(model, optimizer, 0.05) as clip_and_step:
        model(ids).pow(2).sum().backward()
        clip_and_step()
    reference(ids).pow(2).sum().backward()
    torch.nn.utils.clip_grad_norm_(reference.parameters(), 0.05)
    for (name, x), (_, y) in zip(model.named_parameters(), reference.named_parameters(), strict=True):
        if fused and name == "words.weight":
            assert x.grad is None
        else:
            torch.testing.assert_close(x.grad, y.grad, rtol=1e-5, atol=1e-7, msg=name)


def test_tied_frozen_and_small_tables_keep_dense_gradients():
    model = _Encoder()
    tied = nn.Linear(8, VOCABULARY, bias=False)
    tied.weight = model.words.weight
    model.add_module("output", tied)
    assert sparse_gradient_embeddings(model, {id(p) for p in model.parameters()}) == []
    frozen = _Encoder()
    assert sparse_gradient_embeddings(frozen, {id(frozen.dense.weight)}) == []


def test_a_step_without_any_gradient_is_a_no_op_for_any_optimizer():
    for optimizer_for in (lambda m: build_optimizer(m, 1e-2, 0.1),
                          lambda m: torch.optim.AdamW(m.parameters(), lr=1e-2, foreach=True)):
        model = _Encoder()
        before = {k: v.clone() for k, v in model.state_dict().items()}
        with OptimizerStep(model, optimizer_for(model), 1.0) as clip_and_step:
            clip_and_step()
        for name, value in model.state_dict().items():
            torch.testing.assert_close(value, before[name], msg=name)
