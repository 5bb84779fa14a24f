from decimal import Decimal

import pytest

from credit_platform.rules import (
    DEFAULT_POLICY,
    LendingPolicy,
    instant_approval,
    is_large_loan_low_score,
    risk_level,
)


@pytest.mark.parametrize(("score", "level"), [(850, "Low"), (700, "Low"), (699, "Medium"), (500, "Medium"),
                                              (499, "High"), (300, "High")])
def test_risk_level_boundaries(score, level):
    assert risk_level(score) == level


@pytest.mark.parametrize(("amount", "score", "alert"), [
    ("15000.01", 449, True), ("15000.00", 449, False), ("15000.01", 450, False), ("50000", 300, True),
    ("15000.01", 451, False),
])
def test_seed_fraud_rule_boundaries(amount, score, alert):
    assert is_large_loan_low_score(Decimal(amount), score) is alert


@pytest.mark.parametrize(("amount", "score", "fraud", "approved"), [
    ("15000.00", 700, False, True), ("15000.01", 700, False, False), ("100", 699, False, False),
    ("100", 800, True, False),
])
def test_instant_approval(amount, score, fraud, approved):
    assert instant_approval(Decimal(amount), score, fraud) is approved


def test_policy_thresholds_are_configurable():
    strict = LendingPolicy(low_risk_min_score=750)
    assert risk_level(720, strict) == "Medium"
    assert DEFAULT_POLICY.to_document()["instant_approval_max_amount"] == 15000.0
