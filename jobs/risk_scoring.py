"""Nightly risk scoring: one date of landed applications, transactions and loan outcomes → PostgreSQL warehouse.

    spark-submit --master local[2] jobs/risk_scoring.py --date 2026-01-01 [--run-id ID]
    credit-platform score --date 2026-01-01            (the same, with the platform's settings)

Reads the date's committed landing files (the completion markers list them), validates every row
against the shared contract (invalid rows → data_quality_issues with the reason), scores each
application with the champion scorecard of `credit_models` (PD, points, grade, reason codes),
computes `risk_level` and the lending decision from the policy in MongoDB `policies` (defaults in
credit_platform.rules), joins that day's fraud alerts from MongoDB, and replaces the date's rows of
`credit_scores`, `processed_transactions`, `loan_outcomes`, `chargebacks` and `credit_model_monitoring` (the PSI
against the champion's training sample) in one transaction. Rerunning a date gives the same
warehouse. Writes lineage rows to `metadata_table` and pushes metrics (PSI included) to the
Pushgateway.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import sys
import time
from datetime import UTC, date, datetime

from credit_platform import config
from credit_platform.batch import nightly


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--date", required=True, type=date.fromisoformat, help="business date (event date, UTC)")
    parser.add_argument("--run-id", help="id for lineage and issues (Airflow passes its run id)")
    parser.add_argument("--shuffle-partitions", type=int, default=4)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = config.load()
    run_id = args.run_id or f"risk_scoring-{args.date}-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    started = time.monotonic()

    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.appName(f"risk_scoring {args.date}")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.sql.shuffle.partitions", args.shuffle_partitions)
             .config("spark.sql.files.maxPartitionBytes", 256 << 20)
             .getOrCreate())
    spark.sparkContext.setLogLevel("WARN")
    spark_start = time.monotonic() - started
    try:
        summary = nightly.score_day(spark, settings, args.date, run_id)
    finally:
        spark.stop()
    summary["seconds"] = {"spark_start": round(spark_start, 2), **summary["seconds"],
                          "total": round(time.monotonic() - started, 2)}
    summary["ran_as"] = pwd.getpwuid(os.getuid()).pw_name
    nightly.push_metrics(settings, summary)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
