"""Kafka → Parquet landing job (entry point for Airflow, cron or a shell).

    python jobs/kafka_landing.py [--topics T ...] [--run-id ID] [--chunk-records N]

The work, and how it stays exactly-once across crashes, is in `credit_platform.landing`.
"""

import sys

from credit_platform.cli import main

if __name__ == "__main__":
    sys.exit(main(["land", *sys.argv[1:]]))
