"""The nightly job's load: one business date replaced in the warehouse in one transaction, the
day's fraud alerts read from MongoDB, and their mirror in the warehouse table `fraud_alerts`.

Load path: Spark writes the scored rows as CSV (in the JVM, in parallel) into a staging directory,
then the driver streams those files into PostgreSQL with `COPY` inside one transaction.
`credit_scores` and `processed_transactions` are partitioned by business date
(sql/029b_day_partitions.sql): the day is copied into a fresh table without indexes, its keys and
indexes are built after, and it is swapped in for the day's old partition (detach, drop, attach)
just before the commit. The other tables of the day (`loan_outcomes`, `chargebacks`, the day's issues and
monitoring rows) are deleted and copied in the same transaction. A rerun of a date replaces exactly
that date, and readers never see half a day. Why not the alternatives: Spark's JDBC writer commits
per partition (no single transaction for the day), and Arrow collection needs pyarrow >= 18 while
the Flink wheel pins < 17. bench/batch_bench.py measures the load against `psql \\copy`.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from credit_platform.config import Settings
from credit_platform.contracts import names
from credit_platform.contracts.names import MONGO_DB, ROLE_ETL
from credit_platform.quality.issues import COLUMNS as QUALITY_COLUMNS
from credit_platform.quality.issues import Issue, write_issues

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

log = logging.getLogger(__name__)

SOURCE = names.SCORING_JOB  # data_quality_issues.source of the day's refused rows


def load_alerts(settings: Settings, event_type: str, day: date) -> dict[str, list[str]]:
    """Fraud alerts of one day from MongoDB: event id -> the rules that fired on it."""
    from pymongo import MongoClient

    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    found: dict[str, list[str]] = {}
    with MongoClient(settings.mongo_uri, serverSelectionTimeoutMS=10_000) as client:
        cursor = client[MONGO_DB].fraud_alerts.find(
            {"event_type": event_type, "event_time": {"$gte": start, "$lt": start + timedelta(days=1)}},
            {"event_id": 1, "rule": 1, "_id": 0})
        for doc in cursor:
            found.setdefault(doc["event_id"], []).append(doc["rule"])
    return {k: sorted(set(v)) for k, v in found.items()}



CSV_OPTIONS = {"header": "false", "quote": '"', "escape": '"', "nullValue": "", "emptyValue": '""',
               "timestampFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX", "dateFormat": "yyyy-MM-dd",
               "ignoreLeadingWhiteSpace": "false", "ignoreTrailingWhiteSpace": "false"}


@dataclass
class LoadResult:
    rows: dict[str, int] = field(default_factory=dict)
    replaced: dict[str, int] = field(default_factory=dict)
    conflicts: dict[str, int] = field(default_factory=dict)  # ids refused: loaded under another date
    issues: int = 0
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)  # seconds by step, all tables together

    def timed(self, step: str, since: float) -> float:
        import time

        now = time.monotonic()
        self.steps[step] = self.steps.get(step, 0.0) + now - since
        return now


def _copy_csv(conn, table: str, columns: tuple[str, ...], files: list[Path],  # noqa: ANN001
              freeze: bool = False) -> None:
    """COPY the staged CSV files into a table. `freeze` (only for a table created in this very
    transaction) writes the rows already frozen, so the index builds and the first readers do not
    rewrite every page to set its hint bits."""
    quoted = ", ".join(f'"{c}"' for c in columns)
    options = "FORMAT csv, FREEZE" if freeze else "FORMAT csv"
    with conn.cursor().copy(f'COPY "{table}" ({quoted}) FROM STDIN ({options})') as copy:
        for path in files:
            with open(path, "rb") as f:
                while block := f.read(8 << 20):
                    copy.write(block)


def stage_csv(frame: DataFrame, target: Path) -> list[Path]:
    shutil.rmtree(target, ignore_errors=True)
    frame.write.options(**CSV_OPTIONS).csv(str(target))
    return sorted(target.glob("part-*.csv"))


ID_COLUMNS = {"credit_scores": "application_id", "processed_transactions": "transaction_id",
              "loan_outcomes": "application_id", "chargebacks": "transaction_id"}
DAY_PARTITIONED = ("credit_scores", "processed_transactions")  # the tables sql/029b partitions by day


def load_day(settings: Settings, day: date, staged: dict[str, tuple[tuple[str, ...], list[Path]]],
             issues: list[Path], run_id: str = "", monitoring: list[tuple] = ()) -> LoadResult:
    """Replace one business date in each table, and that date's scoring issues, in one transaction.

    A table partitioned by day gets a fresh partition (`_load_fresh_day`), swapped in last. Any
    other table: COPY straight into it; if an id is already loaded under another business date (a
    replayed event, say), that COPY is rolled back to a savepoint and the day goes through a staging
    table instead. Either way every row but the conflicting ones is loaded, and each conflict becomes
    a `data_quality_issues` row naming the date that holds the id. The load never fails on data.
    `monitoring`: the date's population stability rows (business_date, model_version,
    characteristic, psi, rows_scored, run_id) for `credit_model_monitoring`, replaced with the rest."""
    import time

    import psycopg
    from psycopg.errors import UniqueViolation

    started = time.monotonic()
    result = LoadResult()
    conflicts: list[Issue] = []
    with psycopg.connect(settings.postgres_uri(ROLE_ETL), connect_timeout=10) as conn:
        with conn.transaction():
            fresh = {}
            for table, (columns, files) in staged.items():
                if table in DAY_PARTITIONED:
                    fresh[table], refused = _load_fresh_day(conn, table, columns, files, day, run_id, result)
                    conflicts += refused
                    continue
                others = time.monotonic()
                result.replaced[table] = conn.execute(
                    f"DELETE FROM {table} WHERE business_date = %s", (day,)).rowcount
                try:
                    with conn.transaction():
                        _copy_csv(conn, table, columns, files)
                except UniqueViolation:
                    conflicts += _load_via_stage(conn, table, columns, files, day, run_id)
                result.timed("load_other_tables", others)
            others = time.monotonic()
            conn.execute("DELETE FROM data_quality_issues WHERE source = %s AND data_date = %s", (SOURCE, day))
            _copy_csv(conn, "data_quality_issues", QUALITY_COLUMNS, issues)
            write_issues(settings, conflicts, conn)
            conn.execute("DELETE FROM credit_model_monitoring WHERE business_date = %s", (day,))
            conn.cursor().executemany(
                "INSERT INTO credit_model_monitoring (business_date, model_version, characteristic, psi, rows_scored, "
                "run_id, computed_at) VALUES (%s, %s, %s, %s, %s, %s, now())", list(monitoring))
            result.issues = conn.execute(
                "SELECT count(*) FROM data_quality_issues WHERE source = %s AND data_date = %s", (SOURCE, day)
            ).fetchone()[0]
            swap = result.timed("load_other_tables", others)
            # Last: the swaps hold their tables' locks until the commit.
            for table, name in fresh.items():
                result.replaced[table] = conn.execute(
                    "SELECT public.day_load_swap(%s, %s, %s)", (table, day, name)).fetchone()[0]
            for table in staged:
                result.rows[table] = conn.execute(
                    f"SELECT count(*) FROM {table} WHERE business_date = %s", (day,)).fetchone()[0]
            commit = result.timed("load_swap", swap)
        result.timed("load_commit", commit)
    result.conflicts = {t: sum(1 for c in conflicts if c.table_name == t) for t in staged}
    result.seconds = time.monotonic() - started
    return result


def _load_fresh_day(conn, table: str, columns: tuple[str, ...], files: list[Path], day: date,  # noqa: ANN001
                    run_id: str, result: LoadResult) -> tuple[str, list[Issue]]:
    """The day copied into a fresh table without indexes, the ids another date already holds taken
    out of it and reported, then its keys and indexes built. Returns the table, ready to swap in."""
    import time

    key = ID_COLUMNS[table]
    started = time.monotonic()
    fresh = conn.execute("SELECT public.day_load_begin(%s, %s)", (table, day)).fetchone()[0]
    _copy_csv(conn, fresh, columns, files, freeze=True)
    started = result.timed("load_copy", started)
    # The key of a table partitioned by day holds the date, so an id's uniqueness across dates is
    # checked here, against the other days' key indexes.
    clashes = conn.execute(
        f'SELECT f.{key}, t.business_date, t.source_file FROM "{fresh}" f JOIN {table} t USING ({key}) '
        "WHERE t.business_date <> %s", (day,)).fetchall()
    if clashes:
        conn.execute(f'DELETE FROM "{fresh}" WHERE {key} = ANY(%s)', ([k for k, _, _ in clashes],))
    started = result.timed("load_id_check", started)
    conn.execute("SELECT public.day_load_build(%s, %s, %s)", (table, day, fresh))
    result.timed("load_indexes", started)
    return fresh, _clash_issues(table, clashes, day, run_id)


def _load_via_stage(conn, table: str, columns: tuple[str, ...], files: list[Path], day: date,  # noqa: ANN001
                    run_id: str) -> list[Issue]:
    key = ID_COLUMNS[table]
    quoted = ", ".join(f'"{c}"' for c in columns)
    conn.execute(f"CREATE TEMP TABLE stage_{table} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP")
    _copy_csv(conn, f"stage_{table}", columns, files)
    conn.execute(f"INSERT INTO {table} ({quoted}) SELECT {quoted} FROM stage_{table} ON CONFLICT ({key}) DO NOTHING")
    clashes = conn.execute(
        f"SELECT s.{key}, t.business_date, t.source_file FROM stage_{table} s JOIN {table} t USING ({key}) "
        "WHERE t.business_date IS DISTINCT FROM %s", (day,)).fetchall()
    return _clash_issues(table, clashes, day, run_id)


def _clash_issues(table: str, clashes: list[tuple], day: date, run_id: str) -> list[Issue]:
    key = ID_COLUMNS[table]
    if clashes:
        log.warning("%s: %d ids of %s are already loaded under another business date; refused", table,
                    len(clashes), day)
    return [Issue(record_id=str(k), issue=f"{key}: already loaded for business date {other} (from {src}); "
                  f"this copy dated {day} was refused", source=SOURCE, table_name=table, column_name=key,
                  rule="unique_across_dates", observed_value=str(other), severity="error", run_id=run_id,
                  data_date=day) for k, other, src in clashes]


def _score_columns(doc: dict) -> tuple[object, ...]:
    """A score alert's fields (`rules.fraud.SCORE_FIELDS`) as their columns take them; a field of any
    other type (a document not written by the platform's writer) is NULL, never the day's sync failing."""
    import math

    from credit_platform.rules.fraud import SCORE_FIELDS

    def number(v: object) -> float | None:
        ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        return float(v) if ok else None

    score, threshold, model, features = (doc.get(k) for k in SCORE_FIELDS)
    return (number(score), number(threshold), model if isinstance(model, str) else None,
            features if isinstance(features, list) and all(isinstance(f, str) for f in features) else None)


def sync_fraud_alerts(settings: Settings, day: date) -> int:
    """Mirror one day of MongoDB `fraud_alerts` into the warehouse table `fraud_alerts` (for Power
    BI): upsert by alert id, and drop the day's rows MongoDB no longer has. Returns the day's count."""
    import psycopg
    from pymongo import MongoClient

    from credit_platform.rules.fraud import SCORE_FIELDS as scored  # a score's alert only

    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    with MongoClient(settings.mongo_uri, serverSelectionTimeoutMS=10_000) as client:
        docs = list(client[MONGO_DB].fraud_alerts.find(
            {"event_time": {"$gte": start, "$lt": start + timedelta(days=1)}}))
    rows = [(d["_id"], d["rule"], d.get("severity"), d.get("reason"), d.get("user_id"), d["event_type"],
             d["event_id"], d["event_time"], d.get("detected_at"), day, *_score_columns(d)) for d in docs]
    with psycopg.connect(settings.postgres_uri(ROLE_ETL), connect_timeout=10) as conn, conn.transaction():
        conn.cursor().executemany(
            "INSERT INTO fraud_alerts (alert_id, rule, severity, reason, user_id, event_type, event_id, event_time, "
            f"detected_at, business_date, {', '.join(scored)}) VALUES ({', '.join(['%s'] * (10 + len(scored)))}) "
            "ON CONFLICT (alert_id) DO UPDATE SET rule = EXCLUDED.rule, severity = EXCLUDED.severity, "
            "reason = EXCLUDED.reason, detected_at = EXCLUDED.detected_at, "
            + "".join(f"{k} = EXCLUDED.{k}, " for k in scored) + "synced_at = now()", rows)
        conn.execute("DELETE FROM fraud_alerts WHERE business_date = %s AND NOT (alert_id = ANY(%s))",
                     (day, [r[0] for r in rows]))
    return len(rows)
