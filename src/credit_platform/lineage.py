"""Lineage: one `metadata_table` row per job run and target.

Every job and Airflow task records what it read (source), what it wrote (target), the run id, its
times, row counts (in, out, rejected), status and error, plus `details` (landed files, Kafka offset ranges, versions),
so a person can follow any warehouse row back to the landed file and the Kafka offsets it came
from. A row is keyed by (job, run_id, target): recording the same run again updates its row
instead of adding one, so retries of a task do not multiply lineage.

    with Lineage(settings, "risk_scoring", run_id).step("landing/credit_applications/dt=2026-01-01",
                                                        "credit_scores") as step:
        ...
        step.rows_in, step.rows_out = 1000, 998
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from credit_platform.config import Settings
from credit_platform.contracts.names import ROLE_ETL

log = logging.getLogger(__name__)

_UPSERT = """
INSERT INTO metadata_table (job, source, target, run_id, started_at, finished_at, rows_in, rows_out, rows_rejected,
                            prior_run_id, status, error, details)
VALUES (%(job)s, %(source)s, %(target)s, %(run_id)s, %(started_at)s, %(finished_at)s, %(rows_in)s, %(rows_out)s,
        %(rows_rejected)s, %(prior_run_id)s, %(status)s, %(error)s, %(details)s)
ON CONFLICT (job, run_id, target) DO UPDATE SET
    source = EXCLUDED.source, started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
    rows_in = EXCLUDED.rows_in, rows_out = EXCLUDED.rows_out, rows_rejected = EXCLUDED.rows_rejected,
    prior_run_id = EXCLUDED.prior_run_id, status = EXCLUDED.status, error = EXCLUDED.error,
    details = EXCLUDED.details
"""


@dataclass
class Step:
    """One (source → target) of a run; the job fills in counts and details while it works."""

    source: str
    target: str
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    rows_in: int | None = None
    rows_out: int | None = None
    rows_rejected: int | None = None  # read but refused (invalid, or held by another date)
    prior_run_id: str | None = None  # a skipped rerun: the run whose identical output it reused
    status: str = "running"
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class Lineage:
    def __init__(self, settings: Settings, job: str, run_id: str) -> None:
        self.settings, self.job, self.run_id = settings, job, run_id

    def record(self, *steps: Step) -> None:
        """Write (or update) the rows of these steps in one transaction."""
        if not steps:
            return
        import psycopg

        rows = [
            {"job": self.job, "run_id": self.run_id, "source": s.source, "target": s.target,
             "started_at": s.started_at, "finished_at": s.finished_at, "rows_in": s.rows_in,
             "rows_out": s.rows_out, "rows_rejected": s.rows_rejected, "prior_run_id": s.prior_run_id,
             "status": s.status, "error": s.error,
             "details": json.dumps(s.details, default=str, sort_keys=True)}
            for s in steps
        ]
        with psycopg.connect(self.settings.postgres_uri(ROLE_ETL), connect_timeout=10) as conn:
            conn.cursor().executemany(_UPSERT, rows)

    @contextmanager
    def step(self, source: str, target: str, **details: Any) -> Iterator[Step]:
        """Record a `running` row now and its outcome (success, or failed with the error) at the end."""
        step = Step(source, target, details=dict(details))
        self.record(step)
        try:
            yield step
        except BaseException as exc:
            self.finish(step, "failed", error=f"{type(exc).__name__}: {exc}"[:2000])
            raise
        self.finish(step, "success")

    def finish(self, step: Step, status: str, error: str | None = None) -> None:
        step.status, step.error, step.finished_at = status, error, datetime.now(UTC)
        try:
            self.record(step)
        except Exception as exc:  # never hide the job's own error behind a lineage error
            if error is None:
                raise
            log.error("could not record the failed lineage row for %s: %s", step.target, exc)


def already_done(settings: Settings, job: str, target: str, *, run_id: str | None = None,
                 source: str | None = None) -> str | None:
    """The run id that already wrote this target successfully (for this run id, or from this exact
    source), so a cleared, retried or repeated task can skip instead of writing twice."""
    import psycopg

    with psycopg.connect(settings.postgres_uri(ROLE_ETL), connect_timeout=10) as conn:
        row = conn.execute(
            "SELECT run_id FROM metadata_table WHERE job = %s AND target = %s AND status = 'success' "
            "AND (%s::text IS NULL OR run_id = %s) AND (%s::text IS NULL OR source = %s) "
            "ORDER BY finished_at DESC LIMIT 1", (job, target, run_id, run_id, source, source)).fetchone()
    return row[0] if row else None
