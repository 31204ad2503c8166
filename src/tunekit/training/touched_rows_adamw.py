"""AdamW for a vocabulary embedding, run over the rows that have ever had a gradient.

A fine-tuning set touches a fraction of a vocabulary: SST-2's 4,000 training sentences use 6,678 of MiniLM's
30,522 word pieces (22%). Dense AdamW still reads and writes the weight, gradient and both moments of every
row every step: 32 bytes for each of the table's 11.7M parameters, half of MiniLM's optimiser step. A row that
has never had a gradient has both moments exactly zero, so AdamW's step for it reduces to the weight decay,
``row *= 1 - lr * weight_decay``. `TouchedRowsAdamW` therefore

- keeps the touched rows' moments in compact blocks (one row per touched row, in the order the rows were first
  touched) and steps the touched rows of the table in place with them, reading the gradient from the sparse
  gradient's rows (`adamw_kernels.adamw_rows_step`: torch's fused AdamW arithmetic, the same step count,
  learning rate, betas, epsilon and weight decay as the optimiser's own step);
- keeps the product of the decay factors the untouched rows owe, and applies it to a row just before a forward
  pass first looks it up (`before_lookup`, a forward pre-hook on the embedding), and to all of them in `settle`;
- writes the compact moments back into the optimiser's dense state in `settle`, which the training loop calls
  before anything else reads the weights or the state (evaluation, checkpoints, the end of training).

The result is the dense step's up to float rounding (the decay factors are multiplied together before they are
applied); after `settle` the optimiser's state is the dense step's too, so checkpoints and resuming are
unchanged. Measured on the speed benchmark: docs/benchmarks.md, "Speed".
"""

from __future__ import annotations

import math

import torch
from torch import nn

INITIAL_CAPACITY = 1024  # compact rows allocated at first; the blocks double when the touched rows outgrow them
# A compact step moves ~24 bytes per touched parameter (weight and moments, read and written) against 32 for a
# dense row, but row by row and through index lists; the caller switches back to the dense step at half.
WORTHWHILE_FRACTION = 0.5


class TouchedRowsAdamW:
    """Steps ``weight``, a parameter of the fused ``optimizer``, over its touched rows (see the module docstring).

    The optimiser must leave ``weight`` alone: the caller clears its ``.grad`` before ``optimizer.step()``; and
    `before_lookup` must run as the embedding's forward pre-hook while training.
    """

    def __init__(self, weight: nn.Parameter, optimizer: torch.optim.AdamW) -> None:
        self.weight = weight
        self.optimizer = optimizer
        self.group = next(g for g in optimizer.param_groups if any(p is weight for p in g["params"]))
        self._slots: torch.Tensor | None = None  # per table row: its compact row, -1 while untouched
        self._rows = torch.empty(0, dtype=torch.long)  # per compact row: its table row
        self._count = 0  # compact rows in use
        self._blocks: dict[str, torch.Tensor] = {}  # "exp_avg", "exp_avg_sq": compact rows
        self._pending_decay = 1.0  # the product of the decay factors the untouched rows have not been given
        self._state_behind = False  # the optimiser's dense moments lag the compact ones

    @staticmethod
    def supports(optimizer: torch.optim.Optimizer, weight: nn.Parameter) -> bool:
        """Whether ``optimizer`` steps ``weight`` with the plain fused AdamW kernel this class reproduces."""
        if type(optimizer) is not torch.optim.AdamW or weight.dtype != torch.float32 or weight.device.type != "cpu":
            return False
        groups = [g for g in optimizer.param_groups if any(p is weight for p in g["params"])]
        return len(groups) == 1 and bool(groups[0].get("fused")) and not any(
            groups[0].get(flag) for flag in ("amsgrad", "maximize", "capturable", "differentiable"))

    def worthwhile(self) -> bool:
        """Whether few enough rows are touched for the compact step to beat the dense one."""
        return self._count <= WORTHWHILE_FRACTION * self.weight.shape[0]

    def before_lookup(self, module: nn.Module, args: tuple) -> None:
        """Forward pre-hook: the untouched rows among the ids about to be looked up get their owed decay and join
        the touched rows, so the forward reads them as the dense step would have left them."""
        if self._pending_decay != 1.0:
            self._touch(args[0].unique())

    def step(self, gradient: torch.Tensor, divisor: torch.Tensor | None) -> None:
        """One AdamW step with ``gradient`` (coalesced sparse rows) divided by ``divisor`` (``None``: 1)."""
        from tunekit.training.adamw_kernels import adamw_rows_step

        state = self._state()
        touched_now = gradient.indices()[0]
        self._touch(touched_now)  # normally a no-op: the lookup that produced the gradient touched them
        count = self._count
        gradient_of_row = torch.full((count,), -1, dtype=torch.long)
        gradient_of_row[self._slots[touched_now]] = torch.arange(len(touched_now))
        lr, (beta1, beta2) = float(self.group["lr"]), self.group["betas"]
        state["step"] += 1
        step = state["step"].item()
        adamw_rows_step(self.weight.data.numpy(), self._rows[:count].numpy(),
                        gradient.values().to(self.weight.dtype).contiguous().numpy(), gradient_of_row.numpy(),
                        self._blocks["exp_avg"].numpy(), self._blocks["exp_avg_sq"].numpy(), lr, float(beta1),
                        float(beta2), float(self.group["eps"]), float(self.group["weight_decay"]),
                        1 - beta1 ** step, math.sqrt(1 - beta2 ** step), 1.0 if divisor is None else float(divisor))
        self._pending_decay *= 1.0 - lr * self.group["weight_decay"]
        self._state_behind = True

    def settle(self) -> None:
        """Give the untouched rows the weight decay they are owed and write the compact moments into the
        optimiser's state, so weights and state read as the dense step's."""
        if self._slots is None:
            return
        if self._pending_decay != 1.0:
            scale = torch.where(self._slots >= 0, 1.0, self._pending_decay).to(self.weight.dtype)
            self.weight.data.mul_(scale.unsqueeze(1))
            self._pending_decay = 1.0
        if self._state_behind:
            state, rows = self.optimizer.state[self.weight], self._rows[:self._count]
            for name in ("exp_avg", "exp_avg_sq"):
                state[name].index_copy_(0, rows, self._blocks[name][:self._count])
            self._state_behind = False

    def _state(self) -> dict:
        """The optimiser's state for the weight (created as torch's AdamW creates it on its first step); on the
        first call, rows with non-zero moments (a resumed run) become the first touched rows."""
        state = self.optimizer.state[self.weight]
        if not state:
            state["step"] = torch.zeros((), dtype=torch.float32)
            state["exp_avg"] = torch.zeros_like(self.weight, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(self.weight, memory_format=torch.preserve_format)
        if self._slots is None:
            self._slots = torch.full((self.weight.shape[0],), -1, dtype=torch.long)
            self._reserve(1)
            resumed = ((state["exp_avg"] != 0).any(dim=1) | (state["exp_avg_sq"] != 0).any(dim=1)).nonzero()
            self._touch(resumed.squeeze(1))
            for name in ("exp_avg", "exp_avg_sq"):
                self._blocks[name][:self._count] = state[name][self._rows[:self._count]]
        return state

    def _touch(self, rows: torch.Tensor) -> None:
        """Give the untouched ones of ``rows`` (distinct) their owed decay and compact rows with zero moments."""
        if self._slots is None:
            self._state()
        new = rows[self._slots[rows] < 0]
        if not len(new):
            return
        if self._pending_decay != 1.0:
            weights = self.weight.data
            weights.index_copy_(0, new, weights.index_select(0, new) * self._pending_decay)
        self._reserve(self._count + len(new))
        self._slots[new] = torch.arange(self._count, self._count + len(new))
        self._rows[self._count:self._count + len(new)] = new
        self._count += len(new)

    def _reserve(self, needed: int) -> None:
        """Grow the compact blocks (doubling, zero-filled) to hold at least ``needed`` rows."""
        capacity = len(self._rows)
        if needed <= capacity:
            return
        capacity = min(max(needed, 2 * capacity, INITIAL_CAPACITY), self.weight.shape[0])
        rows = torch.zeros(capacity, dtype=torch.long)
        rows[:self._count] = self._rows[:self._count]
        self._rows = rows
        for name in ("exp_avg", "exp_avg_sq"):
            block = torch.zeros(capacity, self.weight.shape[1], dtype=self.weight.dtype)
            if name in self._blocks:
                block[:self._count] = self._blocks[name][:self._count]
            self._blocks[name] = block
