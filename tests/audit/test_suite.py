import numpy as np

from fake_predictors import KeywordPredictor
from tunekit.audit.contract import missing_contract_paths
from tunekit.audit.suite import AuditInputs, CachedProbabilities, audit_predictor
from tunekit.audit.synonyms import table_synonyms
from tunekit.config.schema import AuditConfig
from tunekit.data.counterfactual import load_swap_table

TEXTS = ["he says great film", "she says awful film", "great plot", "awful plot"] * 5
TARGETS = np.array([1, 0, 1, 0] * 5)


def test_any_predictor_gets_the_full_contract_and_a_biased_one_fails_the_gate():
    biased = KeywordPredictor(positive=("great", "he"), negative=("awful", "she"), weight=1.0)
    inputs = AuditInputs(texts=TEXTS, targets=TARGETS, members=["great story", "awful story"],
                         member_targets=np.array([1, 0]), training_texts=["call 415-555-0132"])
    report = audit_predictor(biased.predict_proba, biased.classes, inputs, AuditConfig(),
                             {"gender": load_swap_table()}, synonyms=(table_synonyms({"great": ["fine"]}), None))
    assert missing_contract_paths(report) == []
    # "he says great film" (+2) → "she says great film" (0, a tie: negative) flips; the reverse swap does not
    assert report["fairness"]["counterfactual"]["flip_rate"] == 0.5
    failed = {c["check"] for c in report["gate"]["checks"] if c["status"] == "failed"}
    assert "fairness.counterfactual.flip_rate" in failed and not report["gate"]["passed"]
    assert report["privacy"]["pii"]["findings"] == 1
    assert report["privacy"]["membership_inference"]["members"] == 2


def test_membership_attack_is_skipped_when_no_audit_text_is_a_non_member():
    model = KeywordPredictor()
    inputs = AuditInputs(texts=TEXTS, targets=TARGETS, members=TEXTS, member_targets=TARGETS)
    report = audit_predictor(model.predict_proba, model.classes, inputs, AuditConfig(), {},
                             synonyms=(None, "no WordNet"))
    assert report["privacy"]["membership_inference_auc"] is None
    assert "no non-members" in report["skipped"]["privacy.membership_inference_auc"]


def test_without_wordnet_the_synonym_checks_are_skipped_with_the_reason():
    fair = KeywordPredictor(positive=("great",), negative=("awful",), weight=5.0)
    report = audit_predictor(fair.predict_proba, fair.classes, AuditInputs(texts=TEXTS, targets=TARGETS),
                             AuditConfig(max_ece=None, max_accuracy_drop=None), {"gender": load_swap_table()},
                             synonyms=(None, "WordNet not found: install wordnet-base"))
    assert report["robustness"]["attack_success_rate"] is None
    assert "synonym_substitution" not in report["robustness"]["per_perturbation"]
    assert report["skipped"]["robustness.attack_success_rate"].startswith("WordNet not found")
    assert report["privacy"]["membership_inference_auc"] is None
    assert report["fairness"]["counterfactual"]["flip_rate"] == 0.0
    statuses = {c["check"]: c["status"] for c in report["gate"]["checks"]}
    assert statuses["robustness.attack_success_rate"] == "not gated" and report["gate"]["passed"]


def test_cached_probabilities_score_each_text_once():
    calls = []

    def predict(texts):
        calls.append(list(texts))
        return np.tile([0.5, 0.5], (len(texts), 1))

    cached = CachedProbabilities(predict)
    cached(["a", "b", "a"])
    cached(["b", "c"])
    assert calls == [["a", "b"], ["c"]] and cached.queries == 3


def test_empty_perturbations_are_scored_uniform_without_a_query():
    def predict(texts):
        assert all(t.strip() for t in texts)
        return np.tile([0.2, 0.8], (len(texts), 1))

    cached = CachedProbabilities(predict)
    assert cached(["a", ""]).tolist() == [[0.2, 0.8], [0.5, 0.5]]
