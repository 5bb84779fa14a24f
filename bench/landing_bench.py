"""Landing's parse with hostile records among the good ones, against the same records clean, measured
in the same run: what one bad record per N costs its neighbours.

The landing parses each chunk of Kafka payloads in one NDJSON pass (`landing.parse_chunk`); a chunk
that does not parse is screened record by record and parsed again in bulk. The bad records here
are the kinds that once made it re-parse every record of the chunk alone: `Infinity` (JSON the
bulk parser refuses) and a type error the strict JSON check accepts (found by halving).

With `--full` it also measures the whole landing, what the issue's aim names: the records are
written to `credit_applications` of a running platform (`credit-platform up --only kafka postgres
pushgateway`, best on a state dir of its own: CP_HOME, CP_PORT_OFFSET) straight through Kafka, as
a holder of the producer's credentials could, past the validating producer. The lander then reads
them from Kafka, parses, writes Parquet and its markers, reports the bad records to the DLQ and
`data_quality_issues`, and records lineage, into a fresh landing directory per run. The clean set
is written and landed first; the spoiled set is written after it and landed from where the clean
one ends (its committed offsets are copied into the fresh directory).

    .venv/bin/python bench/landing_bench.py [--records 1000000] [--bad-every 10000] [--chunk 250000] [--full]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from credit_platform.contracts.names import APPLICATIONS_TOPIC
from credit_platform.ingest import generator, landing
from credit_platform.ingest.scenario import GeneratorConfig


def spoil(lines: list[bytes], every: int) -> list[bytes]:
    bad = list(lines)
    for n, i in enumerate(range(every // 2, len(bad), every)):
        if n % 2:
            bad[i] = bad[i].replace(b'"annual_income":', b'"annual_income":Infinity,"x":', 1)
        else:
            bad[i] = bad[i].replace(b'"credit_score":', b'"credit_score":"high","y":', 1)
    return bad


def parse_all(lines: list[bytes], chunk: int) -> tuple[float, int]:
    started = time.perf_counter()
    errors = 0
    for start in range(0, len(lines), chunk):
        frame = landing.parse_chunk(APPLICATIONS_TOPIC, lines[start:start + chunk])
        errors += frame["_error"].drop_nulls().len()
    return time.perf_counter() - started, errors


def bulk_floor(lines: list[bytes], chunk: int) -> float:
    """One strict NDJSON parse per chunk and nothing else: what a parse of clean records costs at least."""
    import polars as pl

    schema = landing._polars_schema(APPLICATIONS_TOPIC)
    started = time.perf_counter()
    for start in range(0, len(lines), chunk):
        pl.read_ndjson(b"\n".join(lines[start:start + chunk]), schema=schema)
    return time.perf_counter() - started


def write_topic(settings, lines: list[bytes]) -> None:  # noqa: ANN001
    from kafka import KafkaProducer

    from credit_platform.contracts.names import KAFKA_PRODUCER

    client = KafkaProducer(**settings.kafka(KAFKA_PRODUCER), acks="all", linger_ms=20, batch_size=512 * 1024)
    for line in lines:  # keyed by customer, as the producer keys them
        client.send(APPLICATIONS_TOPIC, key=re.search(rb'"user_id":"([^"]*)"', line).group(1), value=line)
    client.flush()
    client.close()


def end_offsets(settings) -> dict[str, int]:  # noqa: ANN001
    from kafka import KafkaConsumer, TopicPartition

    from credit_platform.contracts.names import KAFKA_ADMIN

    consumer = KafkaConsumer(**settings.kafka(KAFKA_ADMIN))
    try:
        parts = [TopicPartition(APPLICATIONS_TOPIC, p) for p in consumer.partitions_for_topic(APPLICATIONS_TOPIC)]
        return {str(tp.partition): offset for tp, offset in consumer.end_offsets(parts).items()}
    finally:
        consumer.close()


def land(settings, root: Path, committed: dict | None, chunk: int) -> tuple[float, landing.LandingSummary]:  # noqa: ANN001
    """One landing run into a fresh directory (starting at `committed` offsets, else at the beginning)."""
    shutil.rmtree(root, ignore_errors=True)
    if committed:
        (root / APPLICATIONS_TOPIC).mkdir(parents=True)
        (root / APPLICATIONS_TOPIC / landing.OFFSETS).write_text(json.dumps(committed))
    os.environ["CP_LANDING_DIR"] = str(root)
    started = time.perf_counter()
    summary = landing.Lander(settings, [APPLICATIONS_TOPIC], chunk_records=chunk, progress=False).run()
    return time.perf_counter() - started, summary


def full_landing(lines: list[bytes], bad: list[bytes], args: argparse.Namespace) -> None:
    from credit_platform import config

    settings = config.load()
    work = Path(tempfile.mkdtemp(prefix="landing-bench-", dir=settings.home))
    try:
        before = end_offsets(settings)  # what earlier runs left in the topic is not landed again
        write_topic(settings, lines)
        clean = [land(settings, work / f"clean-{i}", before, args.chunk) for i in range(args.repeat)]
        after_clean = end_offsets(settings)
        write_topic(settings, bad)
        spoiled = [land(settings, work / f"bad-{i}", after_clean, args.chunk) for i in range(args.repeat)]
    finally:
        os.environ.pop("CP_LANDING_DIR", None)
        shutil.rmtree(work, ignore_errors=True)
    for name, runs in (("clean", clean), ("spoiled", spoiled)):
        for _, summary in runs:
            t = summary.topics[APPLICATIONS_TOPIC]
            assert t.records == args.records, f"{name}: landed {t.records:,} of {args.records:,}"
    clean_s, bad_s = min(s for s, _ in clean), min(s for s, _ in spoiled)
    invalid = spoiled[0][1].topics[APPLICATIONS_TOPIC].invalid
    print(f"\nwhole landing (Kafka → parse → Parquet + markers + DLQ/issues + lineage), "
          f"{settings.kafka_bootstrap}; best of {args.repeat}\n")
    print(f"{'run':<40} {'seconds':>8} {'records/s':>12} {'vs clean':>9}")
    print(f"{'clean (baseline)':<40} {clean_s:>8.2f} {args.records / clean_s:>12,.0f} {1:>8.2f}x")
    print(f"{f'one bad record per {args.bad_every:,} ({invalid} bad)':<40} {bad_s:>8.2f} "
          f"{args.records / bad_s:>12,.0f} {bad_s / clean_s:>8.2f}x")
    print("all runs: clean " + ", ".join(f"{s:.2f}" for s, _ in clean)
          + " s; spoiled " + ", ".join(f"{s:.2f}" for s, _ in spoiled) + " s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--bad-every", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=250_000, help="records per chunk (the lander's default)")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs each")
    parser.add_argument("--full", action="store_true", help="also land through a running platform's Kafka "
                        "(writes 2 × --records to its credit_applications topic)")
    args = parser.parse_args()
    lines = generator.to_json_lines(generator.generate("applications", args.records,
                                                       GeneratorConfig(seed=3))).splitlines()
    bad = spoil(lines, args.bad_every)
    floor_s = min(bulk_floor(lines, args.chunk) for _ in range(args.repeat))
    clean_s = min(parse_all(lines, args.chunk)[0] for _ in range(args.repeat))
    runs = [parse_all(bad, args.chunk) for _ in range(args.repeat)]
    bad_s, errors = min(runs)[0], runs[0][1]
    print(f"{args.records:,} applications in chunks of {args.chunk:,}; best of {args.repeat}\n")
    print(f"{'run':<40} {'seconds':>8} {'records/s':>12} {'vs clean':>9}")
    print(f"{'bulk NDJSON parse alone (floor)':<40} {floor_s:>8.2f} {args.records / floor_s:>12,.0f} "
          f"{floor_s / clean_s:>8.2f}x")
    print(f"{'clean (baseline)':<40} {clean_s:>8.2f} {args.records / clean_s:>12,.0f} {1:>8.2f}x")
    print(f"{f'one bad record per {args.bad_every:,} ({errors} bad)':<40} {bad_s:>8.2f} "
          f"{args.records / bad_s:>12,.0f} {bad_s / clean_s:>8.2f}x")
    if args.full:
        full_landing(lines, bad, args)


if __name__ == "__main__":
    main()
