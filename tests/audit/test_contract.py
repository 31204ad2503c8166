from tunekit.audit.contract import gate_verdict, get_dotted, missing_contract_paths

REPORT = {"fairness": {"counterfactual": {"flip_rate": 0.2}}, "robustness": {"accuracy_drop": 0.01,
          "perturbed_accuracy": 0.9, "attack_success_rate": None}, "privacy": {"membership_inference_auc": 0.52},
          "calibration": {"ece": 0.03}}
THRESHOLDS = {"max_flip_rate": 0.05, "max_accuracy_drop": 0.1, "max_attack_success_rate": 0.5,
              "max_membership_inference_auc": 0.6, "max_ece": 0.1, "max_pii_in_training": None}


def test_gate_fails_on_the_value_above_its_threshold():
    verdict = gate_verdict(REPORT, THRESHOLDS)
    status = {c["check"]: c["status"] for c in verdict["checks"]}
    assert not verdict["passed"]
    assert status == {"fairness.counterfactual.flip_rate": "failed", "robustness.accuracy_drop": "passed",
                      "robustness.attack_success_rate": "skipped", "privacy.membership_inference_auc": "passed",
                      "calibration.ece": "passed", "privacy.pii.findings": "not gated"}


def test_gate_passes_when_every_value_is_within_its_threshold():
    assert gate_verdict(REPORT, {**THRESHOLDS, "max_flip_rate": 0.25})["passed"]


def test_contract_paths():
    assert get_dotted(REPORT, "fairness.counterfactual.flip_rate") == 0.2 and get_dotted(REPORT, "x.y") is None
    assert missing_contract_paths(REPORT) == ["gate.passed"]
    assert missing_contract_paths({**REPORT, "gate": {"passed": True}}) == []
