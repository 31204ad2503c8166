"""bf16 working copies of the trained linear weights, stepped together with their fp32 masters.

Under bf16 autocast every trained ``nn.Linear`` weight is cast to bf16 on each forward pass, and its gradient,
computed in bf16 by the bf16 matmul, is cast back to a fresh fp32 tensor in backward for the optimiser: for
full fine-tuning of MiniLM-L6 that is two conversions and two allocations of 10.6M parameters per step, ~7 ms
of a ~115 ms batch-16 step on a 2-core CPU.

`Bf16WorkingCopies` instead keeps a bf16 copy of each such weight for the whole loop, as a leaf tensor that the
forward pass uses in place of the fp32 parameter (`torch.func.functional_call`): autocast has nothing left to
cast, and the gradient stays the bf16 tensor the matmul wrote. Its sum of squares, for the clip, is taken by a
hook as soon as autograd has written it, while it is still in cache. After the backward pass one compiled
kernel per weight (`adamw_kernels.adamw_bf16_step`) applies the clip and AdamW to the fp32 master from
that bf16 gradient and writes the new bf16 copy, in one pass over memory.

The values are the ones autocast gives: the copy is the master rounded to nearest even, as autocast's cast
rounds it, and the bf16 gradient is exactly the fp32 one autocast passes on. The fp32 weights stay the model's
parameters, and each one's moments and step count stay in the optimiser's state in torch's layout, so
evaluation, checkpoints and resuming see a plain model and a plain AdamW.

Used when a step is one micro-batch (summing micro-batch gradients in bf16 would round them), on a CPU, under
bf16 autocast, with torch's fused AdamW. Measured on the speed benchmark: docs/benchmarks.md, "Speed".
"""

from __future__ import annotations

import math
from types import TracebackType

import numpy as np
import torch
from torch import nn

from tunekit.training.activation_checkpointing import is_checkpointed
from tunekit.training.shared_parameters import modules_per_parameter
from tunekit.training.touched_rows_adamw import TouchedRowsAdamW

MIN_ELEMENTS = 65_536  # smaller weights (a classifier, LoRA factors) cost more in calls than their casts do


class _Weight:
    """One weight taken over: its fp32 master, the bf16 copy, and numpy views of what the kernel updates."""

    def __init__(self, master: nn.Parameter, group: dict) -> None:
        self.master, self.group = master, group
        self.copy = torch.empty(0)  # (master's shape) bf16 leaf the forward pass uses; .grad is the gradient
        self.squares = 0.0  # sum of the squares of copy.grad, taken as the gradient is accumulated
        self.arrays: tuple[np.ndarray, ...] = ()  # master, exp_avg, exp_avg_sq, copy (bits): the kernel's views
        self.state: dict = {}  # the optimiser's state for the master
        self.steps = 0  # the state's step count, as a Python number

    def attach(self, state: dict) -> None:
        """Make the bf16 copy of the master and hold the optimiser state in ``state`` (created as torch's fused
        AdamW creates it)."""
        from tunekit.training.adamw_kernels import bf16_sum_of_squares

        if not state:
            state["step"] = torch.zeros((), dtype=torch.float32)
            state["exp_avg"] = torch.zeros_like(self.master, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(self.master, memory_format=torch.preserve_format)
        self.state = state
        self.steps = int(state["step"].item())
        self.copy = self.master.detach().to(torch.bfloat16).requires_grad_()
        self.arrays = (self.master.detach().view(-1).numpy(), state["exp_avg"].view(-1).numpy(),
                       state["exp_avg_sq"].view(-1).numpy(), _bits(self.copy.detach()))

        def take_squares(copy: torch.Tensor) -> None:  # while the new gradient is still in cache
            self.squares = bf16_sum_of_squares(_bits(copy.grad))
        self.copy.register_post_accumulate_grad_hook(take_squares)

    def detach(self) -> None:
        self.copy, self.arrays, self.state = torch.empty(0), (), {}


def bf16_trainable_linears(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, nn.Parameter]:
    """The weights `Bf16WorkingCopies` can take over, by parameter name: of an ``nn.Linear``, with at least
    `MIN_ELEMENTS` elements, contiguous, stepped by ``optimizer`` as a plain fused AdamW on an fp32 CPU tensor
    (`TouchedRowsAdamW.supports`), and used by no other module (a weight tied to an embedding gets gradients from
    the lookup too)."""
    trained = {id(p) for group in optimizer.param_groups for p in group["params"]}
    owners = modules_per_parameter(model)
    return {f"{name}.weight" if name else "weight": module.weight for name, module in model.named_modules()
            if type(module) is nn.Linear and id(module.weight) in trained and module.weight.numel() >= MIN_ELEMENTS
            and module.weight.is_contiguous() and owners[id(module.weight)] == 1
            and TouchedRowsAdamW.supports(optimizer, module.weight)}


class Bf16WorkingCopies:
    """bf16 working copies of ``weights`` (name → fp32 parameter of ``optimizer``; see the module docstring).

    Enter around the training loop: on entry the copies are made from the masters. Run forward passes through
    `forward`; after backward, `squared_norm` gives the copies' share of the gradient norm, and `step` steps
    the masters and refreshes the copies. ``optimizer`` must leave these weights alone: their own ``.grad``
    stays ``None`` while the copies are in use, so its ``step()`` skips them.
    """

    def __init__(self, weights: dict[str, nn.Parameter], optimizer: torch.optim.Optimizer) -> None:
        groups = {id(p): group for group in optimizer.param_groups for p in group["params"]}
        self.optimizer = optimizer
        self.names = list(weights)
        self._weights = [_Weight(weights[name], groups[id(weights[name])]) for name in self.names]

    def __enter__(self) -> Bf16WorkingCopies:
        for weight in self._weights:  # the optimiser state is re-read: the caller may have loaded or stepped it
            weight.attach(self.optimizer.state[weight.master])
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        for weight in self._weights:
            weight.detach()

    def forward(self, model: nn.Module, inputs: dict[str, torch.Tensor]):
        """``model(**inputs)`` with the bf16 copies in place of their fp32 weights."""
        copies = {name: weight.copy for name, weight in zip(self.names, self._weights, strict=True)}
        return torch.func.functional_call(model, copies, args=(), kwargs=inputs, tie_weights=False, strict=False)

    def squared_norm(self) -> float:
        """The sum of the squares of the copies' gradients."""
        return sum(weight.squares for weight in self._weights if weight.copy.grad is not None)

    def step(self, gradient_divisor: float = 1.0) -> None:
        """AdamW on each master whose copy has a gradient, from that gradient divided by ``gradient_divisor``
        (the clip); the copies are refreshed and their gradients cleared."""
        from tunekit.training.adamw_kernels import adamw_bf16_step

        stepped = [weight for weight in self._weights if weight.copy.grad is not None]
        if not stepped:
            return
        torch._foreach_add_([weight.state["step"] for weight in stepped], 1.0)
        for weight in stepped:
            weight.steps += 1
            group = weight.group
            beta1, beta2 = (float(beta) for beta in group["betas"])
            master, exp_avg, exp_avg_sq, copy = weight.arrays
            adamw_bf16_step(master, _bits(weight.copy.grad), exp_avg, exp_avg_sq, copy, float(group["lr"]), beta1,
                            beta2, float(group["eps"]), float(group["weight_decay"]), 1 - beta1 ** weight.steps,
                            math.sqrt(1 - beta2 ** weight.steps), gradient_divisor)
            weight.copy.grad = None


def _bits(tensor: torch.Tensor) -> np.ndarray:
    """A contiguous bf16 tensor's elements as a flat uint16 array of their bit patterns (shared memory)."""
    return tensor.contiguous().view(torch.int16).view(-1).numpy().view(np.uint16)


def bf16_working_copies_for_loop(model: nn.Module, optimizer: torch.optim.Optimizer, *, bf16: bool,
                                 device: torch.device, micro_batches_per_step: int) -> Bf16WorkingCopies | None:
    """`Bf16WorkingCopies` for the training loop's eligible weights, or None where it does not apply: without bf16
    autocast, off the CPU, with gradient accumulation (the copies' bf16 gradients would be summed in bf16), or
    with activation checkpointing (its recomputation runs outside `Bf16WorkingCopies.forward`)."""
    if not bf16 or device.type != "cpu" or micro_batches_per_step != 1:
        return None
    if any(is_checkpointed(module) for module in model.modules()):
        return None
    weights = bf16_trainable_linears(model, optimizer)
    return Bf16WorkingCopies(weights, optimizer) if weights else None
