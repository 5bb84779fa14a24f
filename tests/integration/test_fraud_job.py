"""The Flink fraud job on the real session cluster, Kafka and Mongo-protocol server: exactly the
alerts the rules define, once each, also across a TaskManager crash and a savepoint restart."""

from __future__ import annotations

import os
import signal

import polars as pl
import pytest
from pymongo import MongoClient

from credit_platform.contracts import names
from credit_platform.contracts.names import MONGO_DB
from credit_platform.platform.process import wait_until
from credit_platform.platform.services.flink import FlinkTaskManager
from credit_platform.quality import detection_report
from credit_platform.rules.fraud import DEFAULT_FRAUD_RULES, reference_alerts
from credit_platform.rules.lending import LendingPolicy
from credit_platform.stream import flink, fraud_job
from tests.helpers.fraud_runs import by_rule

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("fraud_run", [(3_000, 5)], indirect=True)
def test_alerts_exactly_as_the_rules_define_each_once(fraud_run):
    fraud_run.submit()
    fraud_run.produce(slice(None))
    fraud_run.finish()
    got = fraud_run.wait_for_alerts()
    assert got == fraud_run.expected, (by_rule(fraud_run.expected - got), by_rule(got - fraud_run.expected))
    assert set(by_rule(got)) == set(detection_report.RULES)  # every rule fired
    assert fraud_run.alerts.count_documents({}) == len(got)

    # every qualifying event of the seed rule alerted, no other event by that rule
    seed_hits = fraud_run.apps.filter((pl.col("loan_amount") > 15000) & (pl.col("credit_score") < 450))
    assert {f"large_loan_low_score:{i}" for i in seed_hits["application_id"]} == {
        i for i in got if i.startswith("large_loan_low_score:")}

    # each stateful rule fires on its injected pattern and never on normal traffic
    truth = detection_report.labels(fraud_run.apps, fraud_run.txs)
    docs = list(fraud_run.alerts.find({}, {"event_id": 1, "rule": 1}))
    alerts = pl.DataFrame({"event_id": [d["event_id"] for d in docs], "rule": [d["rule"] for d in docs]})
    rules, patterns = detection_report.score(truth, alerts)
    for score in rules:
        assert score.precision == 1.0, score
        assert score.caught > 0, score
    doc = fraud_run.alerts.find_one({"rule": "impossible_travel"})
    assert doc["severity"] == "high" and " km from " in doc["reason"] and doc["event_id"] and doc["detected_at"]


@pytest.mark.parametrize("fraud_run", [(12_000, 6)], indirect=True)
def test_taskmanager_killed_mid_stream_recovers_without_loss_or_duplicates(fraud_run, platform):
    fraud_run.submit()
    fraud_run.produce(slice(0, 6_000))
    assert wait_until(lambda: fraud_run.alerts.count_documents({}) > 0 and fraud_run.checkpoints_completed() > 0,
                      timeout=120)
    taskmanager = FlinkTaskManager(platform)
    os.kill(taskmanager.pid(), signal.SIGKILL)
    assert wait_until(lambda: taskmanager.pid() is None, timeout=10)
    fraud_run.produce(slice(6_000, None))  # arrives while the job has no TaskManager
    taskmanager.start()
    fraud_run.finish()
    got = fraud_run.wait_for_alerts(timeout=300)
    assert got == fraud_run.expected, (by_rule(fraud_run.expected - got), by_rule(got - fraud_run.expected))
    assert fraud_run.alerts.count_documents({}) == len(fraud_run.expected)


@pytest.mark.parametrize("fraud_run", [(8_000, 7)], indirect=True)
def test_resubmitted_from_savepoint_continues_without_duplicates(fraud_run, platform):
    first = fraud_run.submit()
    fraud_run.produce(slice(0, 4_000))
    assert wait_until(lambda: fraud_run.alerts.count_documents({}) > 0, timeout=120)
    savepoint = fraud_job.stop(platform, fraud_run.name)
    assert savepoint and flink.job_state(platform, first) == "FINISHED"
    fraud_run.produce(slice(4_000, None))  # arrives while the job is stopped
    second = fraud_run.submit(restore_from=savepoint)
    assert second != first
    fraud_run.finish()
    got = fraud_run.wait_for_alerts()
    assert got == fraud_run.expected, (by_rule(fraud_run.expected - got), by_rule(got - fraud_run.expected))
    assert fraud_run.alerts.count_documents({}) == len(fraud_run.expected)


@pytest.mark.parametrize("fraud_run", [(2_000, 8)], indirect=True)
def test_the_stream_applies_the_seed_rule_thresholds_of_the_governed_policy(fraud_run, platform):
    """An approved override of the seed fraud rule in MongoDB `policies` changes the stream's alerts
    (read when the job is submitted), as it changes the nightly Spark job's thresholds."""
    override = {"fraud_large_loan_amount": 12000, "fraud_low_credit_score": 520}
    policies = MongoClient(platform.mongo_uri)[MONGO_DB][names.POLICIES_COLLECTION]
    original = policies.find_one({"_id": names.LENDING_POLICY_ID})
    thresholds = {**original["thresholds"], **override}
    policies.update_one({"_id": names.LENDING_POLICY_ID},
                        {"$set": {"thresholds": thresholds, "version": original["version"] + 1}})
    try:
        fraud_run.submit()
    finally:
        policies.replace_one({"_id": names.LENDING_POLICY_ID}, original)
    policy = LendingPolicy.from_document(thresholds)
    expected = reference_alerts(fraud_run.apps, fraud_run.txs, DEFAULT_FRAUD_RULES, policy)
    assert expected != fraud_run.expected  # the override matters on this data
    fraud_run.expected = expected
    fraud_run.produce(slice(None))
    fraud_run.finish()
    got = fraud_run.wait_for_alerts()
    assert got == expected, (by_rule(expected - got), by_rule(got - expected))
    seed = {i for i in got if i.startswith("large_loan_low_score:")}
    hits = fraud_run.apps.filter((pl.col("loan_amount") > 12000) & (pl.col("credit_score") < 520))
    assert seed == {f"large_loan_low_score:{i}" for i in hits["application_id"]}
    reason = fraud_run.alerts.find_one({"rule": "large_loan_low_score"})["reason"]
    assert "> 12000 with credit score" in reason and "< 520" in reason
