"""Track the best validation score and when to stop."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class EarlyStopping:
    metric: str
    patience: int | None
    best: float | None = None
    best_step: int | None = None
    best_loss: float | None = None
    evaluations_without_improvement: int = 0

    @property
    def lower_is_better(self) -> bool:
        return self.metric == "loss"

    def update(self, value: float, step: int, loss: float | None = None) -> bool:
        """Record an evaluation; returns True when it is a new best.

        A tie on the metric (common on small validation sets, e.g. macro-F1 1.0 twice) is broken by
        the validation ``loss``, so a saturated metric does not freeze an under-trained checkpoint.
        """
        better = self.best is None or (value < self.best if self.lower_is_better else value > self.best)
        tie_broken = (value == self.best and loss is not None and self.best_loss is not None
                      and loss < self.best_loss)
        improved = better or tie_broken
        if improved:
            self.best, self.best_step, self.best_loss = value, step, loss
            self.evaluations_without_improvement = 0
        else:
            self.evaluations_without_improvement += 1
        return improved

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.evaluations_without_improvement >= self.patience

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)
