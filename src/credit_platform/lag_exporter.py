"""Kafka consumer-lag exporter for Prometheus (kafka-python; no package fitted Kafka 4 + KRaft here).

On every scrape it reads, for each consumer group of the platform, the committed offset and the
topic's end offset per partition:

- `kafka_consumergroup_lag{group,topic,partition}`: end offset − committed offset
- `kafka_consumergroup_lag_sum{group,topic}`: the same summed over partitions
- `kafka_topic_end_offset{topic,partition}`: records ever written (rate() of it = throughput in)
- `kafka_consumergroup_committed_offset{group,topic,partition}`: rate() of it = throughput out
- `kafka_exporter_up`: 1 when Kafka answered the last scrape

    python -m credit_platform.lag_exporter [--port 9308]      (`credit-platform up` runs it)
"""

from __future__ import annotations

import argparse
import logging
import time

from credit_platform.config import Settings, load
from credit_platform.contracts import names
from credit_platform.contracts.names import ALL_TOPICS, INPUT_TOPICS, KAFKA_MONITOR, STREAM_TOPICS

# The platform's consumers: the Flink fraud job (commits on each checkpoint) and the landing.
GROUPS = {names.FRAUD_GROUP: STREAM_TOPICS, names.LANDING_GROUP: INPUT_TOPICS}

log = logging.getLogger(__name__)


class LagCollector:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._consumers: dict = {}

    def _consumer(self, group: str | None):  # noqa: ANN202
        from kafka import KafkaConsumer

        if group not in self._consumers:
            self._consumers[group] = KafkaConsumer(**self.settings.kafka(KAFKA_MONITOR), group_id=group,
                                                   enable_auto_commit=False, request_timeout_ms=10_000,
                                                   client_id=f"lag-exporter-{group or 'topics'}")
        return self._consumers[group]

    def close(self) -> None:
        for consumer in self._consumers.values():
            consumer.close()
        self._consumers.clear()

    def collect(self):  # noqa: ANN201
        from kafka import TopicPartition
        from prometheus_client.core import GaugeMetricFamily

        up = GaugeMetricFamily("kafka_exporter_up", "1 when Kafka answered the last scrape")
        lag = GaugeMetricFamily("kafka_consumergroup_lag", "End offset minus committed offset",
                                labels=["group", "topic", "partition"])
        lag_sum = GaugeMetricFamily("kafka_consumergroup_lag_sum", "Lag summed over partitions",
                                    labels=["group", "topic"])
        committed_f = GaugeMetricFamily("kafka_consumergroup_committed_offset", "Committed offset",
                                        labels=["group", "topic", "partition"])
        end_f = GaugeMetricFamily("kafka_topic_end_offset", "End offset (records ever written)",
                                  labels=["topic", "partition"])
        try:
            topics = self._consumer(None)
            partitions = [TopicPartition(t, p) for t in ALL_TOPICS
                          for p in sorted(topics.partitions_for_topic(t) or ())]
            ends = topics.end_offsets(partitions)
            for tp, offset in ends.items():
                end_f.add_metric([tp.topic, str(tp.partition)], offset)
            for group, group_topics in GROUPS.items():
                consumer = self._consumer(group)
                for topic in group_topics:
                    total = 0
                    for tp in (p for p in partitions if p.topic == topic):
                        committed = consumer.committed(tp)
                        if committed is None:
                            continue
                        behind = max(0, ends[tp] - committed)
                        total += behind
                        lag.add_metric([group, topic, str(tp.partition)], behind)
                        committed_f.add_metric([group, topic, str(tp.partition)], committed)
                    lag_sum.add_metric([group, topic], total)
            up.add_metric([], 1)
        except Exception as exc:  # noqa: BLE001 - a scrape must answer even when Kafka does not
            log.warning("lag scrape failed: %s", exc)
            up.add_metric([], 0)
        yield from (up, lag, lag_sum, committed_f, end_f)


def main(argv: list[str] | None = None) -> None:
    from prometheus_client import REGISTRY, start_http_server

    settings = load()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", type=int, default=settings.ports["lag_exporter"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.ERROR)
    REGISTRY.register(LagCollector(settings))
    start_http_server(args.port, addr=args.host)
    log.info("serving consumer lag on http://%s:%s/metrics", args.host, args.port)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
