"""Full fine-tuning: every weight of the encoder and the new head is trained (Devlin et al. 2019, BERT)."""

from __future__ import annotations

from tunekit.methods.plain import PlainModelMethod


def _learning_rate(hidden_size: int) -> float:
    # small encoders tolerate (and need) larger steps; 768-wide models diverge above ~5e-5
    return 1e-4 if hidden_size <= 512 else 3e-5


METHOD = PlainModelMethod(name="full", trains=lambda name: True, learning_rate=_learning_rate)
