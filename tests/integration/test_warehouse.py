"""Warehouse DDL applies idempotently; constraints hold; roles have exactly their privileges."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest
from psycopg import errors

from credit_platform.contracts.names import ROLE_BI, ROLE_ETL, ROLE_SUPERUSER
from credit_platform.platform import migrate

pytestmark = pytest.mark.integration

SEED_COLUMNS = {
    "credit_scores": {"application_id", "user_id", "credit_score", "loan_amount", "risk_level", "timestamp"},
    "processed_transactions": {"transaction_id", "user_id", "amount", "timestamp", "location", "merchant",
                               "card_type", "device_id", "credit_score", "risk_level", "is_fraud"},
    "data_quality_issues": {"record_id", "issue", "timestamp", "source", "column_name", "rule", "run_id"},
    "metadata_table": {"job", "source", "target", "run_id", "started_at", "finished_at", "rows_in",
                       "rows_out", "status"},
}


def test_ddl_applies_twice_and_creates_seed_tables(platform):
    first = migrate.apply_warehouse(platform)
    second = migrate.apply_warehouse(platform)
    assert first == second == [p.name for p in migrate.warehouse_sql_files()]
    with psycopg.connect(platform.postgres_uri(ROLE_SUPERUSER)) as conn:
        for table, columns in SEED_COLUMNS.items():
            rows = conn.execute("SELECT column_name FROM information_schema.columns "
                                "WHERE table_schema = 'public' AND table_name = %s", (table,)).fetchall()
            assert columns <= {r[0] for r in rows}, table
        assert conn.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = 'bi'").fetchone()


OLD_SCORE = ('INSERT INTO credit_scores (application_id, user_id, credit_score, loan_amount, risk_level, "timestamp", '
             "business_date) VALUES (%s, 'u1', 700, 1000, 'Low', %s, %s)")
OLD_TRANSACTION = ('INSERT INTO processed_transactions (transaction_id, user_id, amount, "timestamp", card_type, '
                   "is_fraud, business_date) VALUES (%s, 'u1', 10, %s, 'VISA', false, %s)")
PARTITION_BOUNDS = ("SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
                    "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass ORDER BY 1")


def test_a_warehouse_from_before_the_day_partitions_is_converted_with_its_rows(platform):
    """sql/029b on tables that hold rows (a warehouse made before it): every row lands in its day's
    partition, one without a business date in the UTC day of its timestamp; applying every file
    again changes nothing."""
    superuser = platform.postgres_uri(ROLE_SUPERUSER)
    scratch = superuser.rsplit("/", 1)[0] + "/credit_partition_probe"
    files = migrate.warehouse_sql_files()
    with psycopg.connect(superuser, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS credit_partition_probe")
        conn.execute("CREATE DATABASE credit_partition_probe")
    try:
        with psycopg.connect(scratch) as conn:
            for path in files:
                if path.name < "029b":
                    conn.execute(path.read_text())
            kind = conn.execute("SELECT relkind FROM pg_class WHERE oid = 'credit_scores'::regclass").fetchone()
            assert kind == ("r",)
            for key, ts, day in [("A1", "2026-11-01T10:00Z", "2026-11-01"), ("A2", "2026-11-01T23:59Z", "2026-11-01"),
                                 ("A3", "2026-11-02T00:00Z", "2026-11-02"), ("A4", "2026-11-03T23:30Z", None)]:
                conn.execute(OLD_SCORE, (key, ts, day))
                conn.execute(OLD_TRANSACTION, (f"T{key}", ts, day))
        expected = [(date(2026, 11, 1), 2), (date(2026, 11, 2), 1), (date(2026, 11, 3), 1)]
        for _ in range(2):
            with psycopg.connect(scratch) as conn:
                for path in files:
                    conn.execute(path.read_text())
            with psycopg.connect(scratch) as conn:
                for table in ("credit_scores", "processed_transactions"):
                    days = conn.execute(f"SELECT business_date, count(*) FROM {table} GROUP BY 1 ORDER BY 1").fetchall()
                    assert days == expected, table
                    bounds = conn.execute(PARTITION_BOUNDS, (table,)).fetchall()
                    assert bounds == [(f"FOR VALUES IN ('{d}')",) for d, _ in expected], table
                with pytest.raises(errors.UniqueViolation):
                    conn.execute(OLD_SCORE, ("A1", "2026-11-01T12:00Z", "2026-11-01"))
    finally:
        with psycopg.connect(superuser, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS credit_partition_probe")


PROBE_DAY = date(2099, 1, 1)  # a date no test loads; every probe of it is rolled back or dropped
INSERT_SCORE = ('INSERT INTO "{table}" (application_id, user_id, credit_score, loan_amount, risk_level, "timestamp", '
                "business_date) VALUES (%s, 'u1', %s, %s, %s, now(), %s)")


def _load_probe_day(conn, application_ids: list[str]) -> tuple[str, int]:
    """The nightly load's steps for PROBE_DAY of credit_scores, in the caller's transaction."""
    fresh = conn.execute("SELECT public.day_load_begin('credit_scores', %s)", (PROBE_DAY,)).fetchone()[0]
    for application_id in application_ids:
        conn.execute(INSERT_SCORE.format(table=fresh), (application_id, 700, 1000, "Low", PROBE_DAY))
    conn.execute("SELECT public.day_load_build('credit_scores', %s, %s)", (PROBE_DAY, fresh))
    replaced = conn.execute("SELECT public.day_load_swap('credit_scores', %s, %s)", (PROBE_DAY, fresh)).fetchone()[0]
    return fresh, replaced


def test_constraints_reject_bad_rows(platform):
    with psycopg.connect(platform.postgres_uri(ROLE_ETL)) as conn, conn.transaction(force_rollback=True):
        _load_probe_day(conn, [])
        for bad in [(299, 1000, "High"), (851, 1000, "Low"), (700, 0, "Low"), (700, 10, "Unknown")]:
            with pytest.raises(errors.CheckViolation), conn.transaction():
                conn.execute(INSERT_SCORE.format(table="credit_scores"), ("app-bad", *bad, PROBE_DAY))
        conn.execute(INSERT_SCORE.format(table="credit_scores"), ("app-1", 700, 15000, "Low", PROBE_DAY))
        with pytest.raises(errors.UniqueViolation), conn.transaction():
            conn.execute(INSERT_SCORE.format(table="credit_scores"), ("app-1", 701, 1, "Low", PROBE_DAY))
        with pytest.raises(errors.CheckViolation, match="no partition"), conn.transaction():  # a row has a date
            conn.execute(INSERT_SCORE.format(table="credit_scores"), ("app-2", 700, 1, "Low", None))
        with pytest.raises(errors.CheckViolation), conn.transaction():
            conn.execute("INSERT INTO metadata_table (job, source, target, run_id, started_at, finished_at, "
                         "status) VALUES ('j', 's', 't', 'r', now(), now() - interval '1 hour', 'success')")


def _probe_partitions(conn) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT relname FROM pg_class WHERE relname LIKE 'credit_scores\\_20990101\\_%%' AND relkind = 'r'")]


def test_a_day_is_swapped_in_whole_and_readers_see_the_old_day_until_the_commit(platform):
    """The nightly load's partition swap: a reload of a day replaces its partition, a reader sees the
    old day until the loader commits, a load rolled back leaves nothing behind, and the functions that
    do the DDL for etl_writer refuse any table but a fresh one of the two partitioned tables."""
    def day_rows(conn) -> list[str]:
        return [r[0] for r in conn.execute("SELECT application_id FROM credit_scores WHERE business_date = %s "
                                           "ORDER BY 1", (PROBE_DAY,))]

    with psycopg.connect(platform.postgres_uri(ROLE_ETL)) as loader, \
            psycopg.connect(platform.postgres_uri(ROLE_ETL), autocommit=True) as reader:
        try:
            with loader.transaction():
                first, replaced = _load_probe_day(loader, ["a1", "a2"])
            assert replaced == 0 and day_rows(reader) == ["a1", "a2"]
            assert reader.execute("SELECT c.relkind, pg_get_expr(c.relpartbound, c.oid) FROM pg_class c "
                                  "WHERE relname = %s", (first,)).fetchone() == ("r", "FOR VALUES IN ('2099-01-01')")
            with loader.transaction():
                fresh = loader.execute("SELECT public.day_load_begin('credit_scores', %s)", (PROBE_DAY,)).fetchone()[0]
                for application_id in ("b1", "b2", "b3"):
                    loader.execute(INSERT_SCORE.format(table=fresh), (application_id, 700, 1000, "Low", PROBE_DAY))
                loader.execute("SELECT public.day_load_build('credit_scores', %s, %s)", (PROBE_DAY, fresh))
                assert day_rows(reader) == ["a1", "a2"]  # loaded and indexed, not yet swapped in
                assert loader.execute("SELECT public.day_load_swap('credit_scores', %s, %s)",
                                      (PROBE_DAY, fresh)).fetchone()[0] == 2
                reader.execute("SET lock_timeout = '500ms'")
                with pytest.raises(errors.LockNotAvailable):  # swapped but not committed: the reader waits
                    day_rows(reader)
            reader.execute("RESET lock_timeout")
            assert day_rows(reader) == ["b1", "b2", "b3"]
            assert _probe_partitions(reader) == [fresh]  # the old partition is gone, indexes came with the swap
            assert {r[0] for r in reader.execute("SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = "
                                                 "%s::regclass", (fresh,))} == {
                f"{fresh}_pkey", f"{fresh}_user_id_idx", f"{fresh}_timestamp_idx"}
            with loader.transaction(force_rollback=True):
                _load_probe_day(loader, ["c1"])
            assert day_rows(reader) == ["b1", "b2", "b3"] and _probe_partitions(reader) == [fresh]

            for call, args in [("day_load_begin(%s, %s)", ("metadata_table", PROBE_DAY)),
                               ("day_load_swap(%s, %s, %s)", ("credit_scores", PROBE_DAY, "credit_scores")),
                               ("day_load_swap(%s, %s, %s)", ("credit_scores", PROBE_DAY, fresh)),
                               ("day_load_build(%s, %s, %s)", ("processed_transactions", PROBE_DAY, fresh))]:
                with pytest.raises(errors.InvalidParameterValue):
                    reader.execute(f"SELECT public.{call}", args)
            with pytest.raises(errors.InsufficientPrivilege):
                reader.execute(f"ALTER TABLE credit_scores DETACH PARTITION {fresh}")
            # a fresh table whose transaction committed without the swap is not swapped in later
            left = reader.execute("SELECT public.day_load_begin('credit_scores', %s)", (PROBE_DAY,)).fetchone()[0]
            with pytest.raises(errors.InvalidParameterValue):
                reader.execute("SELECT public.day_load_swap('credit_scores', %s, %s)", (PROBE_DAY, left))
            assert day_rows(reader) == ["b1", "b2", "b3"]
        finally:
            with psycopg.connect(platform.postgres_uri(ROLE_SUPERUSER), autocommit=True) as admin:
                for name in _probe_partitions(admin):
                    admin.execute(f'DROP TABLE "{name}"')


def test_etl_writer_writes_base_tables_but_cannot_change_schema(platform):
    with psycopg.connect(platform.postgres_uri(ROLE_ETL)) as conn:
        with conn.transaction(force_rollback=True):
            conn.execute("INSERT INTO data_quality_issues (record_id, issue, source) VALUES ('r', 'probe', 'test')")
            assert conn.execute("SELECT count(*) FROM data_quality_issues WHERE source = 'test'").fetchone()[0] == 1
        with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
            conn.execute("CREATE TABLE public.not_allowed (x int)")
        with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
            conn.execute("DROP TABLE credit_scores")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(platform.postgres_uri(ROLE_ETL, "airflow"), connect_timeout=5).close()


def test_bi_reader_sees_bi_schema_only(platform):
    with psycopg.connect(platform.postgres_uri(ROLE_SUPERUSER), autocommit=True) as admin:
        admin.execute("CREATE OR REPLACE VIEW bi.access_probe AS SELECT 1 AS one")
    try:
        with psycopg.connect(platform.postgres_uri(ROLE_BI)) as conn:
            assert conn.execute("SELECT one FROM bi.access_probe").fetchone() == (1,)
            for table in SEED_COLUMNS:
                with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
                    conn.execute(f"SELECT * FROM public.{table}")
            with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
                conn.execute("CREATE VIEW bi.mine AS SELECT 1")
    finally:
        with psycopg.connect(platform.postgres_uri(ROLE_SUPERUSER), autocommit=True) as admin:
            admin.execute("DROP VIEW IF EXISTS bi.access_probe")
