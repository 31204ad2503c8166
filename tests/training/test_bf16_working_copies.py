"""bf16 working copies: training on them gives the parameters and optimiser state that autocast plus torch's fused
AdamW give, up to float rounding; and they are used only where that holds."""

from unittest import mock

import pytest
import torch
from torch import nn

from tunekit.training import bf16_working_copies
from tunekit.training.activation_checkpointing import checkpoint_layers
from tunekit.training.bf16_working_copies import Bf16WorkingCopies, bf16_trainable_linears, bf16_working_copies_for_loop
from tunekit.training.optimizer import build_optimizer
from tunekit.training.optimizer_step import OptimizerStep

WIDTH = 256  # a 256x256 weight has MIN_ELEMENTS elements, the smallest taken over


class _Net(nn.Module):
    """Two large linear layers (taken over), a LayerNorm and a small head (left to torch's AdamW)."""

    def __init__(self) -> None:
        super().__init__()
        self.up = nn.Linear(WIDTH, WIDTH)
        self.norm = nn.LayerNorm(WIDTH)
        self.down = nn.Linear(WIDTH, WIDTH)
        self.head = nn.Linear(WIDTH, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.down(self.norm(torch.relu(self.up(x))))))


def _train(with_copies: bool, steps: int = 5, max_norm: float | None = 0.5) -> tuple[nn.Module, dict, list]:
    """``steps`` bf16 autocast steps through `OptimizerStep`, with or without the working copies."""
    torch.manual_seed(0)
    model = _Net()
    optimizer = build_optimizer(model, 1e-2, 0.1)
    copies = Bf16WorkingCopies(bf16_trainable_linears(model, optimizer), optimizer) if with_copies else None
    generator = torch.Generator().manual_seed(1)
    losses = []
    with OptimizerStep(model, optimizer, max_norm, copies) as clip_and_step:
        for _ in range(steps):
            x = torch.randn(8, WIDTH, generator=generator)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = clip_and_step.forward(model, {"x": x}).float().pow(2).mean()
            loss.backward()
            losses.append(loss.item())
            clip_and_step()
            optimizer.zero_grad(set_to_none=True)
    return model, optimizer.state_dict(), losses


@pytest.mark.parametrize("max_norm", [0.5, None])
def test_training_on_the_copies_matches_autocast_and_fused_adamw(max_norm):
    reference, reference_state, reference_losses = _train(False, max_norm=max_norm)
    model, state, losses = _train(True, max_norm=max_norm)
    assert losses[0] == reference_losses[0]  # the first forward pass multiplies the very same bf16 values
    torch.testing.assert_close(losses, reference_losses, rtol=1e-3, atol=0)
    for (name, expected), (_, actual) in zip(reference.named_parameters(), model.named_parameters(), strict=True):
        assert actual.dtype == torch.float32 and actual.grad is None
        torch.testing.assert_close(actual, expected, rtol=0, atol=2e-4, msg=name)  # bf16 matmuls amplify ulps
    assert state["param_groups"] == reference_state["param_groups"]
    assert state["state"].keys() == reference_state["state"].keys()
    for index, entry in state["state"].items():
        assert entry["step"].dtype == torch.float32 and float(entry["step"]) == 5.0
        torch.testing.assert_close(entry["exp_avg_sq"], reference_state["state"][index]["exp_avg_sq"],
                                   rtol=1e-2, atol=1e-9)


def test_the_clip_sees_the_copies_gradients():
    """A tiny max norm makes every update the clipped one, so a norm missing the copies would show at once."""
    divisors: dict[bool, list[float]] = {False: [], True: []}
    clip_divisor = OptimizerStep._clip_divisor

    def recorded(self, rows):
        divisor = clip_divisor(self, rows)
        divisors[self.working_copies is not None].append(float(divisor))
        return divisor

    with mock.patch.object(OptimizerStep, "_clip_divisor", recorded):
        reference, _, _ = _train(False, steps=2, max_norm=1e-3)
        model, _, _ = _train(True, steps=2, max_norm=1e-3)
    assert len(divisors[True]) == 2 and min(divisors[True]) > 1.0  # every step clipped
    # the same gradients up to float rounding; without the copies' squares the divisors come out a third smaller
    torch.testing.assert_close(divisors[True], divisors[False], rtol=1e-6, atol=0)
    torch.testing.assert_close(model.up.weight, reference.up.weight, rtol=0, atol=1e-5)  # without the copies: 2e-2


def test_the_forward_pass_runs_on_the_copies_and_the_masters_stay_the_parameters():
    torch.manual_seed(0)
    model = _Net()
    optimizer = build_optimizer(model, 1e-2, 0.1)
    copies = Bf16WorkingCopies(bf16_trainable_linears(model, optimizer), optimizer)
    assert copies.names == ["up.weight", "down.weight"]
    with OptimizerStep(model, optimizer, 1.0, copies) as clip_and_step:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            clip_and_step.forward(model, {"x": torch.randn(2, WIDTH)}).sum().backward()
        assert model.up.weight.grad is None and model.up.weight.dtype == torch.float32
        assert model.head.weight.grad is not None  # small: left to autocast and torch's AdamW
        clip_and_step()
        optimizer.zero_grad(set_to_none=True)
        assert torch.equal(copies._weights[0].copy, model.up.weight.to(torch.bfloat16))  # refreshed by the step
    assert isinstance(model.up.weight, nn.Parameter)


def test_resuming_reads_the_step_count_from_the_optimiser_state():
    """A checkpointed optimiser loaded into a new one carries on with the same bias corrections."""
    _, state, _ = _train(True, steps=3)
    torch.manual_seed(0)
    model = _Net()
    optimizer = build_optimizer(model, 1e-2, 0.1)
    optimizer.load_state_dict(state)
    copies = Bf16WorkingCopies(bf16_trainable_linears(model, optimizer), optimizer)
    with copies:
        assert [weight.steps for weight in copies._weights] == [3, 3]


def test_only_large_untied_linear_weights_of_a_fused_adamw_are_taken_over():
    model = _Net()
    assert list(bf16_trainable_linears(model, build_optimizer(model, 1e-3, 0.0))) == ["up.weight", "down.weight"]
    assert bf16_trainable_linears(model, torch.optim.AdamW(model.parameters(), foreach=True)) == {}
    assert bf16_trainable_linears(model, torch.optim.SGD(model.parameters(), lr=0.1)) == {}
    model.up.weight.requires_grad_(False)
    assert list(bf16_trainable_linears(model, build_optimizer(model, 1e-3, 0.0))) == ["down.weight"]
    tied = _Net()
    tied.embedding = nn.Embedding(WIDTH, WIDTH)
    tied.embedding.weight = tied.down.weight  # used by a lookup too: its gradient is not only the matmul's
    assert list(bf16_trainable_linears(tied, build_optimizer(tied, 1e-3, 0.0))) == ["up.weight"]


def test_the_loop_uses_copies_only_for_one_micro_batch_bf16_cpu_steps_without_checkpointing():
    model = _Net()
    optimizer = build_optimizer(model, 1e-3, 0.0)
    cpu = torch.device("cpu")

    def copies(**overrides):
        options = {"bf16": True, "device": cpu, "micro_batches_per_step": 1, **overrides}
        return bf16_working_copies_for_loop(model, optimizer, **options)
    assert isinstance(copies(), Bf16WorkingCopies)
    assert copies(bf16=False) is None
    assert copies(micro_batches_per_step=2) is None
    assert copies(device=torch.device("meta")) is None
    model.layer = nn.ModuleList([nn.Linear(4, 4)])
    checkpoint_layers(model)
    assert copies() is None


def test_small_weights_are_left_alone(monkeypatch):
    model = _Net()
    monkeypatch.setattr(bf16_working_copies, "MIN_ELEMENTS", WIDTH * WIDTH + 1)
    assert bf16_trainable_linears(model, build_optimizer(model, 1e-3, 0.0)) == {}
