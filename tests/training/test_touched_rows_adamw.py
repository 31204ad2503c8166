"""TouchedRowsAdamW: fused AdamW over the rows with a gradient so far equals the dense step, inside the loop (after
`settle`), across a resume from the optimiser's state, and only where it claims to."""

import pytest
import torch
from torch import nn

from tunekit.training import touched_rows_adamw
from tunekit.training.optimizer import build_optimizer
from tunekit.training.optimizer_step import SPARSE_MIN_ROWS, OptimizerStep
from tunekit.training.touched_rows_adamw import TouchedRowsAdamW


def _model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Embedding(SPARSE_MIN_ROWS + 10, 8), nn.Flatten(), nn.Linear(8 * 5, 2))


def _ids(step: int) -> torch.Tensor:
    """Each step reads some rows read before and some new ones, far apart in the table."""
    generator = torch.Generator().manual_seed(step)
    return torch.randint(0, 40 + 400 * step, (3, 5), generator=generator)


def _loss(model: nn.Module, step: int) -> torch.Tensor:
    return model(_ids(step)).pow(2).sum()


def _dense_reference(steps: range, model: nn.Module, optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    """The weights after each step of plain clip + fused AdamW with dense gradients."""
    weights = []
    for step in steps:
        _loss(model, step).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        weights.append(model[0].weight.detach().clone())
    return weights


@pytest.mark.parametrize("capacity", [1024, 4])  # 4: the compact blocks grow several times
def test_weights_read_inside_the_loop_after_settle_match_the_dense_step(capacity, monkeypatch):
    monkeypatch.setattr(touched_rows_adamw, "INITIAL_CAPACITY", capacity)
    reference = _model()
    expected = _dense_reference(range(6), reference, build_optimizer(reference, 1e-2, 0.1))
    model = _model()
    optimizer = build_optimizer(model, 1e-2, 0.1)
    with OptimizerStep(model, optimizer, 0.5) as clip_and_step:
        assert list(clip_and_step._row_optimizers) == [id(model[0].weight)]
        for step in range(6):
            _loss(model, step).backward()
            clip_and_step()
            optimizer.zero_grad(set_to_none=True)
            if step in (2, 4):  # an evaluation reads the weights here, a checkpoint the state
                clip_and_step.settle()
                torch.testing.assert_close(model[0].weight.detach(), expected[step], rtol=1e-5, atol=1e-6)
                assert optimizer.state[model[0].weight]["exp_avg"].abs().sum() > 0
        touched = clip_and_step._row_optimizers[id(model[0].weight)]._count
    torch.testing.assert_close(model[0].weight.detach(), expected[-1], rtol=1e-5, atol=1e-6)
    assert 0 < touched < model[0].num_embeddings / 2  # most rows were only decayed, lazily


def test_resuming_from_the_optimiser_state_continues_the_dense_trajectory():
    reference = _model()
    expected = _dense_reference(range(6), reference, build_optimizer(reference, 1e-2, 0.1))[-1]
    model = _model()
    optimizer = build_optimizer(model, 1e-2, 0.1)
    with OptimizerStep(model, optimizer, 0.5) as clip_and_step:
        for step in range(3):
            _loss(model, step).backward()
            clip_and_step()
            optimizer.zero_grad(set_to_none=True)
    saved_model, saved_optimizer = model.state_dict(), optimizer.state_dict()

    resumed = _model()
    resumed.load_state_dict(saved_model)
    optimizer = build_optimizer(resumed, 1e-2, 0.1)
    optimizer.load_state_dict(saved_optimizer)
    with OptimizerStep(resumed, optimizer, 0.5) as clip_and_step:
        for step in range(3, 6):
            _loss(resumed, step).backward()
            clip_and_step()
            optimizer.zero_grad(set_to_none=True)
    torch.testing.assert_close(resumed[0].weight.detach(), expected, rtol=1e-5, atol=1e-6)
    state = optimizer.state[resumed[0].weight]
    assert state["step"].item() == 6 and state["exp_avg"].shape == resumed[0].weight.shape


@pytest.mark.parametrize(("options", "supported"), [
    ({"fused": True}, True),
    ({"foreach": True}, False),
    ({"fused": True, "amsgrad": True}, False),
    ({"fused": True, "maximize": True}, False),
])
def test_supports_only_the_plain_fused_adamw_kernel(options, supported):
    model = _model()
    assert TouchedRowsAdamW.supports(torch.optim.AdamW(model.parameters(), lr=1e-3, **options),
                                     model[0].weight) is supported
    assert not TouchedRowsAdamW.supports(torch.optim.Adam(model.parameters(), lr=1e-3, fused=True),
                                         model[0].weight)


def test_a_table_mostly_touched_goes_back_to_the_dense_step():
    def wide_ids(step: int) -> torch.Tensor:  # ~3,000 distinct rows of 4,106 in one step
        return torch.randint(0, SPARSE_MIN_ROWS + 10, (64, 80), generator=torch.Generator().manual_seed(step))

    models = [nn.Sequential(nn.Embedding(SPARSE_MIN_ROWS + 10, 8), nn.Flatten(), nn.Linear(8 * 80, 2))
              for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    optimizers = [build_optimizer(m, 1e-2, 0.1) for m in models]
    with OptimizerStep(models[0], optimizers[0], 0.5) as clip_and_step:
        for step in range(3):
            models[0](wide_ids(step)).pow(2).sum().backward()
            clip_and_step()
            optimizers[0].zero_grad(set_to_none=True)
        assert not clip_and_step._row_optimizers and not models[0][0]._forward_pre_hooks
    for step in range(3):
        models[1](wide_ids(step)).pow(2).sum().backward()
        torch.nn.utils.clip_grad_norm_(models[1].parameters(), 0.5)
        optimizers[1].step()
        optimizers[1].zero_grad(set_to_none=True)
    torch.testing.assert_close(models[0][0].weight.detach(), models[1][0].weight.detach(), rtol=1e-5, atol=1e-6)
