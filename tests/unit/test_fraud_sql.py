"""The fraud job's SQL is rendered from the one rules module (no threshold of its own), takes its
live thresholds from the rules' versioned table, and never declares the ground-truth label fields;
a change of the governed rules is checked before it is stored."""

import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "jobs"))

import fraud_detection  # noqa: E402

from credit_platform.rules.fraud import (  # noqa: E402
    DEFAULT_FRAUD_RULES,
    RULES,
    SETTINGS,
    FraudRules,
    rules_ddl,
    rules_from_document,
    rules_to_document,
)
from credit_platform.rules.fraud_store import PAST_SLACK, RulesVersion, propose, redeploy_settings  # noqa: E402


def test_windows_come_from_the_deployed_rules_and_thresholds_from_the_versioned_table():
    rules = FraudRules(velocity_window_minutes=7, velocity_min_applications=9, device_min_users=11,
                       travel_max_speed_kmh=777, spike_factor=3.5, spike_history=4,
                       large_loan_amount=Decimal("20000"), low_credit_score=480, merchant_window_minutes=2 * 1440 + 61)
    sql = fraud_detection.rule_queries(rules)
    velocity = sql["application_velocity"]
    assert "INTERVAL '0 00:07:00' DAY TO SECOND" in velocity and "n >= velocity_min_applications" in velocity
    for rule in ("amount_spike", "account_takeover", "compromised_merchant"):  # the average of the last 4
        assert "LAG(amount, 4) OVER v AS amount_4" in sql[rule] and "LAG(amount, 5)" not in sql[rule]
    assert "spike_factor * prev_avg" in sql["amount_spike"]
    assert "loan_amount > large_loan_amount AND" in " ".join(sql["large_loan_low_score"].split())
    assert "INTERVAL '2 01:01:00' DAY TO SECOND" in sql["compromised_merchant"]  # windows longer than 99 minutes
    for rule in RULES:
        assert f"{rule}_enabled" in sql[rule]
    # an event no version covers is judged by the deployed settings
    views = " ".join(rules_ddl("'connector' = 'datagen'", rules))
    assert "COALESCE(r.`large_loan_amount`, CAST(20000 AS DECIMAL(14, 2)))" in views
    assert "COALESCE(r.`device_min_users`, CAST(11 AS INT))" in views
    assert "FOR SYSTEM_TIME AS OF e.event_time" in views


def test_job_never_reads_the_labels():
    args = fraud_detection.parse_args([])
    ddl = " ".join(fraud_detection.kafka_ddl(args))
    assert "is_fraud" not in ddl and "fraud_pattern" not in ddl


def test_rules_document_round_trip_and_every_setting_is_named_once():
    assert len({s.name for s in SETTINGS}) == len(SETTINGS)
    assert rules_from_document(rules_to_document(DEFAULT_FRAUD_RULES)) == DEFAULT_FRAUD_RULES
    assert {s.name for s in SETTINGS if not s.live} == {
        "application_velocity.window_minutes", "shared_device.window_minutes", "amount_spike.history",
        "card_testing.window_minutes", "account_takeover.window_minutes", "compromised_merchant.window_minutes"}


NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _v1() -> list[RulesVersion]:
    return [RulesVersion(1, datetime(1970, 1, 1, tzinfo=UTC), DEFAULT_FRAUD_RULES, "seed", "platform", NOW)]


def test_a_change_becomes_the_next_version_with_what_it_changed():
    v2 = propose(_v1(), {"application_velocity.min_applications": "3", "shared_device.enabled": "off"},
                 "bursts on the partner channel", "fraud lead", now=NOW)
    assert v2.version == 2 and v2.effective_from == NOW
    assert v2.rules.velocity_min_applications == 3 and v2.rules.shared_device_enabled is False
    assert v2.changes == {"application_velocity.min_applications": [4, 3], "shared_device.enabled": [True, False]}
    assert redeploy_settings(v2) == []
    v3 = propose([*_v1(), v2], {"amount_spike.history": "7"}, "longer history", "fraud lead", now=NOW)
    assert v3.rules.velocity_min_applications == 3 and redeploy_settings(v3) == ["amount_spike.history"]


@pytest.mark.parametrize(("changes", "kwargs", "says"), [
    ({"application_velocity.min_applications": "3"}, {"reason": ""}, "`reason` is required"),
    ({"application_velocity.min_applications": "3"}, {"approved_by": " "}, "`approved_by` is required"),
    ({"application_velocity.min_applications": "3"}, {"reason": "a\x00b"}, "control characters"),
    ({}, {}, "no setting given"),
    ({"application_velocity.min_aplications": "3"}, {}, "unknown setting"),
    ({"application_velocity.min_applications": "4"}, {}, "nothing changes"),
    ({"application_velocity.min_applications": "1"}, {}, "outside 2..1000"),
    ({"application_velocity.min_applications": "3.5"}, {}, "not a whole number"),
    ({"impossible_travel.max_speed_kmh": "Infinity"}, {}, "not a finite number"),
    ({"impossible_travel.max_speed_kmh": "NaN"}, {}, "not a finite number"),
    ({"amount_spike.factor": "fast"}, {}, "not a number"),
    ({"large_loan_low_score.loan_amount_above": "15000.001"}, {}, "more than 2 decimals"),
    ({"shared_device.enabled": "maybe"}, {}, "not true or false"),
    ({"shared_device.enabled": "off"}, {"effective_from": NOW - PAST_SLACK - timedelta(seconds=1)}, "in the past"),
    ({"shared_device.enabled": "off"}, {"effective_from": NOW + timedelta(days=400)}, "days ahead"),
])
def test_a_change_is_refused_with_what_is_wrong(changes, kwargs, says):
    arguments = {"reason": "why", "approved_by": "who", **kwargs}
    with pytest.raises(ValueError, match=says):
        propose(_v1(), changes, arguments["reason"], arguments["approved_by"], arguments.get("effective_from"),
                now=NOW)


def test_versions_take_effect_in_order():
    later = propose(_v1(), {"shared_device.enabled": "off"}, "why", "who", NOW + timedelta(days=2), now=NOW)
    with pytest.raises(ValueError, match="before version 2"):
        propose([*_v1(), later], {"shared_device.enabled": "on"}, "why", "who", NOW + timedelta(days=1), now=NOW)


def test_the_job_joins_each_event_table_with_the_rules_version_once(tmp_path):
    """Each rule narrows `<table>_ruled` to its own columns; planned as they are written, each would
    get its own temporal join (every event buffered in state once per rule). The job plans the join
    once per event table (`share_version_joins`): the alerts then hold only the score's own join."""
    import re

    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.table import EnvironmentSettings, StreamTableEnvironment

    from credit_platform.rules.fraud import source_ddl

    def joins(shared: bool) -> int:
        t_env = StreamTableEnvironment.create(StreamExecutionEnvironment.get_execution_environment(),
                                              EnvironmentSettings.in_streaming_mode())
        options = {}
        for name in ("applications", "transactions", "rules"):
            (tmp_path / name).mkdir(exist_ok=True)
            options[name] = f"'connector' = 'filesystem', 'path' = '{tmp_path / name}'"
        ddl = source_ddl({k: options[k] for k in ("applications", "transactions")}, 500, plain_json=True)
        for statement in ddl + rules_ddl(options["rules"]):
            t_env.execute_sql(statement)
        if shared:
            fraud_detection.share_version_joins(t_env)
        alerts = " UNION ALL ".join(f"({q})" for q in fraud_detection.rule_queries().values())
        plan = t_env.explain_sql(f"SELECT * FROM ({alerts})").split("== Optimized Execution Plan ==")[-1]
        return len(re.findall(r"TemporalJoin\(", plan))

    assert joins(shared=False) > len(fraud_detection.STREAM_TABLES) + 1  # one per rule and the score's
    assert joins(shared=True) == 1  # the score's, over its feature rows


def test_align_drift_aligns_the_two_event_topics_only_when_asked():
    plain = " ".join(fraud_detection.kafka_ddl(fraud_detection.parse_args([])))
    assert "alignment" not in plain  # live, a quiet topic must not hold back the other's reading
    ddl = fraud_detection.kafka_ddl(fraud_detection.parse_args(["--align-drift", "5 s"]))
    aligned = [d for d in ddl if "'scan.watermark.alignment.group' = 'event-topics'" in d]
    assert sorted(d.split("(")[0].split()[-1] for d in aligned) == ["applications_in", "transactions_in"]
    assert all("'scan.watermark.alignment.max-drift' = '5 s'" in d for d in aligned)
    for bad in ("5 s'", "0 s", "five", "5 days"):
        with pytest.raises(SystemExit):
            fraud_detection.parse_args(["--align-drift", bad])
