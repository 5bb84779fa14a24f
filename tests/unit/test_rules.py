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


@pytest.mark.parametrize(("amount", "score", "alert", "decision"), [
    ("15000.00", 700, False, "instant_approval"), ("15000.01", 700, False, "manual_review"),
    ("100", 699, False, "manual_review"), ("100", 800, True, "fraud_review"), ("50000", 449, True, "fraud_review"),
])
def test_lending_decision(amount, score, alert, decision):
    from credit_platform.rules import lending_decision

    assert lending_decision(Decimal(amount), score, alert) == decision


def test_policy_round_trips_through_its_mongo_document_and_refuses_unknown_keys():
    assert LendingPolicy.from_document(DEFAULT_POLICY.to_document()) == DEFAULT_POLICY
    stricter = LendingPolicy.from_document({"low_risk_min_score": 720, "instant_approval_max_amount": 10000})
    assert stricter.low_risk_min_score == 720 and stricter.instant_approval_max_amount == Decimal("10000")
    assert risk_level(710, stricter) == "Medium"
    with pytest.raises(ValueError, match="unknown thresholds"):
        LendingPolicy.from_document({"low_risk_min_scor": 720})
