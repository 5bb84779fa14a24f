"""Every trained scorecard, versioned in the warehouse table `credit_models`, with one champion.

A challenger is promoted when its out-of-time AUC is no worse than the champion's on the same
out-of-time sample (or when there is no champion yet, or when a person forces it with a reason);
the former champion is retired. Who promoted and why is kept on the row. The nightly job scores
with the champion. Writes go through `etl_writer`, in one transaction per training run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from credit_platform.config import Settings
from credit_platform.contracts.names import ROLE_ETL
from credit_platform.rules.credit import Scorecard


@dataclass(frozen=True)
class ModelRow:
    version: str
    trained_by: str
    training_run_id: str
    sample_from: date
    sample_to: date
    out_of_time_from: date
    train_rows: int
    validation_rows: int
    metrics: dict[str, Any]
    report_path: str


def champion(settings: Settings) -> Scorecard | None:
    """The champion scorecard (None before the first is trained)."""
    import psycopg

    with psycopg.connect(settings.postgres_uri(ROLE_ETL), connect_timeout=10) as conn:
        row = conn.execute("SELECT scorecard, version FROM credit_models WHERE status = 'champion'").fetchone()
    if row is None:
        return None
    return Scorecard.from_json({**row[0], "version": row[1]})


def record(settings: Settings, card: Scorecard, row: ModelRow, promote: bool, promoted_by: str,
           reason: str) -> str:
    """Store the model (a rerun of the same training keeps the row it made) and, if `promote`, make
    it the champion and retire the former one. Returns the model's status."""
    import psycopg
    from psycopg.types.json import Jsonb

    now = datetime.now(UTC)
    m = row.metrics["out_of_time"]
    with psycopg.connect(settings.postgres_uri(ROLE_ETL), connect_timeout=10) as conn, conn.transaction():
        conn.execute(
            "INSERT INTO credit_models (version, trained_at, trained_by, training_run_id, sample_from, sample_to, "
            "out_of_time_from, train_rows, validation_rows, auc, gini, ks, metrics, scorecard, status, report_path) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'challenger', %s) "
            "ON CONFLICT (version) DO UPDATE SET metrics = EXCLUDED.metrics, report_path = EXCLUDED.report_path",
            (card.version, now, row.trained_by, row.training_run_id, row.sample_from, row.sample_to,
             row.out_of_time_from, row.train_rows, row.validation_rows, m["auc"], m["gini"], m["ks"],
             Jsonb(row.metrics), Jsonb(json.loads(card.to_json())), row.report_path))
        status = conn.execute("SELECT status FROM credit_models WHERE version = %s", (card.version,)).fetchone()[0]
        if promote and status != "champion":
            conn.execute("UPDATE credit_models SET status = 'retired', retired_at = %s WHERE status = 'champion'",
                         (now,))
            conn.execute("UPDATE credit_models SET status = 'champion', promoted_at = %s, promoted_by = %s, "
                         "promotion_reason = %s, retired_at = NULL WHERE version = %s",
                         (now, promoted_by, reason, card.version))
            status = "champion"
    return status


def models(settings: Settings) -> list[dict[str, Any]]:
    """Every model, newest first (for the report index and the CLI)."""
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(settings.postgres_uri(ROLE_ETL), connect_timeout=10, row_factory=dict_row) as conn:
        return conn.execute("SELECT version, trained_at, status, auc, gini, ks, sample_from, sample_to, "
                            "train_rows, validation_rows, promoted_by, promotion_reason, report_path "
                            "FROM credit_models ORDER BY trained_at DESC").fetchall()
