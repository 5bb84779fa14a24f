"""Great Expectations' warehouse suite on a day of 1M scored applications, each expectation timed.

Needs a running platform (`credit-platform up --only postgres`). Writes 1M rows of valid scored
applications under a business date of its own (2031-01-01) into `credit_scores`, with the lineage
row the suite reconciles its row count with, then:

  baseline: one plain scan of the day in PostgreSQL (`count(*)` and a `count` of a nullable column):
            what any check of every row costs at the least;
  each expectation of the suite alone (GX 1.x, one validation each, with the nightly run's result
            format: the ids of failing records), and those the database itself enforces (left out of
            the suite: the primary key, NOT NULL columns), with a time cap;
  the suite: `credit-platform dq --scope warehouse` as the nightly DAG runs it.

It drops its day and its lineage row afterwards.

    .venv/bin/python -m bench.dq_bench [--rows 1000000] [--cap-seconds 60]
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import date

import psycopg

from bench import drop_day_partitions
from credit_platform import config
from credit_platform.contracts.events import contract_for, field_rules
from credit_platform.contracts.names import APPLICATIONS_TOPIC, ROLE_ETL
from credit_platform.quality import expectations

DAY = date(2031, 1, 1)
RUN_ID = "bench-dq-2031-01-01"
# what the nightly run asks for: every failing record's id, for data_quality_issues
RESULT_FORMAT = {"result_format": "COMPLETE", "unexpected_index_column_names": ["application_id"]}


def fill(settings: config.Settings, rows: int) -> None:
    """`rows` valid scored applications under DAY (the contract's first allowed value where it has a set)."""
    allowed = {r.name: sorted(r.allowed)[0] for r in field_rules(contract_for(APPLICATIONS_TOPIC).model) if r.allowed}
    text = {c: allowed.get(c, "x") for c in ("loan_purpose", "employment_status", "channel")}
    with psycopg.connect(settings.postgres_uri(ROLE_ETL)) as conn:
        cleanup(conn)
        # the day's partition the way the nightly load makes it (sql/029b_day_partitions.sql)
        fresh = conn.execute("SELECT public.day_load_begin('credit_scores', %s)", (DAY,)).fetchone()[0]
        conn.execute(f"""
            INSERT INTO "{fresh}" (application_id, user_id, credit_score, loan_amount, risk_level, "timestamp",
                business_date, annual_income, loan_term_months, loan_purpose, employment_status, channel, device_id,
                city, latitude, longitude, decision, decision_reason, fraud_alert, policy_id, policy_version,
                decided_by, decided_at, scoring_run_id, probability_of_default, score_points, risk_grade,
                reason_codes, model_version)
            SELECT 'BENCH-DQ-' || i, 'U-' || (i %% 100000), 300 + i %% 551, 1000 + i %% 20000,
                   CASE WHEN 300 + i %% 551 >= 700 THEN 'Low' WHEN 300 + i %% 551 >= 500 THEN 'Medium' ELSE 'High' END,
                   TIMESTAMPTZ '{DAY} 00:00:00+00' + i * INTERVAL '80 milliseconds', DATE '{DAY}', 60000, 36,
                   %s, %s, %s, 'D-' || i, 'Berlin', 52.5, 13.4, 'approve', 'probability of default below the cut-off',
                   false, 'lending-policy', 1, 'scorecard', now(), %s, 0.05, 610, 'C', ARRAY['none'], 'bench'
            FROM generate_series(1, %s) AS i""",
                     (text["loan_purpose"], text["employment_status"], text["channel"], RUN_ID, rows))
        conn.execute("SELECT public.day_load_build('credit_scores', %s, %s)", (DAY, fresh))
        conn.execute("SELECT public.day_load_swap('credit_scores', %s, %s)", (DAY, fresh))
        conn.execute("""INSERT INTO metadata_table (job, source, target, run_id, started_at, finished_at, rows_in,
                            rows_out, rows_rejected, status)
                        VALUES ('risk_scoring', %s, 'credit_scores', %s, now(), now(), %s, %s, 0, 'success')""",
                     (f"landing/{APPLICATIONS_TOPIC}/dt={DAY}", RUN_ID, rows, rows))


def cleanup(conn: psycopg.Connection) -> None:
    conn.execute("DELETE FROM credit_scores WHERE business_date = %s AND scoring_run_id = %s", (DAY, RUN_ID))
    conn.execute("DELETE FROM metadata_table WHERE run_id = %s", (RUN_ID,))
    conn.execute("DELETE FROM data_quality_issues WHERE data_date = %s", (DAY,))


def timed(fn) -> float:  # noqa: ANN001
    started = time.monotonic()
    fn()
    return time.monotonic() - started


def each_expectation(settings: config.Settings, rows: int, cap: int) -> list[tuple[str, float | None, str]]:
    """(expectation, seconds or None past the cap, what) for the suite's and the enforced ones."""
    context = expectations.get_context(settings)
    # a cap per statement, so a check that would run for many minutes shows as "over the cap"
    os.environ["CP_GX_POSTGRES_URL"] += f"%20-c%20statement_timeout%3D{cap * 1000}"
    source = context.data_sources.add_postgres(name="bench", connection_string="${CP_GX_POSTGRES_URL}")
    asset = source.add_query_asset(name="day", query=f"SELECT * FROM credit_scores WHERE business_date = DATE '{DAY}'")
    batch = asset.add_batch_definition_whole_table(name="day").get_batch()
    enforced = expectations.enforced_constraints(settings, "credit_scores")
    lean = expectations.warehouse_suite("credit_scores", enforced)
    full = expectations.warehouse_suite("credit_scores")
    kept = {e.configuration.to_json_dict().__repr__() for e in lean.expectations}
    found = []
    for expectation in full.expectations:
        label = f"{expectation.expectation_type}({getattr(expectation, 'column', '') or ''})"
        what = "suite" if repr(expectation.configuration.to_json_dict()) in kept else "enforced by the database"
        started = time.monotonic()
        result = batch.validate(expectation, expectation_parameters={"valid_landed_rows": rows},
                                result_format=RESULT_FORMAT)
        seconds = time.monotonic() - started
        failed_by_cap = result.exception_info and any(
            "statement timeout" in str(v) for v in _values(result.exception_info))
        found.append((label, None if failed_by_cap else seconds, what))
    return found


def _values(info) -> list:  # noqa: ANN001
    return list(info.values()) if isinstance(info, dict) else [info]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cap-seconds", type=int, default=60, help="longest a single expectation may run")
    args = parser.parse_args()
    settings = config.load()
    print(f"filling {args.rows:,} scored applications under {DAY} ...", flush=True)
    fill(settings, args.rows)
    try:
        with psycopg.connect(settings.postgres_uri(ROLE_ETL)) as conn:
            scan = timed(lambda: conn.execute("SELECT count(*), count(decision_reason) FROM credit_scores "
                                              "WHERE business_date = %s", (DAY,)).fetchone())
        suite = timed(lambda: expectations.run_checks(settings, DAY, f"{RUN_ID}-suite", landed=False))
        each = each_expectation(settings, args.rows, args.cap_seconds)
    finally:
        with psycopg.connect(settings.postgres_uri(ROLE_ETL)) as conn:
            cleanup(conn)
        drop_day_partitions(settings, DAY)
    print(f"warehouse suite on {args.rows:,} rows of one day (credit_scores)")
    print(f"  {'run':<72} {'seconds':>8} {'vs scan':>8}")
    print(f"  {'baseline: one scan of the day (count(*), count(decision_reason))':<72} {scan:>8.2f} {1:>7.1f}x")
    print(f"  {'the suite, as the nightly DAG runs it (dq --scope warehouse)':<72} {suite:>8.2f} {suite / scan:>7.1f}x")
    for label, seconds, what in each:
        capped = f"{'> ' + str(args.cap_seconds):>8} {'':>8}"
        shown = f"{seconds:>8.2f} {seconds / scan:>7.1f}x" if seconds is not None else capped
        print(f"    {label + ('  [' + what + ']' if what != 'suite' else ''):<70} {shown}")


if __name__ == "__main__":
    main()
