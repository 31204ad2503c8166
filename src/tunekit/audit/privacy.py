"""Privacy: a loss-threshold membership-inference attack (Yeom et al. 2018, arXiv:1709.01604) and a PII scan."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
from sklearn.metrics import roc_auc_score

ProbabilityFn = Callable[[list[str]], np.ndarray]
EPSILON = 1e-12

PII_PATTERNS: dict[str, re.Pattern] = {
    "email": re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"),
    "card_number": re.compile(r"\b(?:\d[ -]?){12,18}\d\b"),  # then Luhn-checked
    "us_ssn": re.compile(r"\b\d{3}-\d{2}-\d{4}\b"),
    "iban": re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"),
    "phone": re.compile(r"(?<![\w-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])"
                        r"\d{3,4}[ .-]?\d{3,4}(?![\w-])"),
}
REDACTION = {"email": "[EMAIL]", "card_number": "[CARD]", "us_ssn": "[ID]", "iban": "[IBAN]", "phone": "[PHONE]"}


def example_losses(predict_proba: ProbabilityFn, texts: Sequence[str], targets: np.ndarray) -> np.ndarray:
    """Cross-entropy of each example: ``(n,)``."""
    probabilities = np.asarray(predict_proba(list(texts)))
    return -np.log(np.clip(probabilities[np.arange(len(targets)), np.asarray(targets)], EPSILON, 1.0))


def membership_inference_auc(member_losses: np.ndarray, non_member_losses: np.ndarray) -> dict:
    """AUC of guessing "member" from a low loss: 0.5 means training members are indistinguishable.

    Members are examples the model was trained on; non-members come from the same distribution but were held out.
    """
    scores = -np.concatenate([member_losses, non_member_losses])
    labels = np.concatenate([np.ones(len(member_losses)), np.zeros(len(non_member_losses))])
    return {"membership_inference_auc": float(roc_auc_score(labels, scores)), "members": len(member_losses),
            "non_members": len(non_member_losses), "member_mean_loss": float(np.mean(member_losses)),
            "non_member_mean_loss": float(np.mean(non_member_losses))}


def _luhn_valid(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char) * (2 if i % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def find_pii(text: str) -> list[tuple[str, int, int]]:
    """``(kind, start, end)`` spans of e-mail addresses, card numbers (Luhn-valid), US SSNs, IBANs, phone numbers."""
    found: list[tuple[str, int, int]] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in PII_PATTERNS.items():
        for match in pattern.finditer(text):
            if kind == "card_number" and not _luhn_valid(re.sub(r"\D", "", match.group(0))):
                continue
            if kind == "phone" and re.match(r"[ .-]?\d", text[match.end():match.end() + 2]):
                continue  # part of a longer digit run (an order or account number), not a phone number
            if any(start < match.end() and match.start() < end for start, end in taken):
                continue  # one finding per span: a card number is not also a phone number
            found.append((kind, match.start(), match.end()))
            taken.append((match.start(), match.end()))
    return sorted(found, key=lambda span: span[1])


def redact_pii(text: str) -> str:
    """``text`` with every PII finding replaced by a placeholder such as ``[EMAIL]``."""
    for kind, start, end in reversed(find_pii(text)):
        text = text[:start] + REDACTION[kind] + text[end:]
    return text


def scan_pii(texts: Sequence[str]) -> dict:
    """Counts of PII findings per kind, how many texts hold any, and a few rows (indices, redacted) to inspect."""
    counts = dict.fromkeys(PII_PATTERNS, 0)
    rows = []
    for i, text in enumerate(texts):
        spans = find_pii(text)
        for kind, _, _ in spans:
            counts[kind] += 1
        if spans:
            rows.append(i)
    return {"texts": len(texts), "texts_with_pii": len(rows), "findings": sum(counts.values()), "by_kind": counts,
            "examples": [{"row": i, "redacted": redact_pii(texts[i])[:200]} for i in rows[:5]]}
