"""Producer throughput into the local broker, against kafka-python alone and Kafka's own tool.

Needs a running platform (`credit-platform up`). Every run uses the same broker, acks=all,
idempotence, the same records, keys and partitions (Kafka's tool: the same count and mean size):

  1. Kafka's ProducerPerformance (Java, from the broker jars): the broker's ceiling here
  2. kafka-python send() of the same keyed records, nothing else: the client library's ceiling,
     with Python's default garbage-collector settings (what a plain script gets), and again with
     the producer's (`producer.YOUNG_GC_THRESHOLD`)
  3. credit_platform.producer: validation + keyed send + DLQ handling, what `produce` runs (its
     batches zstd-compressed, `CP_KAFKA_COMPRESSION`); again with the collector's default
     thresholds (what it ran with before), and again without compression

kafka-python's rows and Kafka's tool compress nothing; the producer's rows compress as shipped
unless they say otherwise. Then the bytes each record takes in the broker's log, compressed and not
(the local broker's files), validation alone per record (the compiled `Screen` against the pydantic
model) and where kafka-python's own time goes (a profile of run 2).

    .venv/bin/python bench/producer_bench.py [--records 200000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import re
import subprocess
import time
import uuid

import orjson
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from credit_platform import config
from credit_platform.contracts.events import Screen, contract_for
from credit_platform.contracts.names import KAFKA_ADMIN, KAFKA_PRODUCER, TRANSACTIONS_TOPIC
from credit_platform.ingest import generator, producer
from credit_platform.ingest.scenario import GeneratorConfig
from credit_platform.platform.process import private_file

DEFAULT_YOUNG_GC = gc.get_threshold()[0]  # this interpreter's own, before any run changes it


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


def kafka_python_send(settings: config.Settings, topic: str, records: list[tuple[bytes, bytes, int]],
                      young_gc: int | None = None) -> float:
    client = KafkaProducer(**settings.kafka(KAFKA_PRODUCER), acks="all", enable_idempotence=True, linger_ms=20,
                           batch_size=512 * 1024, max_request_size=4 * 1024 * 1024)
    thresholds = gc.get_threshold()
    if young_gc:
        gc.set_threshold(young_gc, *thresholds[1:])
    try:
        started = time.perf_counter()
        for key, value, partition in records:
            client.send(topic, key=key, value=value, partition=partition)
        client.flush()
        elapsed = time.perf_counter() - started
    finally:
        gc.set_threshold(*thresholds)
    client.close()
    return len(records) / elapsed


def ours(settings: config.Settings, topic: str, lines: list[bytes], young_gc: int, compression: str | None = None
         ) -> float:
    default, producer.YOUNG_GC_THRESHOLD = producer.YOUNG_GC_THRESHOLD, young_gc
    try:
        summary = producer.produce(settings, TRANSACTIONS_TOPIC, lines, destination=topic, progress=False,
                                   compression=compression)
    finally:
        producer.YOUNG_GC_THRESHOLD = default
    assert summary.complete and summary.sent == len(lines), summary.render()
    return summary.rate


def log_bytes(settings: config.Settings, topic: str) -> int:
    """Bytes of a topic's log segments on the local broker."""
    data = settings.service_dir("kafka") / "data"
    return sum(f.stat().st_size for d in data.glob(f"{topic}-*") for f in d.glob("*.log"))


def per_record_us(check, lines: list[bytes]) -> float:  # noqa: ANN001
    started = time.perf_counter()
    for line in lines:
        check(line)
    return (time.perf_counter() - started) / len(lines) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each Python row; the best is shown")
    args = parser.parse_args()
    settings = config.load()
    run = uuid.uuid4().hex[:6]
    # named after the input topic: the producer's Kafka user may write that family only
    topics = [f"{TRANSACTIONS_TOPIC}.bench-{name}-{run}" for name in ("java", "kp", "ours", "profile", "plain",
                                                                      "bytes-zstd", "bytes-none")]
    ours_topics = [topics[2], *topics[4:]]
    admin = KafkaAdminClient(**settings.kafka(KAFKA_ADMIN))
    admin.create_topics([NewTopic(t, 3, 1) for t in topics] + [NewTopic(f"{t}.dlq", 1, 1) for t in ours_topics])
    try:
        lines = generator.to_json_lines(generator.generate("transactions", args.records,
                                                           GeneratorConfig(seed=7))).splitlines()
        partition_of = producer.partitioner([0, 1, 2])
        keys = [orjson.loads(line)["user_id"].encode() for line in lines]
        records = [(key, line, partition_of(key)) for key, line in zip(keys, lines, strict=True)]
        size = round(sum(map(len, lines)) / len(lines))
        print(f"{args.records:,} records of {size} bytes (mean), acks=all, idempotent, 3 partitions, broker "
              f"{settings.kafka_bootstrap}; best of {args.repeat} for each Python row\n")
        java = kafka_tool(settings, topics[0], args.records, size)
        young = producer.YOUNG_GC_THRESHOLD
        rows: dict[str, float] = {}
        runs = (("kafka-python send() only, default gc", lambda: kafka_python_send(settings, topics[1], records)),
                (f"kafka-python send() only, gc {young:,}",
                 lambda: kafka_python_send(settings, topics[1], records, young)),
                ("credit-platform produce, default gc", lambda: ours(settings, topics[2], lines, DEFAULT_YOUNG_GC)),
                (f"credit-platform produce, gc {young:,}, no compression",
                 lambda: ours(settings, topics[4], lines, young, "none")),
                (f"credit-platform produce, gc {young:,}, {settings.kafka_compression} (as shipped)",
                 lambda: ours(settings, topics[2], lines, young)))
        for _ in range(args.repeat):  # interleaved, so a slow moment of the machine hits every row
            for name, measure in runs:
                rows[name] = max(rows.get(name, 0.0), measure())
        base = rows["kafka-python send() only, default gc"]
        print(f"{'run':<52} {'records/s':>10} {'vs send()':>10} {'vs Kafka tool':>14}")
        for name, rate in (("Kafka ProducerPerformance (Java)", java), *rows.items()):
            print(f"{name:<52} {rate:>10,.0f} {rate / base:>9.2f}x {rate / java:>13.2f}x")

        raw = sum(map(len, lines)) / len(lines)
        print(f"\nbytes per record in the broker's log (the JSON alone: {raw:.0f} B):")
        for codec, topic in (("none", topics[6]), (settings.kafka_compression, topics[5])):
            ours(settings, topic, lines, young, codec)
            stored = log_bytes(settings, topic) / len(lines)
            print(f"  {codec:<6} {stored:6.0f} B  ({raw / stored:.1f}x smaller than the JSON)")

        contract = contract_for(TRANSACTIONS_TOPIC)
        pydantic_us = per_record_us(contract.model.model_validate_json, lines)
        screen_us = per_record_us(Screen(contract), lines)
        print(f"\nvalidation alone, per record: pydantic {pydantic_us:.2f} us, compiled screen {screen_us:.2f} us "
              f"({pydantic_us / screen_us:.1f}x); kafka-python's send() {1e6 / base:.1f} us")

        profiler = cProfile.Profile()
        profiler.enable()
        kafka_python_send(settings, topics[3], records[:50_000])
        profiler.disable()
        report = io.StringIO()
        stats = pstats.Stats(profiler, stream=report).sort_stats("tottime")
        total = sum(row[2] for row in stats.stats.values())
        print("\nwhere kafka-python's time goes (send of 50,000 records, own time per function):")
        for (file, line, func), row in sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:8]:
            where = file.split("site-packages/")[-1]
            print(f"  {100 * row[2] / total:5.1f}%  {func:<28} {where}:{line}")
    finally:
        admin.delete_topics(topics + [f"{t}.dlq" for t in ours_topics])
        admin.close()


if __name__ == "__main__":
    main()
