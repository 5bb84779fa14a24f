"""Validated ingestion against the real broker and warehouse: valid records reach the topic in
order per key; every invalid one reaches the DLQ and data_quality_issues with a reason; a broker
restart mid-run loses nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict

import psycopg
import pytest
from kafka import KafkaConsumer, TopicPartition

from credit_platform.contracts.names import KAFKA_ADMIN, ROLE_SUPERUSER, dlq_topic
from credit_platform.ingest import generator, producer
from credit_platform.ingest.scenario import GeneratorConfig
from credit_platform.metrics import read_pushgateway
from credit_platform.platform.services.kafka import Kafka

pytestmark = pytest.mark.integration


def consume_all(settings, topic: str, expected: int, timeout: float = 60) -> list:
    consumer = KafkaConsumer(**settings.kafka(KAFKA_ADMIN), enable_auto_commit=False,
                             auto_offset_reset="earliest", consumer_timeout_ms=3_000)
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    records = []
    deadline = time.monotonic() + timeout
    while len(records) < expected and time.monotonic() < deadline:
        records.extend(consumer)
    records.extend(consumer)  # anything beyond the expected count would be a duplicate
    consumer.close()
    return records


def application(i: int, user: str, **overrides) -> bytes:
    event = {"schema_version": 1, "application_id": f"APP-MIX-{i}", "user_id": user, "credit_score": 700,
             "loan_amount": 1000.0 + i, "timestamp": f"2026-01-01T00:00:{i:02d}.000Z", "annual_income": 50000.0,
             "loan_term_months": 36, "loan_purpose": "car", "employment_status": "employed", "channel": "web",
             "device_id": "D1", "city": "Austin", "latitude": 30.2, "longitude": -97.7}
    event.update(overrides)
    for key in [k for k, v in overrides.items() if v is ...]:
        del event[key]
    return json.dumps(event).encode()


def test_mixed_file_valid_to_topic_in_order_invalid_to_dlq_and_warehouse(platform, topic, tmp_path):
    lines = [
        application(1, "U1"),
        b"{this is not json",
        application(2, "U2"),
        application(3, "U1", user_id=...),  # missing field
        application(4, "U1"),
        application(5, "U2", credit_score=900),
        application(6, "U2"),
        application(7, "U1", loan_amount=-250.0),
        application(8, "U1", credit_score="700"),  # wrong type
        application(9, "U2"),
        application(10, "U1"),
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    summary = producer.produce(platform, "credit_applications", producer.read_lines(path), destination=topic,
                               progress=False, source="test:mixed.jsonl")
    assert (summary.read, summary.sent, summary.invalid, summary.failed) == (11, 6, 5, 0)
    assert summary.complete

    valid = consume_all(platform, topic, 6)
    by_key: dict[bytes, list[str]] = defaultdict(list)
    for record in sorted(valid, key=lambda r: (r.partition, r.offset)):
        by_key[record.key].append(json.loads(record.value)["application_id"])
    assert dict(by_key) == {b"U1": ["APP-MIX-1", "APP-MIX-4", "APP-MIX-10"],
                            b"U2": ["APP-MIX-2", "APP-MIX-6", "APP-MIX-9"]}

    dead = [json.loads(r.value) for r in consume_all(platform, dlq_topic(topic), 5)]
    assert len(dead) == 5
    assert {d["raw_payload"].encode() for d in dead} == {lines[i] for i in (1, 3, 5, 7, 8)}
    reasons = {d["record_id"]: d["reason"] for d in dead}
    assert "Invalid JSON" in reasons["test:mixed.jsonl:line 2"]
    assert "user_id: Field required" in reasons["APP-MIX-3"]
    assert "credit_score: Input should be less than or equal to 850 (got 900)" in reasons["APP-MIX-5"]
    assert "loan_amount: Input should be greater than 0" in reasons["APP-MIX-7"]
    assert "credit_score: Input should be a valid integer (got '700')" in reasons["APP-MIX-8"]

    with psycopg.connect(platform.postgres_uri(ROLE_SUPERUSER)) as conn:
        rows = conn.execute("SELECT record_id, issue, column_name, rule, table_name, raw_payload "
                            "FROM data_quality_issues WHERE run_id = %s", (summary.run_id,)).fetchall()
    assert {r[0] for r in rows} == set(reasons)
    assert all(r[1] and r[3] and r[4] == topic and r[5] for r in rows)
    assert ("APP-MIX-5", "credit_score", "less_than_equal") in {(r[0], r[2], r[3]) for r in rows}


def test_broker_restart_during_produce_loses_nothing(platform, topic, tmp_path):
    frame = generator.generate("transactions", 30_000, GeneratorConfig(seed=99))
    path = tmp_path / "tx.jsonl"
    generator.write_json_lines(frame, path)
    kafka = Kafka(platform)
    restarted = threading.Event()

    def restart_broker() -> None:
        time.sleep(2)
        kafka.stop()
        time.sleep(3)  # records pile up in the producer while the broker is away
        kafka.start()
        restarted.set()

    thread = threading.Thread(target=restart_broker)
    thread.start()
    summary = producer.produce(platform, "transactions", producer.read_lines(path), destination=topic,
                               rate=3_000, progress=False)
    thread.join()
    assert restarted.is_set()
    assert summary.complete and summary.sent == 30_000

    ids = [json.loads(r.value)["transaction_id"] for r in consume_all(platform, topic, 30_000, timeout=120)]
    assert len(ids) == 30_000, "lost or duplicated records"
    assert set(ids) == set(frame["transaction_id"].to_list())


def test_cli_generates_produces_and_exposes_metrics(platform):
    port = platform.ports["producer_metrics"]
    env = {**os.environ}
    proc = subprocess.Popen([sys.executable, "-m", "credit_platform", "produce", "--topic", "transactions",
                             "--generate", "20000", "--seed", "123", "--rate", "4000", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    scraped = ""
    deadline = time.monotonic() + 30
    while 'producer_records_sent_total{topic="transactions"}' not in scraped and time.monotonic() < deadline:
        time.sleep(1)
        try:
            scraped = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
        except OSError:
            pass
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert "read 20,000  sent 20,000  invalid 0" in out
    assert 'producer_records_sent_total{topic="transactions"}' in scraped
    pushed = read_pushgateway(platform)
    assert 'producer_records_sent_total{instance="",job="producer",topic="transactions"} 20000' in pushed


def test_unknown_topic_refused_by_cli(platform, tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text("{}\n")
    result = subprocess.run([sys.executable, "-m", "credit_platform", "produce", "--topic", "payments",
                             "--from-file", str(path)], capture_output=True, text=True)
    assert result.returncode == 2  # refused by the argument check, before Kafka is asked anything
    assert "invalid choice: 'payments'" in result.stderr
