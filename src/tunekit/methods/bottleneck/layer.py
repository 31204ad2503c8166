"""The bottleneck adapter layer and the wrapper that puts it after an existing module (composition, by name)."""

from __future__ import annotations

import torch
from torch import nn

NONLINEARITIES = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}


class Bottleneck(nn.Module):
    """``h + W_up f(W_down h)``: down-projection, nonlinearity, up-projection, with a residual connection.

    The up-projection starts at zero, so a freshly added adapter is the identity and the adapted model starts
    equal to the base model (Houlsby et al. 2019, §2.1: "near-identity initialization").
    """

    def __init__(self, hidden_size: int, bottleneck_size: int, nonlinearity: str) -> None:
        super().__init__()
        self.down = nn.Linear(hidden_size, bottleneck_size)
        self.activation = NONLINEARITIES[nonlinearity]()
        self.up = nn.Linear(bottleneck_size, hidden_size)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """``(batch, seq_len, hidden)`` -> the same shape."""
        return hidden + self.up(self.activation(self.down(hidden)))


class WithAdapter(nn.Module):
    """Runs ``base`` (a frozen module of the pretrained model), then ``adapter`` on its output, unless disabled."""

    def __init__(self, base: nn.Module, adapter: Bottleneck) -> None:
        super().__init__()
        self.base = base
        self.adapter = adapter
        self.enabled = True

    def forward(self, *args, **kwargs) -> torch.Tensor:
        output = self.base(*args, **kwargs)
        return self.adapter(output) if self.enabled else output
