"""
### Fraud stream supervisor

Every five minutes, makes sure the long-running Flink fraud detection job
(`jobs/fraud_detection.py`) is RUNNING on the Flink session cluster. If it is missing, failed or
cancelled, it submits it again **from its latest retained checkpoint**, so alerts continue where
they stopped, without loss or duplicates (alerts are written once per id; a replayed one is skipped). Each run records
what it found and did in `metadata_table`; the run fails visibly when the job cannot be brought
back to RUNNING.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task

from credit_platform.orchestration.dag_defaults import DEFAULT_ARGS, START


@dag(
    dag_id="fraud_stream_supervisor",
    schedule=timedelta(minutes=5),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=10),
    default_args={**DEFAULT_ARGS, "retries": 1, "execution_timeout": timedelta(minutes=5)},
    tags=["streaming", "fraud"],
    doc_md=__doc__,
)
def fraud_stream_supervisor() -> None:
    @task
    def ensure_fraud_job_running(**context) -> dict:
        import time

        from platform_operators import FlinkJobHook, record_lineage

        hook = FlinkJobHook()
        before = hook.status()
        current, action = hook.ensure_running()
        deadline = time.monotonic() + 120
        while current.state != "RUNNING" and time.monotonic() < deadline:
            time.sleep(3)
            current = hook.status()
        outcome = {"before": before.state, "action": action, "job_id": current.job_id, "state": current.state}
        print(f"fraud job: was {before.state}, {action}; now {current.state} (job {current.job_id})")
        record_lineage(context, source=f"flink:{hook.job_name}", target="mongo:credit.fraud_alerts",
                       status="success" if current.state == "RUNNING" else "failed", details=outcome)
        if current.state != "RUNNING":
            raise RuntimeError(f"fraud job {hook.job_name} is {current.state} after resubmitting; see the Flink UI "
                               "and .platform/logs/flink-*.log")
        return outcome

    ensure_fraud_job_running()


fraud_stream_supervisor()
