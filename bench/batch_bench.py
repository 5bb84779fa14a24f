"""Nightly batch speed: N generated applications produced → landed → scored → loaded, with the
warehouse load compared to `psql \\copy` of the very same rows in the same run.

Needs a running platform (`credit-platform up`). Uses a business date of its own (far in the
future, new on each run) and drops that date's partitions and issues at the end.

  1. produce N applications into `credit_applications` (validated producer)
  2. `credit-platform land`: Kafka → Parquet (wall time, records/s)
  3. `spark-submit jobs/risk_scoring.py --date D`: Spark start-up, validate+score+stage, load
     (a fresh partition of the day, indexes built after, swapped in; one transaction), and the wall
     time of the whole spark-submit
  4. baseline: the same rows exported to CSV and loaded with `psql \\copy` into a fresh table of the
     same shape, a plain (logged) one as the warehouse's and a temporary one (no WAL)

    .venv/bin/python bench/batch_bench.py [--records 1000000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg

from bench import day_partition_bytes, drop_day_partitions, psql
from credit_platform import config
from credit_platform.batch import spark_submit
from credit_platform.batch.scoring import CREDIT_SCORES_COLUMNS
from credit_platform.contracts.names import APPLICATIONS_TOPIC, ROLE_ETL, ROLE_SUPERUSER
from credit_platform.ingest import generator, landing, producer
from credit_platform.ingest.scenario import GeneratorConfig


def psql_copy(settings: config.Settings, csv: Path, logged: bool) -> float:
    """`psql \\copy` of the CSV into a fresh table shaped like credit_scores (same columns, keys,
    indexes and checks). A temporary table (`logged=False`) writes no WAL and lives in the session's
    own buffers; a plain table (`logged=True`, made by the warehouse's owner, as etl_writer may not
    create tables) writes WAL as the warehouse does."""
    columns = ", ".join(f'"{c}"' for c in CREDIT_SCORES_COLUMNS)
    kind, name, role = ("", "bench_copy_baseline", ROLE_SUPERUSER) if logged else ("TEMP ", "copy_baseline", ROLE_ETL)
    script = (f"SET client_min_messages = warning;\nDROP TABLE IF EXISTS {name};\n"
              f"CREATE {kind}TABLE {name} (LIKE credit_scores INCLUDING ALL);\n"
              f"\\copy {name} ({columns}) FROM '{csv}' WITH (FORMAT csv)\n")
    started = time.perf_counter()
    psql(settings, role, script=script)
    seconds = time.perf_counter() - started
    if logged:
        psql(settings, role, "-c", f"DROP TABLE {name}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args()
    settings = config.load()
    day = date(1900, 1, 1) + timedelta(days=int(time.time()) % 30000)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    n = args.records
    # All N events inside one day: the rate follows from the count.
    cfg = GeneratorConfig(seed=int(time.time()), start=start, rate_per_second=max(50.0, n / 80_000))
    print(f"business date {day}, {n:,} applications")

    t = time.perf_counter()
    frame = generator.generate("applications", n, cfg)
    lines = generator.to_json_lines(frame).splitlines()
    print(f"generate:  {time.perf_counter() - t:6.1f} s")
    t = time.perf_counter()
    summary = producer.produce(settings, APPLICATIONS_TOPIC, lines, progress=False)
    produce_s = time.perf_counter() - t
    assert summary.complete, summary.render()
    print(f"produce:   {produce_s:6.1f} s  ({n / produce_s:,.0f} records/s)")

    t = time.perf_counter()
    landed = landing.Lander(settings, [APPLICATIONS_TOPIC], progress=False).run()
    land_s = time.perf_counter() - t
    print(f"land:      {land_s:6.1f} s  ({landed.records / land_s:,.0f} records/s, {landed.records:,} records)")

    t = time.perf_counter()
    result = spark_submit.submit(settings, "risk_scoring", ["--date", str(day), "--run-id", f"bench-{day}"])
    submit_s = time.perf_counter() - t
    assert result.returncode == 0, result.stdout
    job = json.loads(result.stdout.strip().splitlines()[-1])
    seconds, loaded = job["seconds"], job["tables"]["credit_scores"]["loaded"]
    assert loaded == n, job

    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "credit_scores.csv"
        columns = ", ".join(f'"{c}"' for c in CREDIT_SCORES_COLUMNS)
        psql(settings, ROLE_ETL, "-c", f"\\copy (SELECT {columns} FROM credit_scores WHERE business_date = '{day}') "
             f"TO '{csv}' WITH (FORMAT csv)")
        copy_temp_s = psql_copy(settings, csv, logged=False)
        copy_s = psql_copy(settings, csv, logged=True)
    table_bytes, index_bytes = day_partition_bytes(settings, "credit_scores", day)
    with psycopg.connect(settings.postgres_uri(ROLE_ETL)) as conn:
        conn.execute("DELETE FROM data_quality_issues WHERE data_date = %s", (day,))
    drop_day_partitions(settings, day)

    score_load = seconds["score"] + seconds["load"]
    print(f"spark start:              {seconds['spark_start']:6.1f} s  (session, inside the job)")
    print(f"validate+score+stage:     {seconds['score']:6.1f} s")
    print(f"load (partition swap):    {seconds['load']:6.1f} s  (COPY, indexes, swap; one transaction)")
    for step in ("load_copy", "load_id_check", "load_indexes", "load_other_tables", "load_swap", "load_commit"):
        print(f"  {step + ':':<24}{seconds.get(step, 0):6.1f} s")
    print(f"score+load:               {score_load:6.1f} s  ({n / score_load:,.0f} rows/s)")
    print(f"spark-submit wall:        {submit_s:6.1f} s  (JVM launch + start + score + load + stop)")
    print(f"baseline psql \\copy:      {copy_s:6.1f} s  (same rows, a fresh logged table of the same shape)")
    print(f"  into a TEMP table:       {copy_temp_s:6.1f} s  (no WAL: the floor)")
    print(f"warehouse bytes per row:  {table_bytes / n:6.0f} B table + {index_bytes / n:.0f} B indexes "
          f"(the day's credit_scores partition, {(table_bytes + index_bytes) / 2**20:,.0f} MB)")
    load_s = seconds["load"]
    print(f"load / \\copy:             {load_s / copy_s:6.2f}x  ({load_s / copy_temp_s:.2f}x the TEMP one)")
    print(f"spark-submit / \\copy:     {submit_s / copy_s:6.2f}x  ({submit_s / copy_temp_s:.2f}x the TEMP; aim <= 2x)")


if __name__ == "__main__":
    main()
