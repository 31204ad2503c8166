import numpy as np
import pytest

from tunekit.audit.privacy import find_pii, membership_inference_auc, redact_pii, scan_pii


def test_membership_attack_detects_memorised_members():
    rng = np.random.default_rng(0)
    memorised = membership_inference_auc(rng.exponential(0.01, 500), rng.exponential(0.5, 500))
    assert memorised["membership_inference_auc"] > 0.95
    same = membership_inference_auc(rng.exponential(0.3, 2000), rng.exponential(0.3, 2000))
    assert same["membership_inference_auc"] == pytest.approx(0.5, abs=0.05)


def test_pii_scan_finds_planted_identifiers_and_redacts_them():
    texts = ["mail john.doe@example.com or call +1 415-555-0132", "card 4111 1111 1111 1111, ssn 123-45-6789",
             "IBAN DE89 3704 0044 0532 0130 00"]
    result = scan_pii(texts)
    assert result["by_kind"] == {"email": 1, "card_number": 1, "us_ssn": 1, "iban": 1, "phone": 1}
    assert redact_pii(texts[0]) == "mail [EMAIL] or call [PHONE]"
    assert "4111" not in result["examples"][1]["redacted"]


def test_pii_scan_leaves_ordinary_numbers_alone():
    clean = ["the film ran 120 minutes in 2002 and scored 7.5/10", "order 1234 5678 9012 3456 (not a valid card)",
             "a 3-2 win on 12.05.2021"]
    assert scan_pii(clean)["findings"] == 0
    assert find_pii("4111 1111 1111 1112") == []  # fails the Luhn check
