"""The audit report's stable contract (``RUN_DIR/audit/audit.json``) and the gate that reads it.

Users' CI reads dotted paths into the report; these never change meaning:

- ``fairness.counterfactual.flip_rate``: share of counterfactual swaps that change the label (worst word list)
- ``robustness.perturbed_accuracy``: mean accuracy under the perturbations (``robustness.accuracy_drop``: clean − it)
- ``robustness.attack_success_rate``: share of correctly classified texts the greedy attack flips
- ``privacy.membership_inference_auc``: AUC of the loss-threshold membership attack (0.5 = no leak)
- ``calibration.ece``: expected calibration error on the audit data
- ``gate.passed``: every gated check within its threshold (`tunekit serve` refuses runs where this is false)

A value is ``null`` when its check could not run; ``skipped`` next to it says why. A skipped check neither passes
nor fails the gate; it is listed in ``gate.checks`` with status ``skipped``.
"""

from __future__ import annotations

from typing import Any

SCHEMA_VERSION = 1
# (report path, config threshold option): the gate keeps a check when its value is at most the threshold
GATED = (
    ("fairness.counterfactual.flip_rate", "max_flip_rate"),
    ("robustness.accuracy_drop", "max_accuracy_drop"),
    ("robustness.attack_success_rate", "max_attack_success_rate"),
    ("privacy.membership_inference_auc", "max_membership_inference_auc"),
    ("calibration.ece", "max_ece"),
    ("privacy.pii.findings", "max_pii_in_training"),
)
REQUIRED_PATHS = ("fairness.counterfactual.flip_rate", "robustness.perturbed_accuracy",
                  "robustness.attack_success_rate", "privacy.membership_inference_auc", "calibration.ece",
                  "gate.passed")


def get_dotted(report: dict, path: str) -> Any:
    """``report["a"]["b"]`` for ``"a.b"``; None when any part is missing."""
    node: Any = report
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def gate_verdict(report: dict, thresholds: dict[str, float | None]) -> dict:
    """Compare the report with the thresholds (``AuditConfig`` options by name).

    Returns:
        ``passed`` (bool: no check failed) and ``checks``: one row per gated value with its ``status``
        (``passed``, ``failed``, ``skipped`` when the value is missing, ``not gated`` when the threshold is None).
    """
    checks = []
    for path, option in GATED:
        value, threshold = get_dotted(report, path), thresholds.get(option)
        if threshold is None:
            status = "not gated"
        elif value is None:
            status = "skipped"
        else:
            status = "passed" if value <= threshold else "failed"
        checks.append({"check": path, "value": value, "threshold": threshold, "option": f"audit.{option}",
                       "status": status})
    return {"passed": not any(c["status"] == "failed" for c in checks), "checks": checks}


def missing_contract_paths(report: dict) -> list[str]:
    """Contract paths absent from ``report`` (a value of None still counts as present)."""
    missing = []
    for path in REQUIRED_PATHS:
        parent, _, key = path.rpartition(".")
        node = get_dotted(report, parent)
        if not isinstance(node, dict) or key not in node:
            missing.append(path)
    return missing
