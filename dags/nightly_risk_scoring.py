"""
### Nightly risk scoring

At 02:30 UTC, scores the **previous day** (or the `business_date` given in the trigger form):

1. `land_latest`: lands what Kafka holds beyond the last landing run, so the day is complete;
   `sync_fraud_alerts`: makes the day's fraud alerts complete, then copies them from MongoDB into
   the warehouse table `fraud_alerts` (for Power BI; upsert by alert id). Complete: the fraud
   stream's very rule SQL runs over the landed day (and a week before it) under the live rule
   versions, and any alert on an event of the day the stream has not written (an event it read
   late, a past-dated replay, a window an idle stream has not closed yet) is written as the stream
   would have written it (same id, `detected_by: replay`). The lineage row says how many came from
   the stream and how many the replay added, and how far the stream's event time had got, so a
   rerun of the day (which adds nothing) never changes a decision. Then the day's detection report
   (per rule and pattern: precision, recall, false positives, alerts per 1,000 events; card
   precision@100) against the labels, in `fraud_detection_report` (view `bi.fraud_detection`);
2. `risk_scoring`: `spark-submit jobs/risk_scoring.py` (as the CLI's `score` runs it: master from
   `SPARK_MASTER`, `local[2]` here, a cluster in a deployment; only the job's own secrets in its
   environment; as the unprivileged `credit-spark` user when Airflow runs as root) validates the
   landed rows (invalid ones to
   `data_quality_issues`), scores each application with the champion scorecard (PD, points, grade,
   reason codes; see `train_credit_model`), computes risk levels and lending decisions from the
   policy in MongoDB, joins the fraud alerts and replaces the day's rows of `credit_scores`,
   `processed_transactions`, `loan_outcomes`, `chargebacks` and `credit_model_monitoring` (the PSI) in one
   transaction: rerunning a date changes nothing;
3. `check_warehouse`: the Great Expectations warehouse suites; a failed **blocking** expectation
   fails the run, after every issue is written and Data Docs are rebuilt;
4. `record_lineage`: one `metadata_table` row for the run as a whole.

A run that has not finished 2 hours after it was queued calls the deadline callback (logged and
pushed to Prometheus as `airflow_deadline_missed_timestamp_seconds`).
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DeadlineAlert, DeadlineReference, Param, SyncCallback, dag, task
from platform_operators import GreatExpectationsOperator

from credit_platform import config
from credit_platform.orchestration.dag_defaults import BUSINESS_DATE, DEFAULT_ARGS, START, deadline_missed


@dag(
    dag_id="nightly_risk_scoring",
    schedule="30 2 * * *",
    start_date=START,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=3),
    default_args=DEFAULT_ARGS,
    tags=["batch", "risk"],
    doc_md=__doc__,
    params={"business_date": Param("", type="string",
                                   description="YYYY-MM-DD to score; empty = the day before the logical date")},
    deadline=DeadlineAlert(reference=DeadlineReference.DAGRUN_QUEUED_AT, interval=timedelta(hours=2),
                           callback=SyncCallback(deadline_missed)),
)
def nightly_risk_scoring() -> None:
    @task
    def land_latest(**context) -> int:
        from credit_platform.ingest import landing

        return landing.land_latest(config.load(), context["run_id"])

    @task(execution_timeout=timedelta(hours=1))
    def risk_scoring(business_date: str, **context) -> dict:
        """spark-submit through credit_platform.batch.spark_submit, not the Spark provider's operator:
        that would hand spark-submit the task's whole environment (every connection and key)."""
        from credit_platform.batch import spark_submit

        return spark_submit.run_task(config.load(), "risk_scoring",
                                     ["--date", business_date, "--run-id", context["run_id"]])

    score = risk_scoring(BUSINESS_DATE)

    check = GreatExpectationsOperator(task_id="check_warehouse", business_date=BUSINESS_DATE, scope="warehouse")

    @task
    def record_lineage(business_date: str, **context) -> None:
        import psycopg
        from platform_operators import record_lineage as record

        from credit_platform.contracts.names import ROLE_ETL

        with psycopg.connect(config.load().postgres_uri(ROLE_ETL)) as conn:
            rows = dict(conn.execute("SELECT target, rows_out FROM metadata_table WHERE job = 'risk_scoring' "
                                     "AND run_id = %s", (context["run_id"],)).fetchall())
        record(context, source=f"landing/*/dt={business_date}", target="warehouse", rows_out=sum(rows.values()),
               details={"business_date": business_date, "tables": rows})

    @task
    def sync_fraud_alerts(business_date: str, **context) -> int:
        from datetime import date

        from platform_operators import record_lineage as record

        from credit_platform.batch import load
        from credit_platform.quality import detection_report
        from credit_platform.stream.backtest import replay_day

        settings = config.load()
        replay = replay_day(settings, date.fromisoformat(business_date))
        print(f"fraud alerts of {business_date}: {replay.summary()}")
        count = load.sync_fraud_alerts(settings, date.fromisoformat(business_date))
        record(context, source="mongo:credit.fraud_alerts (stream + replay of the landed day)", target="fraud_alerts",
               rows_in=count, rows_out=count, details=replay.summary())
        report = detection_report.day_report(settings, date.fromisoformat(business_date))
        print(f"detection report of {business_date}:\n{report.render()}")
        cards = [c for c in report.cards if str(c.day) == business_date]
        record(context, source="landing labels + mongo:credit.fraud_alerts", target="fraud_detection_report",
               rows_out=len(report.rules) + len(report.patterns) + len(cards),
               details={"card_precision_at_100": cards[0].precision if cards else None,
                        "precision": {s.rule: s.precision for s in report.rules}})
        return count

    land_latest() >> sync_fraud_alerts(BUSINESS_DATE) >> score >> check >> record_lineage(BUSINESS_DATE)


nightly_risk_scoring()
