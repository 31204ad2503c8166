"""Robustness: accuracy under perturbations, a greedy word-substitution attack, and contrast sets.

All three need only ``predict_proba`` (texts → probabilities): they work on any model.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import numpy as np

from tunekit.audit.perturbations import ALPHA_WORD, Perturbation
from tunekit.audit.synonyms import SynonymFn

ProbabilityFn = Callable[[list[str]], np.ndarray]
MAX_SYNONYMS_PER_WORD = 8  # candidates tried per attacked word: bounds queries on words with long synonym lists


def perturbed_accuracy(predict_proba: ProbabilityFn, texts: Sequence[str], targets: np.ndarray,
                       perturbations: dict[str, Perturbation], seed: int = 0) -> dict:
    """Accuracy on the clean texts and under each perturbation (one perturbed copy per text).

    Returns:
        ``clean_accuracy``, ``per_perturbation`` {name: accuracy}, ``perturbed_accuracy`` (their mean),
        ``accuracy_drop`` (clean minus perturbed), and a few ``examples`` of perturbations that changed a prediction.
    """
    targets = np.asarray(targets)
    clean = np.asarray(predict_proba(list(texts))).argmax(axis=1)
    per_perturbation, examples = {}, []
    for index, (name, perturb) in enumerate(perturbations.items()):
        rng = random.Random(seed * 1000 + index)
        perturbed = [perturb(text, rng) for text in texts]
        predicted = np.asarray(predict_proba(perturbed)).argmax(axis=1)
        per_perturbation[name] = float((predicted == targets).mean())
        changed = np.flatnonzero(predicted != clean)[:2]
        examples += [{"perturbation": name, "original": texts[i], "perturbed": perturbed[i]} for i in changed]
    clean_accuracy = float((clean == targets).mean())
    mean = float(np.mean(list(per_perturbation.values())))
    return {"clean_accuracy": clean_accuracy, "per_perturbation": per_perturbation, "perturbed_accuracy": mean,
            "accuracy_drop": clean_accuracy - mean, "examples": examples}


def greedy_substitution_attack(predict_proba: ProbabilityFn, text: str, target: int, synonyms: SynonymFn,
                               query_budget: int) -> dict:
    """Flip the prediction on ``text`` by swapping words for synonyms, most important word first.

    Word importance is the drop in the true class's probability when the word is deleted (one query per word);
    then, word by word, the synonym that lowers that probability most is kept (TextFooler-style, Jin et al.
    2020, arXiv:1907.11932, without the sentence-similarity filter). Stops when the label flips or the budget is
    spent.

    Returns:
        ``success``, ``queries`` used, ``adversarial`` text, ``words_changed``.
    """
    words = text.split()
    candidates = [i for i, w in enumerate(words) if ALPHA_WORD.match(w) and synonyms(w)]
    if not candidates or len(candidates) + 1 > query_budget:
        return {"success": False, "queries": 0, "adversarial": text, "words_changed": 0}
    deleted = [" ".join(words[:i] + words[i + 1:]) for i in candidates]
    scores = np.asarray(predict_proba([text, *deleted]))[:, target]
    queries = len(deleted) + 1
    current, changed = scores[0], 0
    for position in np.argsort(scores[1:]):  # lowest probability without the word: most important first
        i = candidates[position]
        options = synonyms(words[i])[:MAX_SYNONYMS_PER_WORD][:query_budget - queries]
        if not options:
            break
        trials = [" ".join(words[:i] + [option] + words[i + 1:]) for option in options]
        probabilities = np.asarray(predict_proba(trials))
        queries += len(trials)
        best = int(probabilities[:, target].argmin())
        if probabilities[best, target] < current:
            words[i], current, changed = options[best], probabilities[best, target], changed + 1
            if probabilities[best].argmax() != target:
                return {"success": True, "queries": queries, "adversarial": " ".join(words), "words_changed": changed}
    return {"success": False, "queries": queries, "adversarial": " ".join(words), "words_changed": changed}


def attack_success_rate(predict_proba: ProbabilityFn, texts: Sequence[str], targets: np.ndarray,
                        synonyms: SynonymFn, query_budget: int, max_examples: int, seed: int = 0) -> dict:
    """Share of correctly classified texts (at most ``max_examples``, seeded sample) the greedy attack flips."""
    targets = np.asarray(targets)
    correct = np.flatnonzero(np.asarray(predict_proba(list(texts))).argmax(axis=1) == targets)
    chosen = random.Random(seed).sample(list(correct), k=min(max_examples, len(correct)))
    runs = [greedy_substitution_attack(predict_proba, texts[i], int(targets[i]), synonyms, query_budget)
            for i in chosen]
    successes = [r for r in runs if r["success"]]
    return {"attacked": len(runs), "succeeded": len(successes),
            "attack_success_rate": len(successes) / len(runs) if runs else 0.0,
            "mean_queries": float(np.mean([r["queries"] for r in runs])) if runs else 0.0,
            "query_budget": query_budget,
            "examples": [{"original": texts[i], "adversarial": r["adversarial"]}
                         for i, r in zip(chosen, runs, strict=True) if r["success"]][:3]}


def contrast_set_accuracy(predict_proba: ProbabilityFn, originals: Sequence[str], original_targets: np.ndarray,
                          edited: Sequence[str], edited_targets: np.ndarray) -> dict:
    """Accuracy on original texts, on their minimally edited label-changing versions (Gardner et al. 2020,
    arXiv:2004.02709; Kaushik et al. 2020), and the share of pairs where both are right (contrast consistency)."""
    original_right = np.asarray(predict_proba(list(originals))).argmax(axis=1) == np.asarray(original_targets)
    edited_right = np.asarray(predict_proba(list(edited))).argmax(axis=1) == np.asarray(edited_targets)
    return {"pairs": len(originals), "original_accuracy": float(original_right.mean()),
            "contrast_accuracy": float(edited_right.mean()),
            "contrast_consistency": float((original_right & edited_right).mean())}
