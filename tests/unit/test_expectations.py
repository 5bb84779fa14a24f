"""The warehouse suite leaves out what the table's own constraints already guarantee."""

import pytest

from credit_platform.quality.expectations import Enforced, warehouse_suite


@pytest.fixture(scope="module", autouse=True)
def _context() -> None:
    import great_expectations as gx

    gx.get_context(mode="ephemeral")


def _checks(suite) -> set[tuple[str, str]]:  # noqa: ANN001
    return {(e.expectation_type, getattr(e, "column", None)) for e in suite.expectations}


def test_a_key_and_not_null_columns_the_database_enforces_are_not_checked_again() -> None:
    full = _checks(warehouse_suite("credit_scores"))
    enforced = Enforced(frozenset({"application_id"}), frozenset({"user_id", "risk_level"}))
    lean = warehouse_suite("credit_scores", enforced)
    assert full - _checks(lean) == {("expect_column_values_to_be_unique", "application_id"),
                                    ("expect_column_values_to_not_be_null", "user_id"),
                                    ("expect_column_values_to_not_be_null", "risk_level")}
    # ranges and allowed values stay: the suite, not a CHECK constraint, is their source of truth
    assert ("expect_column_values_to_be_between", "credit_score") in _checks(lean)
    assert lean.meta["enforced_by_the_database"] == "unique (application_id); not null (risk_level, user_id)"


def test_without_the_key_the_uniqueness_check_comes_back() -> None:
    assert ("expect_column_values_to_be_unique", "transaction_id") in _checks(
        warehouse_suite("processed_transactions", Enforced(frozenset(), frozenset({"user_id"}))))
