"""The Flink fraud job on the real session cluster, Kafka and Mongo-protocol server: exactly the
alerts the rules define, once each, also across a TaskManager crash and a savepoint restart."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections import Counter
from datetime import UTC, datetime

import polars as pl
import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from pymongo import MongoClient

from credit_platform.contracts import names
from credit_platform.contracts.names import MONGO_DB
from credit_platform.ingest import generator, producer
from credit_platform.ingest.scenario import GeneratorConfig
from credit_platform.platform.process import wait_until
from credit_platform.platform.services.flink import FlinkTaskManager
from credit_platform.quality import detection_report
from credit_platform.rules.fraud import DEFAULT_FRAUD_RULES, reference_alerts
from credit_platform.rules.lending import LendingPolicy
from credit_platform.stream import flink, fraud_job

pytestmark = pytest.mark.integration


class FraudRun:
    """One isolated run: own topics (1 partition), consumer group, alert collection and job name."""

    def __init__(self, settings, count: int, seed: int) -> None:
        self.settings = settings
        run = uuid.uuid4().hex[:8]
        self.apps_topic, self.tx_topic = f"fraud_apps_{run}", f"fraud_tx_{run}"
        self.collection, self.name = f"alerts_{run}", f"fraud_detection_{run}"
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        admin.create_topics([NewTopic(t, 1, 1) for t in (self.apps_topic, self.tx_topic, f"{self.apps_topic}.dlq",
                                                          f"{self.tx_topic}.dlq")])
        admin.close()
        config = GeneratorConfig(seed=seed, fraud_share=0.05)
        self.apps = generator.generate("applications", count, config)
        self.txs = generator.generate("transactions", count, config)
        self.expected = reference_alerts(self.apps, self.txs)
        self.alerts = MongoClient(settings.mongo_uri)[MONGO_DB][self.collection]
        self.job_id: str | None = None

    def submit(self, restore_from: str | None = None) -> str:
        self.job_id = fraud_job.submit(
            self.settings, "--applications-topic", self.apps_topic, "--transactions-topic", self.tx_topic,
            "--collection", self.collection, "--group-id", self.name, "--checkpoint-interval", "2 s",
            name=self.name, restore_from=restore_from, from_latest_checkpoint=False)
        assert wait_until(lambda: fraud_job.status(self.settings, self.name).running, timeout=120)
        return self.job_id

    def produce(self, part: slice) -> None:
        for kind, frame, topic in (("credit_applications", self.apps, self.apps_topic),
                                   ("transactions", self.txs, self.tx_topic)):
            lines = generator.to_json_lines(frame[part]).splitlines()
            summary = producer.produce(self.settings, kind, lines, destination=topic, progress=False)
            assert summary.complete

    def finish(self) -> None:
        """A last event per topic stamped now (the contract refuses event times beyond the next hour):
        later than every generated event, so the watermark passes them all."""
        for kind, frame, topic, id_column in (("credit_applications", self.apps, self.apps_topic, "application_id"),
                                              ("transactions", self.txs, self.tx_topic, "transaction_id")):
            last = json.loads(generator.to_json_lines(frame[-1:]))
            last.update({id_column: f"SENTINEL-{topic}", "user_id": "U-sentinel", "device_id": "D-sentinel",
                         "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")})
            last.update({"loan_amount": 100.0} if kind == "credit_applications" else {"amount": 1.0})
            producer.produce(self.settings, kind, [json.dumps(last).encode()], destination=topic, progress=False)

    def wait_for_alerts(self, timeout: float = 240) -> set[str]:
        wait_until(lambda: self.alerts.count_documents({}) >= len(self.expected), timeout=timeout, interval=2)
        time.sleep(3)  # anything beyond the expected set would show up now
        return {d["_id"] for d in self.alerts.find({}, {"_id": 1})}

    def checkpoints_completed(self) -> int:
        return flink._rest(self.settings, f"/jobs/{self.job_id}/checkpoints")["counts"]["completed"]

    def close(self) -> None:
        current = fraud_job.status(self.settings, self.name)
        if current.job_id and current.state in flink.ACTIVE_STATES:
            flink.cancel(self.settings, current.job_id)
        self.alerts.drop()
        admin = KafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap)
        admin.delete_topics([self.apps_topic, self.tx_topic, f"{self.apps_topic}.dlq", f"{self.tx_topic}.dlq"])
        admin.close()


@pytest.fixture
def fraud_run(platform, request):
    count, seed = request.param
    run = FraudRun(platform, count, seed)
    yield run
    run.close()


def by_rule(ids: set[str]) -> Counter:
    return Counter(i.split(":")[0] for i in ids)


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
