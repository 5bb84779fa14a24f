"""Validation refuses bad records with reasons a person can act on."""

import pytest
from pydantic import ValidationError

from credit_platform.contracts.events import LoanApplication, contract_for, problems_of

GOOD = (b'{"application_id":"A1","user_id":"U1","credit_score":700,"loan_amount":1000.5,'
        b'"timestamp":"2026-01-01T00:00:00Z","annual_income":50000.0,"loan_term_months":36,"loan_purpose":"car",'
        b'"employment_status":"employed","channel":"web","device_id":"D1","city":"Austin","latitude":30.2,'
        b'"longitude":-97.7}')


def problems(raw: bytes):
    with pytest.raises(ValidationError) as info:
        LoanApplication.model_validate_json(raw)
    return problems_of(info.value)


def test_good_record_passes():
    event = LoanApplication.model_validate_json(GOOD)
    assert event.credit_score == 700 and event.is_fraud is False


@pytest.mark.parametrize(("raw", "column", "rule", "says"), [
    (GOOD.replace(b"700", b"900"), "credit_score", "less_than_equal", "850"),
    (GOOD.replace(b"700", b"299"), "credit_score", "greater_than_equal", "300"),
    (GOOD.replace(b"1000.5", b"-3"), "loan_amount", "greater_than", "greater than 0"),
    (GOOD.replace(b"700", b'"700"'), "credit_score", "int_type", "'700'"),
    (GOOD.replace(b'"user_id":"U1",', b""), "user_id", "missing", "Field required"),
    (GOOD.replace(b"2026-01-01T00:00:00Z", b"yesterday"), "timestamp", "datetime_parsing", "yesterday"),
    (GOOD.replace(b"2026-01-01T00:00:00Z", b"2026-01-01T00:00:00"), "timestamp", "timezone_aware", "timezone"),
    (GOOD.replace(b'"city"', b'"town"'), "town", "extra_forbidden", "not permitted"),
    (b"not json at all", None, "json_invalid", "Invalid JSON"),
    # hostile values: each would otherwise slip past a rule or stop a stage
    (GOOD.replace(b"50000.0", b"Infinity"), "annual_income", "finite_number", "finite"),
    (GOOD.replace(b"50000.0", b"1e400"), "annual_income", "finite_number", "finite"),
    (GOOD.replace(b"50000.0", b"NaN"), "annual_income", "finite_number", "finite"),
    (GOOD.replace(b"30.2", b"-Infinity"), "latitude", "finite_number", "finite"),
    (GOOD.replace(b"Austin", b"Aus\\u0000tin"), "city", "string_pattern_mismatch", "control character"),
    (GOOD.replace(b"Austin", b"Aus\\ntin"), "city", "string_pattern_mismatch", "control character"),
    (GOOD.replace(b"U1", b"U\\u001b[31m"), "user_id", "string_pattern_mismatch", "control character"),
    (GOOD.replace(b"Austin", b"A" * 129), "city", "string_too_long", "at most 128"),
    (GOOD.replace(b"2026-01-01T00:00:00Z", b"9999-12-31T00:00:00Z"), "timestamp", "event_time_ahead",
     "later than now + 1:00:00"),
])
def test_each_broken_record_says_what_and_where(raw, column, rule, says):
    found = {(p.column, p.rule): p for p in problems(raw)}
    assert (column, rule) in found, found
    assert says in found[(column, rule)].message


def test_unknown_topic_refused():
    with pytest.raises(ValueError, match="unknown topic 'payments'"):
        contract_for("payments")


def test_field_rules_carry_the_contract_constraints():
    from credit_platform.contracts.events import LoanApplication, Transaction, field_rules

    apps = {r.name: r for r in field_rules(LoanApplication)}
    assert (apps["credit_score"].minimum, apps["credit_score"].maximum, apps["credit_score"].type) == (300, 850, "int")
    assert apps["loan_amount"].strict_minimum and apps["loan_amount"].minimum == 0
    assert apps["application_id"].required and apps["application_id"].max_length == 64
    assert not apps["fraud_pattern"].required and apps["timestamp"].type == "timestamp"
    txs = {r.name: r for r in field_rules(Transaction)}
    assert txs["card_type"].allowed == ("VISA", "MASTERCARD", "AMEX")


def test_the_stages_that_cannot_run_pydantic_get_the_same_bounds():
    from credit_platform.contracts.events import MAX_TEXT, PRINTABLE, field_rules

    rules = {r.name: r for r in field_rules(LoanApplication)}
    assert rules["city"].max_length == MAX_TEXT and rules["city"].pattern == PRINTABLE
    assert rules["application_id"].pattern == PRINTABLE
    assert all(rules[c].finite for c in ("loan_amount", "annual_income", "latitude", "longitude"))
    assert rules["annual_income"].maximum is not None
