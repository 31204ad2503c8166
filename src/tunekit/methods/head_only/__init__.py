"""Head only (linear probe): the encoder is frozen; only the classifier (and BERT's pooler) trains.

The baseline of Alain & Bengio 2016 ("Understanding intermediate layers using linear classifier probes",
arXiv:1610.01644) and of every parameter-efficient method's paper.
"""

from __future__ import annotations

from tunekit.methods.plain import PlainModelMethod

METHOD = PlainModelMethod(
    name="head_only",
    trains=lambda name: False,
    learning_rate=lambda hidden_size: 2e-3,  # a frozen encoder: only a small head moves, large steps are safe
)
