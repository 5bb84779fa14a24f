"""Kafka → Parquet landing job (entry point for Airflow, cron or a shell).

    python jobs/kafka_landing.py [--topics T ...] [--run-id ID] [--chunk-records N] [--quiet]

Reads each input topic from the landing's committed offsets up to the end offsets seen at start,
writes Parquet files partitioned by event date with a completion marker per date, then commits the
offsets. The work, and how it stays exactly-once across crashes, is in
`credit_platform.ingest.landing` (`credit-platform land` runs the same).
"""

from __future__ import annotations

import argparse
import logging
import sys

from credit_platform import config
from credit_platform.contracts import names
from credit_platform.ingest import landing


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topics", nargs="+", default=list(names.INPUT_TOPICS), choices=names.INPUT_TOPICS)
    parser.add_argument("--run-id", help="id for lineage rows (default: landing-<time>-<random>)")
    parser.add_argument("--chunk-records", type=int, default=250_000,
                        help="records per partition landed and committed at a time (default 250000)")
    parser.add_argument("--quiet", action="store_true", help="print the summary only, no progress")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if not args.quiet:
        logging.getLogger(landing.__name__).setLevel(logging.INFO)
    settings = config.load()
    summary = landing.Lander(settings, args.topics, run_id=args.run_id, chunk_records=args.chunk_records).run()
    print(summary.render())
    print(f"landing directory: {landing.landing_root(settings)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
