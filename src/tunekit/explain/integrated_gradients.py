"""Integrated gradients on the word-embedding layer (Sundararajan et al. 2017, arXiv:1703.01365) through Captum.

The baseline keeps the special tokens ([CLS], [SEP]) and replaces every other token by [PAD]; attributions are
per token (summed over the embedding dimension). Completeness: they sum to f(x) − f(baseline), up to the
integral's approximation error, reported as ``delta``; the number of steps doubles until the relative error is
below ``tolerance`` (or ``max_steps`` is reached).
"""

from __future__ import annotations

from typing import Literal

import torch
from captum.attr import LayerIntegratedGradients
from torch import nn

Output = Literal["probability", "logit"]


def _baseline_ids(input_ids: torch.Tensor, tokenizer) -> torch.Tensor:
    special = torch.tensor(tokenizer.get_special_tokens_mask(input_ids[0].tolist(), already_has_special_tokens=True),
                           dtype=torch.bool).unsqueeze(0)
    return torch.where(special, input_ids, torch.full_like(input_ids, tokenizer.pad_token_id))


def integrated_gradients(model: nn.Module, tokenizer, text: str, *, max_seq_len: int = 128,
                         target: int | None = None, output: Output = "probability", n_steps: int = 50,
                         max_steps: int = 800, tolerance: float = 0.05) -> dict:
    """Token attributions for one text.

    Args:
        model: a sequence-classification model (plain or PEFT) returning ``logits (1, n_classes)``.
        tokenizer: its tokenizer.
        text: the text to explain.
        max_seq_len: truncation length (the run's ``data.max_seq_len``).
        target: class index to explain; None explains the predicted class.
        output: attribute the target's softmax ``probability`` or its ``logit``.
        n_steps, max_steps: first and largest number of integration steps (Gauss-Legendre).
        tolerance: stop doubling the steps once ``|delta| <= tolerance * |f(x) - f(baseline)|``.

    Returns:
        ``tokens``, ``attributions`` (one per token), ``target``, ``f_x``, ``f_baseline``, ``delta`` (sum of
        attributions minus ``f_x - f_baseline``), ``relative_delta``, ``n_steps`` and ``method``.
    """
    model = model.eval()
    device = next(model.parameters()).device
    encoded = tokenizer(text, truncation=True, max_length=max_seq_len, return_tensors="pt")
    input_ids, attention_mask = encoded["input_ids"].to(device), encoded["attention_mask"].to(device)
    baseline = _baseline_ids(input_ids.cpu(), tokenizer).to(device)

    def forward(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        logits = model(input_ids=ids, attention_mask=mask).logits.float()
        scores = logits.softmax(dim=-1) if output == "probability" else logits
        return scores[:, target]

    with torch.no_grad(), torch.autocast(device.type, enabled=False):
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits.float()
        target = int(logits.argmax(dim=-1)) if target is None else int(target)
        f_x, f_baseline = float(forward(input_ids, attention_mask)), float(forward(baseline, attention_mask))
    explainer = LayerIntegratedGradients(forward, model.get_input_embeddings())
    steps = n_steps
    while True:
        with torch.autocast(device.type, enabled=False):  # completeness needs fp32 gradients, never bf16
            attributions, delta = explainer.attribute(
                input_ids, baselines=baseline, additional_forward_args=(attention_mask,), n_steps=steps,
                method="gausslegendre", internal_batch_size=steps, return_convergence_delta=True)
        relative = abs(float(delta)) / max(abs(f_x - f_baseline), 1e-12)
        if relative <= tolerance or steps * 2 > max_steps:
            break
        steps *= 2
    return {"tokens": tokenizer.convert_ids_to_tokens(input_ids[0].tolist()),
            "attributions": attributions.sum(dim=-1)[0].tolist(), "target": target, "f_x": f_x,
            "f_baseline": f_baseline, "delta": float(delta), "relative_delta": relative, "n_steps": steps,
            "output": output, "method": "integrated_gradients"}
