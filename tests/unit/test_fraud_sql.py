"""The fraud job's SQL is rendered from the one rules module (no threshold of its own) and never
declares the ground-truth label fields."""

import sys
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "jobs"))

import fraud_detection  # noqa: E402

from credit_platform.rules.fraud import FraudRules  # noqa: E402
from credit_platform.rules.lending import LendingPolicy  # noqa: E402


def test_thresholds_come_from_the_rules_module():
    rules = FraudRules(velocity_window_minutes=7, velocity_min_applications=9, device_min_users=11,
                       travel_max_speed_kmh=777, spike_factor=3.5, spike_history=4)
    policy = LendingPolicy(fraud_large_loan_amount=Decimal("20000"), fraud_low_credit_score=480)
    sql = fraud_detection.rule_queries(rules, policy)
    assert "loan_amount > 20000 AND credit_score < 480" in sql["large_loan_low_score"]
    assert "INTERVAL '7' MINUTE" in sql["application_velocity"] and "n >= 9" in sql["application_velocity"]
    assert "n >= 11" in sql["shared_device"]
    assert "> 777 * GREATEST" in sql["impossible_travel"]
    assert "ROWS BETWEEN 4 PRECEDING" in sql["amount_spike"] and "3.5 * prev_avg" in sql["amount_spike"]


def test_job_never_reads_the_labels():
    args = fraud_detection.parse_args([])
    ddl = " ".join(fraud_detection.kafka_ddl(args))
    assert "is_fraud" not in ddl and "fraud_pattern" not in ddl
