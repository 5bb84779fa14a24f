"""
### Platform health check

Checks that every service the pipelines depend on answers: PostgreSQL, Kafka, the MongoDB-protocol
store, the Flink session cluster (JobManager and a TaskManager), Prometheus, the Pushgateway and the
two exporters (Kafka consumer lag, Airflow's own StatsD metrics).
One mapped task per service, so a failure names the service; the task log says where its own
log file is. Trigger it by hand after `credit-platform up`, or whenever a pipeline misbehaves.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

SERVICES = ["postgres", "kafka", "mongo", "pushgateway", "lag-exporter", "statsd-exporter", "flink-jobmanager",
            "flink-taskmanager", "alertmanager", "prometheus", "superset"]


@dag(
    dag_id="platform_healthcheck",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["platform"],
    doc_md=__doc__,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=10),
                  "execution_timeout": timedelta(minutes=2)},
)
def platform_healthcheck() -> None:
    @task
    def check(service: str) -> str:
        from credit_platform import config
        from credit_platform.platform import manager

        return manager.check(config.load(), service)

    check.expand(service=SERVICES)


platform_healthcheck()
