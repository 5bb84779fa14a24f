"""Warehouse DDL applies idempotently; constraints hold; roles have exactly their privileges."""

from __future__ import annotations

from datetime import UTC, datetime

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


def test_constraints_reject_bad_rows(platform):
    now = datetime.now(UTC)
    with psycopg.connect(platform.postgres_uri(ROLE_ETL)) as conn:
        for bad in [(299, 1000, "High"), (851, 1000, "Low"), (700, 0, "Low"), (700, 10, "Unknown")]:
            with pytest.raises(errors.CheckViolation), conn.transaction():
                conn.execute("INSERT INTO credit_scores VALUES ('app-bad', 'u1', %s, %s, %s, %s)", (*bad, now))
        with conn.transaction(force_rollback=True):
            conn.execute("INSERT INTO credit_scores VALUES ('app-1', 'u1', 700, 15000.00, 'Low', %s)", (now,))
            with pytest.raises(errors.UniqueViolation), conn.transaction():
                conn.execute("INSERT INTO credit_scores VALUES ('app-1', 'u1', 701, 1, 'Low', %s)", (now,))
        with pytest.raises(errors.CheckViolation), conn.transaction():
            conn.execute("INSERT INTO metadata_table (job, source, target, run_id, started_at, finished_at, "
                         "status) VALUES ('j', 's', 't', 'r', now(), now() - interval '1 hour', 'success')")


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
