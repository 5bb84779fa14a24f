"""An isolated run of the fraud job on the real platform, for the integration tests: topics,
consumer group, alert collection, rules (collection and topic) and job name of its own."""

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
    FRAUD_RULES_TOPIC,
    KAFKA_ADMIN,
    MONGO_DB,
    STREAM_DLQ_TOPIC,
    STREAM_LATE_TOPIC,
    TRANSACTIONS_TOPIC,
)
from credit_platform.ingest import generator, producer
from credit_platform.ingest.scenario import GeneratorConfig
from credit_platform.platform.process import wait_until
from credit_platform.rules.fraud import reference_alerts
from credit_platform.rules.fraud_store import RulesStore
from credit_platform.stream import flink, fraud_job


def partitions(admin: KafkaAdminClient, topic: str) -> list[dict]:
    """Each partition's number, leader, replicas and in-sync replicas (none while the broker asked
    has not been told of the topic)."""
    described = admin.describe_topics([topic])[0]["partitions"]
    return sorted(({"partition": p["partition_index"], "leader": p["leader_id"], "replicas": p["replica_nodes"],
                    "isr": p["isr_nodes"]} for p in described), key=lambda p: p["partition"])


def topics_ready(admin: KafkaAdminClient, counts: dict[str, int], replication: int) -> bool:
    """Every topic described with its `counts` partitions, each with a leader and every replica in sync."""
    for topic, count in counts.items():
        described = partitions(admin, topic)
        if len(described) != count or any(p["leader"] < 0 or len(p["isr"]) < replication for p in described):
            return False
    return True


class FraudRun:
    """One isolated run: own topics (input topics of `partitions` partitions, default 1), consumer
    group, alert collection and job name."""

    def __init__(self, settings, count: int, seed: int, partitions: int = 1, **scenario) -> None:  # noqa: ANN003
        self.settings = settings
        self.partitions = partitions
        run = uuid.uuid4().hex[:8]
        # named after the input topics and the fraud job's group: what the platform's Kafka users may use
        self.apps_topic, self.tx_topic = f"{APPLICATIONS_TOPIC}.test-{run}", f"{TRANSACTIONS_TOPIC}.test-{run}"
        self.group = f"{FRAUD_GROUP}-test-{run}"
        self.dlq_topic = f"{STREAM_DLQ_TOPIC}.test-{run}"
        self.late_topic = f"{STREAM_LATE_TOPIC}.test-{run}"
        self.collection, self.name = f"alerts_{run}", f"fraud_detection_{run}"
        self.rules_topic = f"{FRAUD_RULES_TOPIC}.test-{run}"
        admin = KafkaAdminClient(**settings.kafka(KAFKA_ADMIN))
        counts = {t: partitions if t in (self.apps_topic, self.tx_topic) else 1 for t in self._topics()}
        admin.create_topics([NewTopic(t, n, settings.kafka_replication) for t, n in counts.items()])
        # on three brokers, a job submitted before every replica exists fails its source's partition
        # discovery ("This server does not host this topic-partition")
        assert wait_until(lambda: topics_ready(admin, counts, settings.kafka_replication), timeout=60), counts
        admin.close()
        self.rules = RulesStore(settings, collection=f"rules_{run}", topic=self.rules_topic)
        self.rules.seed()
        if "starts_in" in scenario:  # events dated from a time relative to now
            scenario["start"] = datetime.now(UTC).replace(microsecond=0) + scenario.pop("starts_in")
        config = GeneratorConfig(**{"seed": seed, "fraud_share": 0.05, **scenario})
        self.start = config.start
        self.apps = generator.generate("applications", count, config)
        self.txs = generator.generate("transactions", count, config)
        self.expected = reference_alerts(self.apps, self.txs)
        self.alerts = MongoClient(settings.mongo_uri)[MONGO_DB][self.collection]
        self.job_id: str | None = None

    def _job_args(self) -> tuple[str, ...]:
        return ("--applications-topic", self.apps_topic, "--transactions-topic", self.tx_topic,
                "--collection", self.collection, "--group-id", self.group, "--checkpoint-interval", "2 s",
                "--dlq-topic", self.dlq_topic, "--late-topic", self.late_topic)

    def submit(self, *extra: str, restore_from: str | None = None) -> str:
        self.job_id = fraud_job.submit(self.settings, *self._job_args(), *extra, name=self.name,
                                       restore_from=restore_from, from_latest_checkpoint=False, rules=self.rules)
        assert wait_until(lambda: fraud_job.status(self.settings, self.name).running, timeout=120)
        return self.job_id

    def ensure_running(self) -> str:
        """What the supervisor does: keep the job running, redeployed if the rules' windows changed."""
        current, action = fraud_job.ensure_running(self.settings, *self._job_args(), name=self.name, rules=self.rules)
        self.job_id = current.job_id
        assert wait_until(lambda: fraud_job.status(self.settings, self.name).running, timeout=120)
        return action

    def produce(self, part: slice | tuple[datetime | None, datetime | None]) -> None:
        """The events of `part`: rows by position, or those dated in [from, to)."""
        import polars as pl

        for kind, frame, topic in (("credit_applications", self.apps, self.apps_topic),
                                   ("transactions", self.txs, self.tx_topic)):
            if isinstance(part, tuple):
                at = pl.col("timestamp").str.to_datetime(time_zone="UTC")
                frame = frame.filter((at >= (part[0] or datetime.min.replace(tzinfo=UTC)))
                                     & (at < (part[1] or datetime.max.replace(tzinfo=UTC))))
            else:
                frame = frame[part]
            lines = generator.to_json_lines(frame).splitlines()
            summary = producer.produce(self.settings, kind, lines, destination=topic, progress=False)
            assert summary.complete

    def finish(self, at: datetime | None = None) -> None:
        """A last event on every partition of each topic, stamped `at` (default now; the contract refuses
        event times beyond the next hour): later than every generated event, so the watermark of every
        partition, and with it the stream's, passes them all. Each of another customer and device."""
        stamp = (at or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        for kind, frame, topic, id_column in (("credit_applications", self.apps, self.apps_topic, "application_id"),
                                              ("transactions", self.txs, self.tx_topic, "transaction_id")):
            last = json.loads(generator.to_json_lines(frame[-1:]))
            last.update({"loan_amount": 100.0} if kind == "credit_applications" else {"amount": 1.0})
            lines = [json.dumps({**last, id_column: f"SENTINEL-{topic}-{user}", "user_id": user,
                                 "device_id": f"D-{user}", "timestamp": stamp}).encode()
                     for user in producer.keys_for_every_partition(self.partitions)]
            producer.produce(self.settings, kind, lines, destination=topic, progress=False)

    def wait_for_alerts(self, timeout: float = 240) -> set[str]:
        wait_until(lambda: self.alerts.count_documents({}) >= len(self.expected), timeout=timeout, interval=2)
        time.sleep(3)  # anything beyond the expected set would show up now
        return {d["_id"] for d in self.alerts.find({}, {"_id": 1})}

    def refused(self, at_least: int, timeout: float = 120, topic: str | None = None) -> list[dict]:
        """The envelopes the job sent to its dead-letter topic, or another of its own (once `at_least`
        are there)."""
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(**self.settings.kafka(KAFKA_ADMIN), enable_auto_commit=False)
        partition = TopicPartition(topic or self.dlq_topic, 0)
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
        return [self.apps_topic, self.tx_topic, f"{self.apps_topic}.dlq", f"{self.tx_topic}.dlq", self.dlq_topic,
                self.late_topic, self.rules_topic]

    def checkpoints_completed(self) -> int:
        return flink._rest(self.settings, f"/jobs/{self.job_id}/checkpoints")["counts"]["completed"]

    def close(self) -> None:
        current = fraud_job.status(self.settings, self.name)
        if current.job_id and current.state in flink.ACTIVE_STATES:
            flink.cancel(self.settings, current.job_id)
        self.alerts.drop()
        self.alerts.database[self.rules.collection_name].drop()
        admin = KafkaAdminClient(**self.settings.kafka(KAFKA_ADMIN))
        admin.delete_topics(self._topics())
        admin.close()


def by_rule(ids: set[str]) -> Counter:
    return Counter(i.split(":")[0] for i in ids)
