"""Producer throughput into the local broker, against Kafka's own producer performance tool.

Needs a running platform (`credit-platform up`). All three runs use the same broker, acks=all,
the same partitions and the same record size (the mean size of a generated transaction):

  1. Kafka's ProducerPerformance (Java, from the broker jars): the broker's ceiling here
  2. kafka-python send() alone, no validation: the client library's ceiling
  3. credit_platform.producer: validation + keyed send + DLQ handling, what `produce` runs

It then profiles run 2 to show where kafka-python spends its time.

    .venv/bin/python bench/producer_bench.py [--records 200000]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import subprocess
import time
import uuid

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from credit_platform import config
from credit_platform.contracts.names import KAFKA_ADMIN, KAFKA_PRODUCER, TRANSACTIONS_TOPIC
from credit_platform.ingest import generator, producer
from credit_platform.ingest.scenario import GeneratorConfig
from credit_platform.platform.process import private_file


def kafka_tool(settings: config.Settings, topic: str, records: int, size: int) -> float:
    login = settings.home / "bench-producer.properties"  # the password stays off the command line
    private_file(login).write_text("".join(f"{k}={v}\n" for k, v in settings.kafka_java(KAFKA_PRODUCER).items()))
    out = subprocess.run(
        ["java", "-Xmx512m", "-cp", f"{settings.jars_dir / 'kafka'}/*",
         f"-Dlog4j2.configurationFile={settings.service_dir('kafka') / 'log4j2.properties'}",
         "org.apache.kafka.tools.ProducerPerformance", "--topic", topic, "--num-records", str(records),
         "--record-size", str(size), "--throughput", "-1", "--producer.config", str(login), "--producer-props",
         f"bootstrap.servers={settings.kafka_bootstrap}", "acks=all", "linger.ms=20", "batch.size=524288"],
        capture_output=True, text=True, check=True).stdout
    final = [line for line in out.splitlines() if "records sent" in line][-1]
    return float(re.search(r"([\d.]+) records/sec", final).group(1))


def kafka_python_send(settings: config.Settings, topic: str, lines: list[bytes]) -> float:
    client = KafkaProducer(**settings.kafka(KAFKA_PRODUCER), acks="all", linger_ms=20,
                           batch_size=512 * 1024, max_request_size=4 * 1024 * 1024)
    started = time.perf_counter()
    for i, line in enumerate(lines):
        client.send(topic, value=line, partition=i % 3)
    client.flush()
    elapsed = time.perf_counter() - started
    client.close()
    return len(lines) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    args = parser.parse_args()
    settings = config.load()
    run = uuid.uuid4().hex[:6]
    # named after the input topic: the producer's Kafka user may write that family only
    topics = [f"{TRANSACTIONS_TOPIC}.bench-{name}-{run}" for name in ("java", "kp", "ours", "profile")]
    admin = KafkaAdminClient(**settings.kafka(KAFKA_ADMIN))
    admin.create_topics([NewTopic(t, 3, 1) for t in topics] + [NewTopic(f"{topics[2]}.dlq", 1, 1)])
    try:
        lines = generator.to_json_lines(generator.generate("transactions", args.records,
                                                           GeneratorConfig(seed=7))).splitlines()
        size = round(sum(map(len, lines)) / len(lines))
        print(f"{args.records:,} records of {size} bytes (mean), acks=all, 3 partitions, broker "
              f"{settings.kafka_bootstrap}\n")
        java = kafka_tool(settings, topics[0], args.records, size)
        raw = kafka_python_send(settings, topics[1], lines)
        summary = producer.produce(settings, "transactions", lines, destination=topics[2], progress=False)
        assert summary.complete and summary.sent == args.records
        ours = summary.rate
        print(f"{'run':<48} {'records/s':>12} {'vs Kafka tool':>14}")
        for name, rate in (("Kafka ProducerPerformance (Java)", java), ("kafka-python send() only", raw),
                           ("credit-platform produce (validate + send)", ours)):
            print(f"{name:<48} {rate:>12,.0f} {rate / java:>13.2f}x")

        profiler = cProfile.Profile()
        profiler.enable()
        kafka_python_send(settings, topics[3], lines[:50_000])
        profiler.disable()
        report = io.StringIO()
        stats = pstats.Stats(profiler, stream=report).sort_stats("tottime")
        total = sum(row[2] for row in stats.stats.values())
        print("\nwhere kafka-python's time goes (send of 50,000 records, own time per function):")
        for (file, line, func), row in sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:8]:
            where = file.split("site-packages/")[-1]
            print(f"  {100 * row[2] / total:5.1f}%  {func:<28} {where}:{line}")
    finally:
        admin.delete_topics(topics + [f"{topics[2]}.dlq"])
        admin.close()


if __name__ == "__main__":
    main()
