"""Benchmarks: each prints its figures beside a baseline measured in the same run."""

from __future__ import annotations

from datetime import date


def psql(settings, role: str, *args: str, script: str | None = None) -> None:  # noqa: ANN001 (config.Settings)
    """`psql` as one of the platform's roles, its password in the child's environment (readable by
    its own user only) rather than on its command line, which every user of the host can read."""
    import os
    import subprocess
    from urllib.parse import unquote, urlsplit

    from credit_platform.config import redact

    uri = settings.postgres_uri(role)
    env = {**os.environ, "PGPASSWORD": unquote(urlsplit(uri).password or "")}
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", redact(uri), *args], input=script, env=env, text=True,
                   check=True)


DAY_PARTITION = ("SELECT c.oid::regclass::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                 "WHERE i.inhparent = %s::regclass AND pg_get_expr(c.relpartbound, c.oid) = %s")


def day_partition_bytes(settings, table: str, day: date) -> tuple[int, int]:  # noqa: ANN001 (config.Settings)
    """(table bytes with its TOAST, index bytes) of one day's partition of a table partitioned by day."""
    import psycopg

    from credit_platform.contracts.names import ROLE_SUPERUSER

    with psycopg.connect(settings.postgres_uri(ROLE_SUPERUSER)) as conn:
        bound = f"FOR VALUES IN ('{day.isoformat()}')"
        (partition,) = conn.execute(DAY_PARTITION, (f"public.{table}", bound)).fetchone()
        return conn.execute("SELECT pg_table_size(%s::regclass), pg_indexes_size(%s::regclass)",
                            (partition, partition)).fetchone()


def drop_day_partitions(settings, day: date) -> None:  # noqa: ANN001 (config.Settings)
    """Drop a benchmark's own business date from the tables partitioned by day, as the warehouse's
    owner (etl_writer can empty a day but not drop its partition)."""
    import psycopg

    from credit_platform.batch.load import DAY_PARTITIONED
    from credit_platform.contracts.names import ROLE_SUPERUSER

    with psycopg.connect(settings.postgres_uri(ROLE_SUPERUSER), autocommit=True) as conn:
        for table in DAY_PARTITIONED:
            for (partition,) in conn.execute(
                    DAY_PARTITION, (f"public.{table}", f"FOR VALUES IN ('{day.isoformat()}')")).fetchall():
                conn.execute(f"DROP TABLE {partition}")
