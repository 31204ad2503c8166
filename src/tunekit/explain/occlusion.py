"""Model-agnostic word attributions by occlusion (Zeiler & Fergus 2014), through Captum's `FeatureAblation`.

Needs only a `Predictor`-like callable (texts → class probabilities): each word is removed in turn and the drop
in the explained class's probability is that word's attribution. Works on models tunekit did not train.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
import torch
from captum.attr import FeatureAblation

ProbabilityFn = Callable[[list[str]], np.ndarray]
WORD = re.compile(r"\S+")
PERTURBATIONS_PER_CALL = 64  # occluded copies scored per predictor call: one batch for typical sentence lengths


def words_of(text: str) -> list[str]:
    """Whitespace-separated words: the units occlusion removes (they re-join into a readable text)."""
    return WORD.findall(text)


def occlusion_attributions(predict_proba: ProbabilityFn, text: str, target: int | None = None) -> dict:
    """Attribution of each word of ``text`` to one class's probability.

    Args:
        predict_proba: texts → ``(n_texts, n_classes)`` probabilities.
        text: the text to explain.
        target: class index to explain; None explains the predicted class.

    Returns:
        ``tokens`` (the words), ``attributions`` (probability drop when the word is removed, one per word),
        ``target`` (class index), ``probability`` (of the target on the full text).
    """
    words = words_of(text)
    full = np.asarray(predict_proba([text]))[0]
    target = int(full.argmax()) if target is None else int(target)
    if not words:
        return {"tokens": [], "attributions": [], "target": target, "probability": float(full[target])}

    def forward(mask: torch.Tensor) -> torch.Tensor:
        """``mask (batch, n_words)`` of 1 (kept) / 0 (removed) → ``(batch,)`` target probabilities."""
        texts = [" ".join(w for w, keep in zip(words, row, strict=True) if keep > 0.5) for row in mask.tolist()]
        scores = np.full(len(texts), 1.0 / len(full))  # no words left: no evidence, the uniform probability
        kept = [i for i, t in enumerate(texts) if t]
        if kept:
            scores[kept] = np.asarray(predict_proba([texts[i] for i in kept]))[:, target]
        return torch.as_tensor(scores, dtype=torch.float64)

    ablation = FeatureAblation(forward)
    present = torch.ones(1, len(words), dtype=torch.float64)
    attributions = ablation.attribute(present, baselines=0.0, perturbations_per_eval=PERTURBATIONS_PER_CALL)
    return {"tokens": words, "attributions": attributions[0].tolist(), "target": target,
            "probability": float(full[target])}


def explain_with_predictor(predictor, texts: Sequence[str]) -> list[dict]:
    """Occlusion explanations for ``texts`` from any predictor with ``predict_proba`` and ``classes``.

    This is the model-agnostic explainer `POST /v1/explain` serves.

    Args:
        predictor: an object with ``predict_proba(texts) -> (n, n_classes)`` and ``classes`` (e.g. `Predictor`).
        texts: texts to explain.

    Returns:
        One JSON-serialisable dict per text: ``tokens`` (words), ``attributions`` (one float per word: how much
        the label's probability drops without it), ``label`` (the explained, predicted class), ``probability``
        and ``method`` (``"occlusion"``).
    """
    classes = list(predictor.classes)
    results = []
    for text in texts:
        result = occlusion_attributions(lambda batch: predictor.predict_proba(batch), text)
        label = classes[result.pop("target")]
        results.append({**result, "label": label.item() if hasattr(label, "item") else label, "method": "occlusion"})
    return results
