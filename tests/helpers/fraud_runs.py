"""An isolated run of the fraud job on the real platform, for the integration tests: topics,
consumer group, alert collection and job name of its own."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from datetime import UTC, datetime

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from pymongo import MongoClient

from credit_platform.contracts.names import (
    APPLICATIONS_TOPIC,
    FRAUD_GROUP,
    KAFKA_ADMIN,
    MONGO_DB,
    STREAM_DLQ_TOPIC,
    TRANSACTIONS_TOPIC,
)
from credit_platform.ingest import generator, producer
from credit_platform.ingest.scenario import GeneratorConfig
from credit_platform.platform.process import wait_until
from credit_platform.rules.fraud import reference_alerts
from credit_platform.stream import flink, fraud_job


class FraudRun:
    """One isolated run: own topics (1 partition), consumer group, alert collection and job name."""

    def __init__(self, settings, count: int, seed: int) -> None:
        self.settings = settings
        run = uuid.uuid4().hex[:8]
        # named after the input topics and the fraud job's group: what the platform's Kafka users may use
        self.apps_topic, self.tx_topic = f"{APPLICATIONS_TOPIC}.test-{run}", f"{TRANSACTIONS_TOPIC}.test-{run}"
        self.group = f"{FRAUD_GROUP}-test-{run}"
        self.dlq_topic = f"{STREAM_DLQ_TOPIC}.test-{run}"
        self.collection, self.name = f"alerts_{run}", f"fraud_detection_{run}"
        admin = KafkaAdminClient(**settings.kafka(KAFKA_ADMIN))
        admin.create_topics([NewTopic(t, 1, 1) for t in self._topics()])
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
            "--collection", self.collection, "--group-id", self.group, "--checkpoint-interval", "2 s",
            "--dlq-topic", self.dlq_topic,
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

    def refused(self, at_least: int, timeout: float = 120) -> list[dict]:
        """The envelopes the job sent to its dead-letter topic (once `at_least` are there)."""
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(**self.settings.kafka(KAFKA_ADMIN), enable_auto_commit=False)
        partition = TopicPartition(self.dlq_topic, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        found: list[dict] = []
        deadline = time.monotonic() + timeout
        while len(found) < at_least and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1000).values():
                found += [json.loads(r.value) for r in records]
        consumer.close()
        return found

    def _topics(self) -> list[str]:
        return [self.apps_topic, self.tx_topic, f"{self.apps_topic}.dlq", f"{self.tx_topic}.dlq", self.dlq_topic]

    def checkpoints_completed(self) -> int:
        return flink._rest(self.settings, f"/jobs/{self.job_id}/checkpoints")["counts"]["completed"]

    def close(self) -> None:
        current = fraud_job.status(self.settings, self.name)
        if current.job_id and current.state in flink.ACTIVE_STATES:
            flink.cancel(self.settings, current.job_id)
        self.alerts.drop()
        admin = KafkaAdminClient(**self.settings.kafka(KAFKA_ADMIN))
        admin.delete_topics(self._topics())
        admin.close()


def by_rule(ids: set[str]) -> Counter:
    return Counter(i.split(":")[0] for i in ids)
