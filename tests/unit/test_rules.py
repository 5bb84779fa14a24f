from decimal import Decimal

import pytest

from credit_platform.rules.fraud import is_large_loan_low_score
from credit_platform.rules.lending import (
    DEFAULT_POLICY,
    LendingPolicy,
    instant_approval,
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
    from credit_platform.rules.lending import lending_decision

    assert lending_decision(Decimal(amount), score, alert) == decision


def test_policy_round_trips_through_its_mongo_document_and_refuses_unknown_keys():
    assert LendingPolicy.from_document(DEFAULT_POLICY.to_document()) == DEFAULT_POLICY
    stricter = LendingPolicy.from_document({"low_risk_min_score": 720, "instant_approval_max_amount": 10000})
    assert stricter.low_risk_min_score == 720 and stricter.instant_approval_max_amount == Decimal("10000")
    assert risk_level(710, stricter) == "Medium"
    with pytest.raises(ValueError, match="unknown thresholds"):
        LendingPolicy.from_document({"low_risk_min_scor": 720})


# ---- governed exceptions to the lending policy (MongoDB `policies`.exceptions) ----------------------
def _exception(**overrides):
    from credit_platform.rules.lending import DEFAULT_POLICY, PolicyException

    doc = {"id": "staff", "reason": "staff loans are decided by HR", "approved_by": "credit-committee",
           "match": {"channel": "branch"}, "decision": "manual_review", **overrides}
    return PolicyException.from_document({k: v for k, v in doc.items() if v is not None}, DEFAULT_POLICY)


def test_first_matching_exception_decides_and_fraud_still_wins():
    from datetime import date

    from credit_platform.rules.lending import decide

    raise_limit = _exception(id="edu", match={"loan_purpose": ["education", "medical"]}, decision=None,
                             thresholds={"instant_approval_max_amount": 25000})
    forced = _exception()
    app = {"loan_amount": 20000, "credit_score": 780, "channel": "branch", "loan_purpose": "education"}
    day = date(2026, 11, 23)
    assert decide(app, False, day) == ("manual_review", None)  # over the default 15,000 limit
    assert decide(app, False, day, exceptions=(raise_limit, forced)) == ("instant_approval", "edu")
    assert decide(app, False, day, exceptions=(forced, raise_limit)) == ("manual_review", "staff")
    assert decide(app, True, day, exceptions=(raise_limit,)) == ("fraud_review", None)
    low = {**app, "credit_score": 600}
    assert decide(low, False, day, exceptions=(raise_limit,)) == ("manual_review", "edu")  # still needs Low risk
    assert decide({**app, "channel": "web", "loan_purpose": "car"}, False, day, exceptions=(raise_limit, forced)) \
        == ("manual_review", None)


def test_exception_validity_dates_are_inclusive():
    from datetime import date

    e = _exception(valid_from="2026-11-01", valid_to="2026-11-30")
    app = {"channel": "branch"}
    assert not e.applies(app, date(2026, 10, 31))
    assert e.applies(app, date(2026, 11, 1)) and e.applies(app, date(2026, 11, 30))
    assert not e.applies(app, date(2026, 12, 1))


@pytest.mark.parametrize("bad, message", [
    ({"approved_by": None}, "`approved_by` is required"),
    ({"match": {"credit_score": 500}}, "`match` must map some of"),
    ({"thresholds": {"instant_approval_max_amount": 1}}, "either `decision` or `thresholds`"),
    ({"decision": "fraud_review"}, "fraud_review follows from alerts only"),
    ({"colour": "red"}, "unknown keys ['colour']"),
    ({"decision": None, "thresholds": {"no_such": 1}}, "unknown thresholds"),
])
def test_a_malformed_exception_is_refused_with_a_clear_reason(bad, message):
    with pytest.raises(ValueError) as excinfo:
        _exception(**bad)
    assert message in str(excinfo.value)


def test_a_score_alert_is_put_into_words_and_a_reason_of_any_other_shape_is_kept():
    from credit_platform.rules.fraud import CONTRIBUTIONS, FEATURES, explained, score_details

    numbers = ["0.1"] * len(FEATURES)
    numbers[5], numbers[2], numbers[9] = "3.0", "2.0", "2.0"  # a tie: the feature listed first goes first
    reason = "score 0.999 (threshold 0.99) by model m1" + CONTRIBUTIONS + " ".join(numbers)
    assert explained("fraud_score", reason) == (
        f"score 0.999 (threshold 0.99) by model m1; raised most by {FEATURES[5][1]}; {FEATURES[2][1]}; "
        f"{FEATURES[9][1]}")
    assert score_details("fraud_score", reason) == {
        "score": 0.999, "score_threshold": 0.99, "model_version": "m1",
        "top_features": [FEATURES[5][1], FEATURES[2][1], FEATURES[9][1]]}
    # never an error where alerts are written: an empty, foreign or truncated reason stays as it is
    for odd in (None, "", "score 1", reason.replace("3.0", "three"), reason.rsplit(" ", 1)[0],
                reason.replace("score 0.999", "score high"), reason.replace("by model", "from"),
                reason.replace("score 0.999", "score NaN"), reason.replace("0.99)", "Infinity)"),
                reason.replace("3.0", "inf")):
        assert explained("fraud_score", odd) == odd and score_details("fraud_score", odd) == {}
    assert explained("amount_spike", reason) == reason and score_details("amount_spike", reason) == {}
    unnamed = reason.replace("by model m1", "by model ")  # a score published without a model name
    assert score_details("fraud_score", unnamed)["model_version"] == ""


def test_a_score_alert_field_of_a_foreign_type_is_synced_as_null_never_failing_the_day():
    from credit_platform.batch.load import _score_columns

    good = {"score": 0.997, "score_threshold": 1, "model_version": "m1", "top_features": ["a", "b", "c"]}
    assert _score_columns(good) == (0.997, 1.0, "m1", ["a", "b", "c"])
    assert _score_columns({"rule": "amount_spike"}) == (None, None, None, None)
    odd = {"score": "high", "score_threshold": float("nan"), "model_version": 7, "top_features": ["a", 2]}
    assert _score_columns(odd) == (None, None, None, None)
    assert _score_columns({"score": True, "score_threshold": float("inf"), "top_features": "a"}) == (None,) * 4
