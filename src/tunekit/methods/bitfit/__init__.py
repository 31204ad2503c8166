"""BitFit: train only the bias terms of the encoder, and the head (Ben Zaken et al. 2022, arXiv:2106.10199)."""

from __future__ import annotations

from tunekit.methods.plain import PlainModelMethod

METHOD = PlainModelMethod(
    name="bitfit",
    trains=lambda name: name.endswith(".bias"),
    learning_rate=lambda hidden_size: 1e-3,  # the paper's range for BERT-base is 1e-4 to 1e-3; biases are few
)
