"""AdamW construction: decay groups, and the fused kernel matching the foreach reference."""

import torch
from torch import nn

from tunekit.training.optimizer import build_optimizer, fused_supported


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.dense = nn.Linear(8, 8)
        self.LayerNorm = nn.LayerNorm(8)
        self.frozen = nn.Linear(8, 8)
        self.frozen.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x)) + self.frozen(x)


def _train(optimizer_for, steps: int = 5) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = _Block()
    optimizer = optimizer_for(model)
    for _ in range(steps):
        model(torch.randn(4, 8)).pow(2).sum().backward()
        optimizer.step()
        optimizer.zero_grad()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_only_matrices_decay_and_frozen_parameters_are_left_out():
    model = _Block()
    optimizer = build_optimizer(model, learning_rate=1e-3, weight_decay=0.1)
    decay, no_decay = optimizer.param_groups
    assert [p is model.dense.weight for p in decay["params"]] == [True]
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert {id(p) for p in no_decay["params"]} == {id(model.dense.bias), id(model.LayerNorm.weight),
                                                   id(model.LayerNorm.bias)}


def test_cpu_parameters_get_the_fused_kernel_and_match_foreach():
    assert build_optimizer(_Block(), 1e-3, 0.01).defaults["fused"] is True
    fused = _train(lambda m: build_optimizer(m, 1e-2, 0.1))
    reference = _train(lambda m: torch.optim.AdamW(build_optimizer(m, 1e-2, 0.1).param_groups, lr=1e-2,
                                                   foreach=True))
    for name, value in fused.items():
        torch.testing.assert_close(value, reference[name], rtol=1e-5, atol=1e-6)
    assert not torch.equal(fused["dense.weight"], _train(lambda m: torch.optim.SGD(m.parameters(), lr=0.0))[
        "dense.weight"])  # the comparison is not between two untouched models


def test_integer_or_empty_parameter_lists_fall_back_to_foreach():
    assert not fused_supported([])
    assert not fused_supported([torch.zeros(2, dtype=torch.int64)])
    assert fused_supported([torch.zeros(2)])
