"""The Flink session cluster runs a PyFlink job that reads and writes Kafka through the connector jar."""

from __future__ import annotations

import time
import uuid

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

from credit_platform.contracts.names import KAFKA_ADMIN
from credit_platform.platform.process import wait_until
from credit_platform.stream import flink

pytestmark = pytest.mark.integration


def test_cluster_has_a_taskmanager_with_slots(platform):
    overview = flink._rest(platform, "/overview")
    assert overview["taskmanagers"] >= 1
    assert overview["slots-total"] == platform.flink_task_slots


def test_pyflink_job_reads_kafka_runs_and_cancels(platform, flink_job_dir):
    run = uuid.uuid4().hex[:8]
    source, sink, name = f"probe_in_{run}", f"probe_out_{run}", f"kafka-probe-{run}"
    admin = KafkaAdminClient(**platform.kafka(KAFKA_ADMIN))
    admin.create_topics([NewTopic(source, 1, 1), NewTopic(sink, 1, 1)])
    producer = KafkaProducer(**platform.kafka(KAFKA_ADMIN), acks="all")
    for i in range(5):
        producer.send(source, f"event-{i}".encode())
    producer.flush()

    job_id = flink.submit_python_job(platform, flink_job_dir / "kafka_copy.py", "--bootstrap",
                                     platform.kafka_bootstrap, "--source", source, "--sink", sink, "--name", name)
    try:
        assert wait_until(lambda: flink.job_state(platform, job_id) == "RUNNING", timeout=120)
        found = flink.find_job(platform, name)
        assert found is not None and found["jid"] == job_id and found["state"] == "RUNNING"

        consumer = KafkaConsumer(sink, **platform.kafka(KAFKA_ADMIN), auto_offset_reset="earliest",
                                 consumer_timeout_ms=5_000)
        seen: list[str] = []
        deadline = time.monotonic() + 90
        while len(seen) < 5 and time.monotonic() < deadline:
            seen += [m.value.decode() for m in consumer]
        consumer.close()
        assert sorted(seen) == [f"EVENT-{i}" for i in range(5)]
    finally:
        flink.cancel(platform, job_id)
        assert wait_until(lambda: flink.job_state(platform, job_id) == "CANCELED", timeout=60)
        admin.delete_topics([source, sink])
        admin.close()
        producer.close()
