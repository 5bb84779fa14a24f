"""Writing `data_quality_issues`: every refused record or failed check, with what a person needs
to act on it. Shared by the producer, the landing job, the Spark job and the GX checkpoint action."""

from __future__ import annotations

from dataclasses import astuple, dataclass
from datetime import date

from credit_platform.config import Settings
from credit_platform.contracts.names import ROLE_ETL

COLUMNS = ("record_id", "issue", "source", "table_name", "column_name", "rule", "observed_value", "severity",
           "run_id", "raw_payload", "data_date")


@dataclass(frozen=True)
class Issue:
    record_id: str | None
    issue: str
    source: str
    table_name: str | None = None
    column_name: str | None = None
    rule: str | None = None
    observed_value: str | None = None
    severity: str = "error"
    run_id: str | None = None
    raw_payload: str | None = None
    data_date: date | str | None = None  # the day of data the issue is about


def write_issues(settings: Settings, issues: list[Issue], conn=None) -> int:  # noqa: ANN001
    """Append issues with one COPY (fast for thousands of rows); returns the number written.

    With `conn`, the rows join that connection's transaction (a job replacing a day's issues
    together with the day's data)."""
    if not issues:
        return 0
    if conn is None:
        import psycopg

        with psycopg.connect(settings.postgres_uri(ROLE_ETL), connect_timeout=10) as own:
            return write_issues(settings, issues, own)
    with conn.cursor() as cur, cur.copy(f"COPY data_quality_issues ({', '.join(COLUMNS)}) FROM STDIN") as copy:
        for issue in issues:
            copy.write_row(tuple(_clean(v) for v in astuple(issue)))
    return len(issues)


def _clean(value: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL bytes; a raw payload may contain them.
    return value.replace("\x00", "\\u0000") if isinstance(value, str) else value
