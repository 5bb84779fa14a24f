"""
### Kafka landing

Every hour, lands `credit_applications` and `transactions` from Kafka into Parquet files
partitioned by event date (`.platform/landing/<topic>/dt=YYYY-MM-DD/`), exactly-once: from the
landing's committed offsets up to the end offsets seen at start; files named by partition and
offset range, fsynced, a completion marker per date, then the offsets committed. A rerun after a
crash rewrites the same files. Records that do not parse are landed with their reason and also
go to the DLQ and `data_quality_issues`. Publishes the `landed_events` asset when it landed
anything; lineage rows (one per topic and date) go to `metadata_table`.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task

from credit_platform.orchestration.dag_defaults import DEFAULT_ARGS, LANDED_EVENTS, START


@dag(
    dag_id="kafka_landing",
    schedule="@hourly",
    start_date=START,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=50),
    default_args=DEFAULT_ARGS,
    tags=["ingestion", "batch"],
    doc_md=__doc__,
)
def kafka_landing() -> None:
    @task(outlets=[LANDED_EVENTS])
    def land(**context) -> dict:
        from credit_platform import config
        from credit_platform.ingest import landing

        summary = landing.Lander(config.load(), run_id=context["run_id"], progress=False).run()
        print(summary.render())
        return {t.topic: {"records": t.records, "invalid": t.invalid, "dates": sorted(t.dates)}
                for t in summary.topics.values()}

    land()


kafka_landing()
