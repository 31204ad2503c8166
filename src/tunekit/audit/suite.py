"""Run every audit check against one predictor (any texts → probabilities callable) and assemble the report.

Model-agnostic: nothing here needs a run directory or torch. `tunekit.recipes.audit_run` feeds it a run's
`Predictor`, its training data and the user's audit data, then writes the files.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tunekit.audit.calibration import calibration_report
from tunekit.audit.contract import GATED, SCHEMA_VERSION, gate_verdict
from tunekit.audit.fairness import counterfactual_flips, group_metrics
from tunekit.audit.perturbations import default_perturbations
from tunekit.audit.postprocess import threshold_optimizer_effect
from tunekit.audit.privacy import example_losses, membership_inference_auc, scan_pii
from tunekit.audit.robustness import attack_success_rate, contrast_set_accuracy, perturbed_accuracy
from tunekit.audit.synonyms import SynonymFn, wordnet_synonyms
from tunekit.config.schema import AuditConfig
from tunekit.data.counterfactual import SwapTable

ProbabilityFn = Callable[[list[str]], np.ndarray]


class CachedProbabilities:
    """``predict_proba`` that scores each distinct text once: the checks share clean texts and attack candidates."""

    def __init__(self, predict_proba: ProbabilityFn) -> None:
        self.predict_proba = predict_proba
        self.cache: dict[str, np.ndarray] = {}
        self.queries = 0

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self.cache and t.strip()))
        if missing:
            self.queries += len(missing)
            self.cache.update(zip(missing, np.asarray(self.predict_proba(missing)), strict=True))
        if any(not t.strip() for t in texts):  # a perturbation removed every word: no evidence, uniform
            width = len(next(iter(self.cache.values()))) if self.cache else 2
            self.cache[""] = np.full(width, 1.0 / width)
        return np.stack([self.cache[t if t.strip() else ""] for t in texts]) if texts else np.zeros((0, 0))


@dataclass
class AuditInputs:
    """What the checks look at. Optional parts skip their check (with the reason) when None.

    Attributes:
        texts, targets: labeled audit data (held out from training); ``targets`` are class ids ``(n,)``.
        groups: one group label per audit text, for per-group metrics.
        members, member_targets: training examples, for the membership-inference attack.
        non_members, non_member_targets: held-out examples from the training data's distribution (the run's
            validation split); None uses the audit data, which may come from another distribution.
        training_texts: every training text, for the PII scan.
        contrast: ``(originals, original_targets, edited, edited_targets)`` for contrast-set accuracy.
    """

    texts: list[str]
    targets: np.ndarray
    groups: list[Any] | None = None
    members: list[str] | None = None
    member_targets: np.ndarray | None = None
    non_members: list[str] | None = None
    non_member_targets: np.ndarray | None = None
    training_texts: list[str] | None = None
    contrast: tuple[list[str], np.ndarray, list[str], np.ndarray] | None = None
    skip_reasons: dict[str, str] | None = None


def sample_indices(n: int, limit: int, seed: int) -> list[int]:
    """At most ``limit`` of ``range(n)``, a seeded sample in original order."""
    return list(range(n)) if n <= limit else sorted(random.Random(seed).sample(range(n), limit))


def audit_predictor(predict_proba: ProbabilityFn, classes: Sequence[Any], inputs: AuditInputs,
                    options: AuditConfig, word_pairs: dict[str, SwapTable], *,
                    synonyms: tuple[SynonymFn | None, str | None] | None = None, calibration_bins: int = 15,
                    plot_dir: Path | None = None) -> dict:
    """Every check on one predictor; returns the report (see `tunekit.audit.contract`), gate verdict included.

    Args:
        predict_proba: texts → ``(n, n_classes)`` probabilities (a `Predictor`'s method or any callable).
        classes: class names in column order.
        inputs: audit data and the optional training-side data.
        options: sample sizes, seed and gate thresholds.
        word_pairs: counterfactual swap tables by name.
        synonyms: ``(synonym function, None)`` or ``(None, reason)``; None looks for WordNet.
        calibration_bins: bins for ECE and the reliability diagram.
        plot_dir: where the reliability diagram goes; None draws none.
    """
    start = time.perf_counter()
    scored = CachedProbabilities(predict_proba)
    synonym_fn, synonym_reason = synonyms if synonyms is not None else wordnet_synonyms()
    keep = sample_indices(len(inputs.texts), options.max_examples, options.seed)
    texts, targets = [inputs.texts[i] for i in keep], np.asarray(inputs.targets)[keep]
    groups = None if inputs.groups is None else [inputs.groups[i] for i in keep]
    probabilities = scored(texts)
    skipped = dict(inputs.skip_reasons or {})
    report: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "examples": len(texts), "classes": list(classes)}
    report["fairness"] = _fairness(scored, classes, texts, targets, groups, word_pairs, options.seed, skipped)
    report["robustness"] = _robustness(scored, texts, targets, inputs.contrast, synonym_fn, synonym_reason, options,
                                       skipped)
    report["privacy"] = _privacy(scored, texts, targets, inputs, options, skipped)
    report["calibration"] = calibration_report(probabilities, targets, list(classes), calibration_bins,
                                               None if plot_dir is None else plot_dir / "reliability.png")
    report["skipped"] = skipped
    report["model_queries"] = scored.queries
    report["duration_seconds"] = round(time.perf_counter() - start, 1)
    report["gate"] = gate_verdict(report, {option: getattr(options, option) for _, option in GATED})
    return report


def _fairness(scored: ProbabilityFn, classes: Sequence[Any], texts: list[str], targets: np.ndarray,
              groups: list[Any] | None, word_pairs: dict[str, SwapTable], seed: int, skipped: dict) -> dict:
    lists = {name: counterfactual_flips(scored, classes, texts, table) for name, table in word_pairs.items()}
    worst = max(lists.values(), key=lambda r: r["flip_rate"]) if lists else None
    fairness: dict[str, Any] = {"counterfactual": {
        "flip_rate": worst["flip_rate"] if worst else None,
        "mean_probability_shift": worst["mean_probability_shift"] if worst else None, "lists": lists}}
    if groups is None:
        return fairness
    probabilities = scored(texts)
    fairness["groups"] = group_metrics(targets, probabilities.argmax(axis=1), groups, classes)
    if len(classes) == 2:
        try:
            fairness["groups"]["threshold_optimizer"] = threshold_optimizer_effect(probabilities[:, 1], targets,
                                                                                   groups, seed=seed)
        except ValueError as exc:  # e.g. a group with a single class in one half
            skipped["fairness.groups.threshold_optimizer"] = f"group thresholds could not be fitted: {exc}"
    return fairness


def _robustness(scored: ProbabilityFn, texts: list[str], targets: np.ndarray, contrast, synonym_fn: SynonymFn | None,
                synonym_reason: str | None, options: AuditConfig, skipped: dict) -> dict:
    robustness = perturbed_accuracy(scored, texts, targets, default_perturbations(synonym_fn), options.seed)
    if synonym_fn is None:
        skipped["robustness.synonym_substitution"] = skipped["robustness.attack_success_rate"] = synonym_reason
        robustness["attack_success_rate"] = None
    else:
        attack = attack_success_rate(scored, texts, targets, synonym_fn, options.attack_query_budget,
                                     options.attack_examples, options.seed)
        robustness.update(attack_success_rate=attack.pop("attack_success_rate"), attack=attack)
    if contrast is not None:
        robustness["contrast_set"] = contrast_set_accuracy(scored, *contrast)
    return robustness


def _privacy(scored: ProbabilityFn, texts: list[str], targets: np.ndarray, inputs: AuditInputs,
             options: AuditConfig, skipped: dict) -> dict:
    privacy: dict[str, Any] = {"membership_inference_auc": None}
    outside = set(inputs.members or [])
    pool, pool_targets, source = texts, targets, "audit data"
    if inputs.non_members is not None:
        pool, pool_targets, source = inputs.non_members, np.asarray(inputs.non_member_targets), "held-out split"
    candidates = [i for i in range(len(pool)) if pool[i] not in outside]
    non_members = [candidates[i] for i in sample_indices(len(candidates), options.membership_examples, options.seed)]
    if inputs.members and not non_members:
        skipped["privacy.membership_inference_auc"] = "every held-out text occurs in the training data: no non-members"
    elif inputs.members:
        members = sample_indices(len(inputs.members), options.membership_examples, options.seed)
        attack = membership_inference_auc(
            example_losses(scored, [inputs.members[i] for i in members], np.asarray(inputs.member_targets)[members]),
            example_losses(scored, [pool[i] for i in non_members], pool_targets[non_members]))
        privacy.update(membership_inference_auc=attack.pop("membership_inference_auc"),
                       membership_inference={**attack, "non_member_source": source})
    else:
        skipped.setdefault("privacy.membership_inference_auc", "no training data to draw members from")
    if inputs.training_texts is not None:
        privacy["pii"] = scan_pii(inputs.training_texts)
    else:
        skipped.setdefault("privacy.pii", "no training data to scan")
    return privacy
