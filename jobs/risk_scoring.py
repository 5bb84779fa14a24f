"""Nightly risk scoring: one date of landed applications and transactions → PostgreSQL warehouse.

    spark-submit --master local[2] jobs/risk_scoring.py --date 2026-01-01 [--run-id ID]
    credit-platform score --date 2026-01-01            (the same, with the platform's settings)

Reads the date's committed landing files (the completion markers list them), validates every row
against the shared contract (invalid rows → data_quality_issues with the reason), computes
`risk_level` and the lending decision from the policy in MongoDB `policies` (defaults in
credit_platform.rules), joins that day's fraud alerts from MongoDB, and replaces the date's rows of
`credit_scores` and `processed_transactions` in one transaction. Rerunning a date gives the same
warehouse. Writes lineage rows to `metadata_table` and pushes metrics to the Pushgateway.
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import sys
import time
from datetime import UTC, date, datetime

from credit_platform import config
from credit_platform.batch import scoring
from credit_platform.contracts import names
from credit_platform.ingest import landing
from credit_platform.lineage import Lineage, Step
from credit_platform.rules.lending import load_policy


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--date", required=True, type=date.fromisoformat, help="business date (event date, UTC)")
    parser.add_argument("--run-id", help="id for lineage and issues (Airflow passes its run id)")
    parser.add_argument("--shuffle-partitions", type=int, default=4)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = config.load()
    day = args.date
    run_id = args.run_id or f"risk_scoring-{day}-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    timings: dict[str, float] = {}
    t0 = time.monotonic()

    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.appName(f"risk_scoring {day}")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.sql.shuffle.partitions", args.shuffle_partitions)
             .config("spark.sql.files.maxPartitionBytes", 256 << 20)
             .getOrCreate())
    spark.sparkContext.setLogLevel("WARN")
    timings["spark_start"] = time.monotonic() - t0

    lineage = Lineage(settings, scoring.JOB_NAME, run_id)
    policy = load_policy(settings.mongo_uri)
    staging = settings.home / "staging" / scoring.JOB_NAME / run_id
    decide = functools.partial(scoring.score_applications, run_id=run_id, decided_at=datetime.now(UTC))
    tables = {names.APPLICATIONS_TOPIC: ("credit_scores", scoring.CREDIT_SCORES_COLUMNS, decide, "application"),
              names.TRANSACTIONS_TOPIC: ("processed_transactions", scoring.PROCESSED_TRANSACTIONS_COLUMNS,
                                          scoring.score_transactions, "transaction")}
    steps: dict[str, Step] = {}
    staged: dict = {}
    issues = []
    counts: dict[str, dict[str, int]] = {}
    try:
        t1 = time.monotonic()
        for topic, (table, columns, score, event_type) in tables.items():
            files = landing.landed_files(settings, topic, day)
            directory = landing.date_dir(landing.landing_root(settings), topic, day)
            file_names = {f.name for f in files}
            step = steps[table] = Step(f"landing/{topic}/dt={day}", table, details={
                "files": [str(f) for f in files], "policy": f"{policy.id} v{policy.version}",
                "policy_exceptions": [e.id for e in policy.exceptions],
                "offsets": {n: [m["partition"], m["first_offset"], m["last_offset"]]
                            for n, m in landing.read_marker(directory)["files"].items() if n in file_names}})
            lineage.record(step)
            if not files:
                print(f"{topic}: nothing landed for {day}; {table} for that date will be empty")
                staged[table] = (columns, [])
                counts[table] = {"landed": 0, "valid": 0, "invalid": 0}
                continue
            checked = scoring.validate(scoring.read_landed(spark, files), topic).cache()
            landed, invalid = checked.selectExpr("count(*)", "count_if(size(_problems) > 0)").first()
            alerts = scoring.load_alerts(settings, event_type, day)
            rows = score(checked.filter("size(_problems) = 0"), scoring.alerts_frame(spark, alerts), policy)
            staged[table] = (columns, scoring.stage_csv(rows, staging / table))
            issues += scoring.stage_csv(scoring.issues_frame(checked, topic, run_id, day), staging / f"issues-{topic}")
            counts[table] = {"landed": landed, "valid": landed - invalid, "invalid": invalid, "alerts": len(alerts)}
            step.rows_in = landed
            checked.unpersist()
        timings["score"] = time.monotonic() - t1
        result = scoring.load_day(settings, day, staged, issues, run_id)
        timings["load"] = result.seconds
        for table, step in steps.items():
            step.rows_out = result.rows[table]
            counts[table]["conflicts"] = result.conflicts.get(table, 0)
            step.details.update(counts[table], replaced_rows=result.replaced[table])
            lineage.finish(step, "success")
    except BaseException as exc:
        for step in steps.values():
            lineage.finish(step, "failed", error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        spark.stop()
    timings["total"] = time.monotonic() - t0
    summary = {"date": str(day), "run_id": run_id, "policy": f"{policy.id} v{policy.version}",
               "tables": {t: {**counts[t], "loaded": result.rows[t]} for t in counts},
               "issues": result.issues, "seconds": {k: round(v, 2) for k, v in timings.items()}}
    _push_metrics(settings, summary)
    print(json.dumps(summary))
    return 0


def _push_metrics(settings: config.Settings, summary: dict) -> None:
    from prometheus_client import CollectorRegistry, Gauge

    from credit_platform.metrics import push

    registry = CollectorRegistry()
    rows = Gauge("risk_scoring_rows", "Rows of the last run", ["table", "stage"], registry=registry)
    seconds = Gauge("risk_scoring_seconds", "Wall time of the last run by phase", ["phase"], registry=registry)
    Gauge("risk_scoring_issues", "data_quality_issues rows of the last run", registry=registry).set(summary["issues"])
    Gauge("risk_scoring_last_success_timestamp_seconds", "When the last run finished",
          registry=registry).set_to_current_time()
    for table, counts in summary["tables"].items():
        for stage, value in counts.items():
            rows.labels(table, stage).set(value)
    for phase, value in summary["seconds"].items():
        seconds.labels(phase).set(value)
    push(settings.pushgateway_url, "risk_scoring", registry)


if __name__ == "__main__":
    sys.exit(main())
