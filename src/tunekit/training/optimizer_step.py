"""One optimiser step after the backward passes, with two savings that leave the arithmetic of clip-then-AdamW
unchanged:

- **Row gradients for vocabulary embeddings.** A batch of 16 short texts touches a few hundred of a 30,522-row
  word-embedding table, yet a dense embedding gradient is a fresh 47 MB tensor every step: allocated, zero-filled,
  norm-read and clip-multiplied, about 10 ms of a 90 ms MiniLM step on a 2-core CPU. Trainable embedding tables
  with at least `SPARSE_MIN_ROWS` rows therefore produce sparse gradients (``nn.Embedding(sparse=True)``) while
  the loop runs; their norm is taken over the touched rows, and before the optimiser runs they are written into
  a dense buffer kept between steps, where only the rows written the step before are zeroed. The optimiser
  (any optimiser) then sees the same dense gradient as before. Under fused AdamW the table skips the dense
  buffer: `TouchedRowsAdamW` steps only the rows that have ever had a gradient (the rest only decay),
  until half the table is touched, when the dense buffer is cheaper again.
- **bf16 working copies.** Under bf16 autocast on a CPU, the trained linear weights can run the loop as bf16
  copies, with their bf16 gradients stepped by a compiled AdamW that also refreshes the copies
  (`tunekit.training.bf16_working_copies`): no casts of the weights or their gradients. Forward passes then go
  through `OptimizerStep.forward`.
- **Clipping folded into fused AdamW.** Clipping multiplies every gradient by ``min(1, max_norm / norm)``, a
  read and a write of each gradient; torch's fused AdamW kernel divides each gradient by an optional
  ``grad_scale`` as it reads it (the hook ``GradScaler`` uses), so the clip becomes that division. The kernel
  writes the divided gradient back, so after the step ``.grad`` holds the clipped gradient, as it did before.
- **The norm by BLAS dot products** (`tunekit.training.gradient_norm`): every core and the widest vectors, where
  ATen's norm reads one tensor on one thread; the squares are added in float64 and rooted once.

Measured on the speed benchmark: docs/benchmarks.md, "Speed".
"""

from __future__ import annotations

from types import TracebackType

import torch
from torch import nn

from tunekit.training import gradient_norm
from tunekit.training.bf16_working_copies import Bf16WorkingCopies
from tunekit.training.shared_parameters import modules_per_parameter
from tunekit.training.touched_rows_adamw import TouchedRowsAdamW

SPARSE_MIN_ROWS = 4096  # vocabulary-sized: position and token-type tables are (nearly) all touched every step
CLIP_EPSILON = 1e-6  # as torch.nn.utils.clip_grad_norm_: max_norm / (norm + eps)


def sparse_gradient_embeddings(model: nn.Module, trained: set[int]) -> list[nn.Embedding]:
    """The embedding tables of ``model`` worth training through row gradients: trained (their weight's id is in
    ``trained``), at least `SPARSE_MIN_ROWS` rows, and not tied to another module (a tied output projection
    reads every row, so its gradient is dense anyway)."""
    owners = modules_per_parameter(model)
    return [module for module in model.modules()
            if type(module) is nn.Embedding and id(module.weight) in trained
            and module.num_embeddings >= SPARSE_MIN_ROWS and owners[id(module.weight)] == 1]


class OptimizerStep:
    """Clip the gradients to ``max_grad_norm`` (``None``: no clipping) and step ``optimizer``, as
    ``clip_grad_norm_`` followed by ``optimizer.step()`` would.

    Use as a context manager around the training loop: on entry the vocabulary embeddings of ``model`` switch to
    sparse gradients (see the module docstring), on exit they switch back. Run the training forward passes
    through `forward` (``working_copies``, when given, swaps its copies in). Call `settle` before reading the
    weights inside the loop (evaluation, checkpoints); the exit settles too.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, max_grad_norm: float | None,
                 working_copies: Bf16WorkingCopies | None = None) -> None:
        self.optimizer = optimizer
        self.working_copies = working_copies
        self.max_grad_norm = max_grad_norm
        self.parameters = [p for group in optimizer.param_groups for p in group["params"]]
        self.embeddings = sparse_gradient_embeddings(model, {id(p) for p in self.parameters})
        self.fold_clipping = all(group.get("fused") for group in optimizer.param_groups)
        self._dense_gradients: dict[int, torch.Tensor] = {}  # per embedding weight: the buffer its .grad becomes
        self._rows_written: dict[int, torch.Tensor] = {}  # ... and the rows the last step wrote into it
        self._row_optimizers = {id(e.weight): TouchedRowsAdamW(e.weight, optimizer) for e in self.embeddings
                                if self.fold_clipping and TouchedRowsAdamW.supports(optimizer, e.weight)}
        self._hooks: dict[int, torch.utils.hooks.RemovableHandle] = {}  # per row-stepped weight: its lookup hook

    def __enter__(self) -> OptimizerStep:
        if self.working_copies is not None:
            self.working_copies.__enter__()
        for embedding in self.embeddings:
            embedding.sparse = True
            if id(embedding.weight) in self._row_optimizers:
                hook = self._row_optimizers[id(embedding.weight)].before_lookup
                self._hooks[id(embedding.weight)] = embedding.register_forward_pre_hook(hook)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        for embedding in self.embeddings:
            embedding.sparse = False
        for hook in self._hooks.values():
            hook.remove()
        self._hooks.clear()
        self.settle()
        if self.working_copies is not None:
            self.working_copies.__exit__(kind, error, traceback)

    def forward(self, model: nn.Module, inputs: dict[str, torch.Tensor]):
        """``model(**inputs)``, on the bf16 working copies when there are any."""
        return model(**inputs) if self.working_copies is None else self.working_copies.forward(model, inputs)

    def settle(self) -> None:
        """Bring the weights stepped over their touched rows up to date (see `TouchedRowsAdamW`)."""
        for row_optimizer in self._row_optimizers.values():
            row_optimizer.settle()

    def __call__(self) -> None:
        """Clip and step; the caller zeroes the gradients afterwards, as before. A table stepped over its
        touched rows has no ``.grad`` after the step."""
        rows = {id(e.weight): e.weight.grad.coalesce() for e in self.embeddings
                if e.weight.grad is not None and e.weight.grad.is_sparse}
        divisor = self._clip_divisor(rows) if self.max_grad_norm is not None else None
        for key in [k for k, row_optimizer in self._row_optimizers.items() if not row_optimizer.worthwhile()]:
            self._step_densely_from_now(key)
        stepped_by_rows = []
        for embedding in self.embeddings:
            key = id(embedding.weight)
            if key in rows and key in self._row_optimizers:
                embedding.weight.grad = None  # the optimiser skips it; its rows are stepped below
                stepped_by_rows.append(key)
            elif key in rows:
                embedding.weight.grad = self._densify(embedding.weight, rows[key])
        clip = divisor
        if divisor is not None and not self.fold_clipping:
            gradients = [p.grad for p in self.parameters if p.grad is not None]
            if gradients:
                torch._foreach_div_(gradients, divisor)
            divisor = None
        self.optimizer.grad_scale = divisor  # read by fused optimisers only (None: no division)
        try:
            self.optimizer.step()
        finally:
            del self.optimizer.grad_scale
        for key in stepped_by_rows:
            self._row_optimizers[key].step(rows[key], divisor)
        if self.working_copies is not None:
            self.working_copies.step(1.0 if clip is None else float(clip))

    def _step_densely_from_now(self, key: int) -> None:
        """Hand a table whose touched rows outgrew the compact step back to the optimiser (dense buffer)."""
        self._row_optimizers.pop(key).settle()
        hook = self._hooks.pop(key, None)
        if hook is not None:
            hook.remove()

    def _clip_divisor(self, rows: dict[int, torch.Tensor]) -> torch.Tensor:
        """``1 / min(1, max_norm / (norm + eps))`` for the L2 norm of all gradients, sparse ones by their rows."""
        tensors = [rows[id(p)].values() if id(p) in rows else p.grad for p in self.parameters if p.grad is not None]
        squared = 0.0 if self.working_copies is None else self.working_copies.squared_norm()
        if not tensors and not squared:
            return torch.ones(())
        norm = (gradient_norm.sum_of_squares(tensors) + squared).sqrt().float()
        return 1.0 / torch.clamp(self.max_grad_norm / (norm + CLIP_EPSILON), max=1.0)

    def _densify(self, weight: nn.Parameter, gradient: torch.Tensor) -> torch.Tensor:
        """``gradient`` (coalesced sparse rows) written into ``weight``'s dense buffer, zero elsewhere."""
        key = id(weight)
        if key not in self._dense_gradients:
            self._dense_gradients[key] = torch.zeros_like(weight)
        dense = self._dense_gradients[key]
        if key in self._rows_written:
            dense.index_fill_(0, self._rows_written[key], 0.0)
        touched = gradient.indices()[0]
        dense.index_copy_(0, touched, gradient.values().to(dense.dtype))
        self._rows_written[key] = touched
        return dense
