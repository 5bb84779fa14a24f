"""The local Kafka broker (KRaft) carries messages and refuses unknown topics."""

from __future__ import annotations

import uuid

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaTimeoutError

from credit_platform.contracts.names import ALL_TOPICS, FRAUD_RULES_TOPIC, KAFKA_ADMIN

pytestmark = pytest.mark.integration


def test_contract_topics_exist_with_partitions(platform):
    """Every contract topic; the governed fraud rules' in one compacted partition (every version, in order)."""
    from kafka.admin import ConfigResource, ConfigResourceType

    admin = KafkaAdminClient(**platform.kafka(KAFKA_ADMIN))
    try:
        described = {d["name"]: d for d in admin.describe_topics(list(ALL_TOPICS))}
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, FRAUD_RULES_TOPIC)])
    finally:
        admin.close()
    for topic in ALL_TOPICS:
        want = 1 if topic == FRAUD_RULES_TOPIC else platform.kafka_partitions
        assert len(described[topic]["partitions"]) == want, topic
    assert configs["topic"][FRAUD_RULES_TOPIC]["cleanup.policy"]["value"] == "compact"


def test_produce_and_consume_round_trip(platform):
    marker = uuid.uuid4().hex
    producer = KafkaProducer(**platform.kafka(KAFKA_ADMIN), acks="all")
    meta = producer.send("transactions", key=b"user-probe", value=marker.encode()).get(timeout=30)
    producer.close()

    consumer = KafkaConsumer(**platform.kafka(KAFKA_ADMIN), enable_auto_commit=False,
                             consumer_timeout_ms=10_000)
    tp = TopicPartition("transactions", meta.partition)
    consumer.assign([tp])
    consumer.seek(tp, meta.offset)
    got = next(iter(consumer))
    consumer.close()
    assert got.value.decode() == marker
    assert got.key == b"user-probe"


def test_unknown_topic_is_refused(platform):
    producer = KafkaProducer(**platform.kafka(KAFKA_ADMIN), max_block_ms=3000)
    try:
        with pytest.raises(KafkaTimeoutError):
            producer.send(f"no_such_topic_{uuid.uuid4().hex[:8]}", b"x").get(timeout=10)
    finally:
        producer.close(timeout=2)


def test_the_producer_compresses_its_batches_and_every_record_comes_back_whole(platform):
    """`produce` sends zstd batches (the default of CP_KAFKA_COMPRESSION): the broker keeps them
    compressed, and a consumer reads back exactly the records sent."""
    from kafka.admin import NewTopic

    from credit_platform.contracts.names import TRANSACTIONS_TOPIC
    from credit_platform.ingest import generator, producer
    from credit_platform.ingest.scenario import GeneratorConfig

    topic = f"{TRANSACTIONS_TOPIC}.compressed-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(**platform.kafka(KAFKA_ADMIN))
    admin.create_topics([NewTopic(topic, 1, 1), NewTopic(f"{topic}.dlq", 1, 1)])
    try:
        lines = generator.to_json_lines(generator.generate("transactions", 2_000, GeneratorConfig(seed=5))).splitlines()
        lines = [line if isinstance(line, bytes) else line.encode() for line in lines]
        summary = producer.produce(platform, TRANSACTIONS_TOPIC, lines, destination=topic, progress=False,
                                   compression="zstd")
        assert summary.complete and summary.sent == len(lines), summary.render()
        stored = sum(f.stat().st_size for f in (platform.service_dir("kafka") / "data" / f"{topic}-0").glob("*.log"))
        assert 0 < stored < sum(map(len, lines)) / 4, stored
        consumer = KafkaConsumer(**platform.kafka(KAFKA_ADMIN), enable_auto_commit=False, consumer_timeout_ms=10_000,
                                 auto_offset_reset="earliest")
        consumer.assign([TopicPartition(topic, 0)])
        got = [message.value for message in consumer]
        consumer.close()
        assert got == lines
    finally:
        admin.delete_topics([topic, f"{topic}.dlq"])
        admin.close()
