"""Airflow building blocks of the platform's DAGs (the plugins folder is on the DAGs' import path).

- `FlinkJobHook`: the fraud job on the Flink session cluster through its REST API (find by name,
  state, submit from the latest checkpoint, stop with a savepoint).
- `GreatExpectationsOperator`: runs the GX checkpoints of one business date; every failed
  expectation is written to `data_quality_issues` by the checkpoint's action; the task fails when
  a blocking (critical) expectation fails, after the issues and Data Docs are written.
- `record_lineage`: one `metadata_table` row for what a task did (job = the DAG, run id = the run).

What every DAG shares (start date, default args, callbacks, the business-date template) is in
`credit_platform.orchestration.dag_defaults`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import BaseHook, BaseOperator

log = logging.getLogger(__name__)


def _settings():  # noqa: ANN202
    from credit_platform import config

    return config.load()


class FlinkJobHook(BaseHook):
    """The fraud detection job, by name, on the Flink cluster at FLINK_REST_URL (config)."""

    def __init__(self, job_name: str | None = None) -> None:
        super().__init__()
        from credit_platform.stream import fraud_job

        self.job_name = job_name or fraud_job.JOB_NAME

    def status(self):  # noqa: ANN201
        from credit_platform.stream import fraud_job

        return fraud_job.status(_settings(), self.job_name)

    def ensure_running(self):  # noqa: ANN201
        from credit_platform.stream import fraud_job

        return fraud_job.ensure_running(_settings(), name=self.job_name)

    def stop_with_savepoint(self) -> str | None:
        from credit_platform.stream import fraud_job

        return fraud_job.stop(_settings(), self.job_name)


class GreatExpectationsOperator(BaseOperator):
    """GX checks of one business date (`scope`: all, landing or warehouse)."""

    template_fields: Sequence[str] = ("business_date",)

    def __init__(self, *, business_date: str, scope: str = "all", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.business_date, self.scope = business_date, scope

    def execute(self, context: Any) -> dict:
        from datetime import date

        from credit_platform.quality import expectations

        settings = _settings()
        run_id = context["run_id"]
        summary = expectations.run_checks(settings, date.fromisoformat(self.business_date), run_id,
                                landed=self.scope in ("all", "landing"), warehouse=self.scope in ("all", "warehouse"))
        log.info("%s", summary.render())
        record_lineage(context, source=f"date {self.business_date}", target="data_quality_issues",
                       rows_out=sum(o.issues for o in summary.outcomes),
                       details={o.suite: {"failed": o.failed, "issues": o.issues, "note": o.note}
                                for o in summary.outcomes})
        if summary.blocking:
            raise RuntimeError(f"blocking expectations failed: {'; '.join(summary.blocking)}. Every failure is "
                               "in data_quality_issues; see Data Docs (Browse > Data Docs)")
        return {o.suite: o.success for o in summary.outcomes}


def record_lineage(context: Any, *, source: str, target: str, rows_in: int | None = None,
                   rows_out: int | None = None, rows_rejected: int | None = None, prior_run_id: str | None = None,
                   status: str = "success", details: dict | None = None) -> None:
    from credit_platform.lineage import Lineage, Step

    ti = context["ti"]
    started = ti.start_date or datetime.now(UTC)
    Lineage(_settings(), ti.dag_id, context["run_id"]).record(Step(
        source, target, started_at=started, finished_at=datetime.now(UTC), rows_in=rows_in, rows_out=rows_out,
        rows_rejected=rows_rejected, prior_run_id=prior_run_id, status=status,
        details={"task": ti.task_id, **(details or {})}))
