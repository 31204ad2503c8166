"""Adaptation methods, one folder each, registered here in one line each.

Every entry satisfies `tunekit.methods.protocol.AdaptationMethod`. Adding a method: a folder, a line here, its name
in `RunConfig.method` (a test keeps the two equal) and a config example in configs/; the shared test matrix
(tests/methods/test_method_matrix.py) takes its rows from this registry, quirks get a test file of their own.
"""

from __future__ import annotations

from torch import nn

from tunekit.methods import adalora, bitfit, bottleneck, full, head_only, ia3, lora, prefix_tuning, prompt_tuning
from tunekit.methods.protocol import AdaptationMethod

METHODS: dict[str, AdaptationMethod] = {
    "full": full.METHOD,
    "head_only": head_only.METHOD,
    "bitfit": bitfit.METHOD,
    "lora": lora.LORA,
    "rslora": lora.RSLORA,
    "dora": lora.DORA,
    "adalora": adalora.METHOD,
    "ia3": ia3.METHOD,
    "prompt_tuning": prompt_tuning.METHOD,
    "prefix_tuning": prefix_tuning.METHOD,
    "houlsby": bottleneck.HOULSBY,
    "pfeiffer": bottleneck.PFEIFFER,
}


def trainable_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) counts of the parameters the forward pass uses, adapters included.

    PEFT keeps a frozen original beside each trained head copy (``modules_to_save``); the original is not used
    while the adapter is on, so it is not counted: the head is not counted twice.
    """
    used = [p for name, p in model.named_parameters() if ".original_module." not in name]
    return sum(p.numel() for p in used if p.requires_grad), sum(p.numel() for p in used)
