"""What every DAG of the platform shares: start date, default args (retries, timeouts, the failure
callback), the deadline callback, the `landed_events` asset and the business-date template.

The callbacks log loudly and count the event on the Pushgateway, where the Prometheus alert rules
see it. Importing this module does no work: no configuration is read until a callback runs.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Asset

from credit_platform import config

log = logging.getLogger(__name__)


def _count(event: str, dag_id: str) -> None:
    from prometheus_client import CollectorRegistry, Gauge

    from credit_platform.metrics import push

    registry = CollectorRegistry()
    Gauge(f"airflow_{event}_timestamp_seconds", f"When the last {event.replace('_', ' ')} happened", ["dag_id"],
          registry=registry).labels(dag_id).set_to_current_time()
    push(config.load(), f"airflow_{event}", registry, {"dag_id": dag_id})


def notify_failure(context: Any) -> None:
    ti = context.get("ti")
    dag_id = ti.dag_id if ti else "unknown"
    log.error("ALERT: task %s of %s failed (run %s): %s", getattr(ti, "task_id", "?"), dag_id,
              context.get("run_id"), context.get("exception"))
    _count("task_failure", dag_id)


def deadline_missed(context: Any = None, **kwargs: Any) -> None:
    run = (context or {}).get("dag_run") or {}
    dag_id = run.get("dag_id", kwargs.get("dag_id", "unknown"))
    log.error("ALERT: DAG run %s of %s missed its deadline %s", run.get("run_id"), dag_id,
              (context or {}).get("deadline"))
    _count("deadline_missed", dag_id)


# ---- what every DAG of the platform shares ---------------------------------------------------------
START = datetime(2026, 1, 1)
DEFAULT_ARGS = {
    "owner": "data-platform",
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "execution_timeout": timedelta(minutes=30),
    "on_failure_callback": notify_failure,
}
# Published by kafka_landing whenever it lands new records.
LANDED_EVENTS = Asset(name="landed_events", uri="file:///credit-platform/landing")

# The business date a batch DAG works on: the `business_date` param, else the day before the run.
BUSINESS_DATE = "{{ params.business_date or macros.ds_add(ds, -1) }}"
