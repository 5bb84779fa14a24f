"""The fraud rules, stated once, each with its engine twins beside it.

- Settings: `FraudRules` (the windowed rules' thresholds) and the seed rule's two thresholds in the
  lending policy (`LendingPolicy.fraud_large_loan_amount`, `fraud_low_credit_score`), which the
  governed policy document may override.
- Flink SQL twin: `rule_queries` renders one SELECT per rule over the views `applications` and
  `transactions` (columns `APPLICATION_COLUMNS` / `TRANSACTION_COLUMNS`; `source_ddl` declares them,
  holding only the records that keep the event contract). The fraud job runs it over Kafka; the
  parity test runs it over bounded files of the same rows.
- Python reference: `is_large_loan_low_score` (one application) and `reference_alerts` (every
  rule over whole frames, with polars and numpy), which the parity test and the fraud job's
  integration tests compare the job's alerts with, alert id for alert id.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from credit_platform.contracts.events import EVENT_TIME_MAX_AHEAD, contract_json
from credit_platform.contracts.names import APPLICATIONS_TOPIC, TRANSACTIONS_TOPIC
from credit_platform.rules.lending import DEFAULT_POLICY, LendingPolicy

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

EARTH_RADIUS_KM = 6371.0


@dataclass(frozen=True)
class FraudRules:
    # application velocity: this many applications by one user within the window
    velocity_window_minutes: int = 10
    velocity_min_applications: int = 4
    # one device used by this many distinct users within the window
    device_window_minutes: int = 60
    device_min_users: int = 4
    # impossible travel: consecutive card transactions farther apart than a plane could fly
    travel_max_speed_kmh: float = 900.0
    travel_min_distance_km: float = 500.0
    # amount spike: this many times the user's average of their recent transactions
    spike_factor: float = 5.0
    spike_min_amount: float = 500.0
    spike_history: int = 5


DEFAULT_FRAUD_RULES = FraudRules()

RULES = ("large_loan_low_score", "application_velocity", "shared_device", "impossible_travel", "amount_spike")

# What each rule reads: the columns of the stream's source tables (never the labels).
APPLICATION_COLUMNS = (("application_id", "STRING"), ("user_id", "STRING"), ("credit_score", "INT"),
                       ("loan_amount", "DECIMAL(14, 2)"), ("timestamp", "TIMESTAMP_LTZ(3)"),
                       ("device_id", "STRING"), ("city", "STRING"))
TRANSACTION_COLUMNS = (("transaction_id", "STRING"), ("user_id", "STRING"), ("amount", "DECIMAL(14, 2)"),
                       ("timestamp", "TIMESTAMP_LTZ(3)"), ("location", "STRING"), ("latitude", "DOUBLE"),
                       ("longitude", "DOUBLE"), ("device_id", "STRING"))
ALERT_COLUMNS = "alert_id, rule, severity, reason, user_id, event_type, event_id, event_time"
# The stream's tables: what each reads, and the contract its records are checked against.
STREAM_TABLES = {"applications": (APPLICATIONS_TOPIC, APPLICATION_COLUMNS),
                 "transactions": (TRANSACTIONS_TOPIC, TRANSACTION_COLUMNS)}
CONTRACT_FORMAT = "contract-json"  # deps/flink: Flink's JSON reader plus the contract, dropping nothing


def columns_ddl(columns: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"`{name}` {sql_type}" for name, sql_type in columns)


def event_time_ddl(out_of_orderness_ms: int) -> str:
    """The tables' event time (`event_time`, what every rule orders by) and its watermark: the record's
    `timestamp`, except that one with none, or dated further ahead of the clock than the contract
    allows, counts as the epoch. Late for every window, such a record can never carry the watermark
    (and with it every windowed rule) into the future; the seed rule, a filter, still judges it."""
    ahead = int(EVENT_TIME_MAX_AHEAD.total_seconds())
    return (f"event_time AS CASE WHEN `timestamp` IS NULL OR `timestamp` > TIMESTAMPADD(SECOND, {ahead}, "
            "CURRENT_TIMESTAMP) THEN TO_TIMESTAMP_LTZ(0, 3) ELSE `timestamp` END, "
            f"WATERMARK FOR event_time AS event_time - INTERVAL '{out_of_orderness_ms / 1000:.3f}' SECOND")


# Flink's own JSON format, which skips what it cannot parse without a trace: for measuring what the
# contract check costs (`jobs/fraud_detection.py --source-format json`), never for detection.
PLAIN_JSON_FORMAT = ("'format' = 'json', 'json.timestamp-format.standard' = 'ISO-8601', "
                     "'json.fail-on-missing-field' = 'false', 'json.ignore-parse-errors' = 'true'")


def source_ddl(options: dict[str, str], out_of_orderness_ms: int, metadata: str = "",
               plain_json: bool = False) -> list[str]:
    """DDL of the stream's tables. `<table>_in` reads every record with the contract-json format
    (`options[table]`: connector and location); a record it cannot read, or that breaks the contract,
    keeps `_error` (what is wrong) and `_raw` (the payload). The view `<table>`, which the rules read,
    holds the others. `metadata`: extra connector metadata columns (e.g. Kafka partition and offset)."""
    ddl = []
    for table, (topic, columns) in STREAM_TABLES.items():
        rules = contract_json(topic, (name for name, _ in columns)).replace("'", "''")
        source_format = PLAIN_JSON_FORMAT if plain_json else (
            f"'format' = '{CONTRACT_FORMAT}', '{CONTRACT_FORMAT}.rules' = '{rules}'")
        ddl.append(f"""CREATE TABLE {table}_in (
            {columns_ddl(columns)}, `_error` STRING, `_raw` STRING, {metadata + ", " if metadata else ""}
            {event_time_ddl(out_of_orderness_ms)}
        ) WITH ({options[table]}, {source_format})""")
        ddl.append(f"CREATE TEMPORARY VIEW {table} AS SELECT * FROM {table}_in WHERE `_error` IS NULL")
    return ddl


# ---- the seed rule ----------------------------------------------------------------------------
def is_large_loan_low_score(loan_amount: Decimal | float, credit_score: int,
                            policy: LendingPolicy = DEFAULT_POLICY) -> bool:
    """The seed's fraud rule (Python reference): loan_amount > 15000 and credit_score < 450."""
    return Decimal(str(loan_amount)) > policy.fraud_large_loan_amount and credit_score < policy.fraud_low_credit_score


# ---- great-circle distance: numpy reference and its Flink SQL twin -------------------------------
def haversine_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    import numpy as np

    lat1, lon1, lat2, lon2 = (np.radians(a) for a in (lat1, lon1, lat2, lon2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(a))


def _haversine_sql(lat1: str, lon1: str, lat2: str, lon2: str) -> str:
    return (f"2 * {EARTH_RADIUS_KM} * ASIN(SQRT(POWER(SIN(RADIANS({lat2} - {lat1}) / 2), 2) + COS(RADIANS({lat1})) * "
            f"COS(RADIANS({lat2})) * POWER(SIN(RADIANS({lon2} - {lon1}) / 2), 2)))")


# ---- Flink SQL twins ------------------------------------------------------------------------------
def alert_select(rule: str, severity: str, reason: str, event_type: str, event_id: str) -> str:
    return (f"CONCAT('{rule}:', {event_id}) AS alert_id, '{rule}' AS rule, '{severity}' AS severity, "
            f"{reason} AS reason, user_id, '{event_type}' AS event_type, {event_id} AS event_id, "
            "event_time")


def _count_in_window(rule: str, severity: str, count: str, key: str, minutes: int, threshold: int,
                     says: str) -> str:
    """Alert on an application once `count` over its `key`'s last `minutes` reaches `threshold`."""
    reason = f"CONCAT(CAST(n AS STRING), {says} {minutes} minutes')"
    return f"""
            SELECT {alert_select(rule, severity, reason, "application", "application_id")}
            FROM (SELECT application_id, user_id, device_id, event_time, {count} OVER (
                      PARTITION BY {key} ORDER BY event_time
                      RANGE BETWEEN INTERVAL '{minutes}' MINUTE PRECEDING AND CURRENT ROW) AS n
                  FROM applications)
            WHERE n >= {threshold}"""


def rule_queries(rules: FraudRules = DEFAULT_FRAUD_RULES, policy: LendingPolicy = DEFAULT_POLICY) -> dict[str, str]:
    """One SELECT per rule (Flink SQL), each yielding ALERT_COLUMNS."""
    large, low = policy.fraud_large_loan_amount, policy.fraud_low_credit_score
    km = _haversine_sql("prev_lat", "prev_lon", "latitude", "longitude")
    return {
        "large_loan_low_score": f"""
            SELECT {alert_select("large_loan_low_score", "high",
                           f"CONCAT('loan amount ', CAST(loan_amount AS STRING), ' > {large} with credit score ', "
                           f"CAST(credit_score AS STRING), ' < {low}')", "application", "application_id")}
            FROM applications WHERE loan_amount > {large} AND credit_score < {low}""",
        "application_velocity": _count_in_window(
            "application_velocity", "medium", "COUNT(*)", "user_id", rules.velocity_window_minutes,
            rules.velocity_min_applications, "' applications by this customer within"),
        "shared_device": _count_in_window(
            "shared_device", "high", "COUNT(DISTINCT user_id)", "device_id", rules.device_window_minutes,
            rules.device_min_users, "' different customers on device ', device_id, ' within"),
        "impossible_travel": f"""
            SELECT {alert_select("impossible_travel", "high",
                           "CONCAT(CAST(CAST(km AS INT) AS STRING), ' km from ', prev_location, ' to ', location, "
                           "' in ', CAST(seconds AS STRING), ' s')", "transaction", "transaction_id")}
            FROM (SELECT *, {km} AS km, TIMESTAMPDIFF(SECOND, prev_ts, event_time) AS seconds
                  FROM (SELECT transaction_id, user_id, event_time, location, latitude, longitude,
                               LAG(latitude) OVER w AS prev_lat, LAG(longitude) OVER w AS prev_lon,
                               LAG(event_time) OVER w AS prev_ts, LAG(location) OVER w AS prev_location
                        FROM transactions
                        WINDOW w AS (PARTITION BY user_id ORDER BY event_time)))
            WHERE prev_lat IS NOT NULL AND km >= {rules.travel_min_distance_km}
              AND km * 3600 > {rules.travel_max_speed_kmh} * GREATEST(seconds, 1)""",
        "amount_spike": f"""
            SELECT {alert_select("amount_spike", "medium",
                           "CONCAT('amount ', CAST(amount AS STRING), ' is ', CAST(CAST(amount / prev_avg AS INT) "
                           f"AS STRING), 'x the average of the previous {rules.spike_history} purchases')",
                           "transaction", "transaction_id")}
            FROM (SELECT *, (total - amount) / (n - 1) AS prev_avg
                  FROM (SELECT transaction_id, user_id, event_time, amount,
                               SUM(amount) OVER w AS total, COUNT(*) OVER w AS n
                        FROM transactions
                        WINDOW w AS (PARTITION BY user_id ORDER BY event_time
                                     ROWS BETWEEN {rules.spike_history} PRECEDING AND CURRENT ROW)))
            WHERE n = {rules.spike_history + 1} AND amount >= {rules.spike_min_amount}
              AND amount >= {rules.spike_factor} * prev_avg""",
    }


# ---- Python reference over whole frames (polars + numpy) -------------------------------------------
def reference_alerts(apps: pl.DataFrame, txs: pl.DataFrame, rules: FraudRules = DEFAULT_FRAUD_RULES,
                     policy: LendingPolicy = DEFAULT_POLICY) -> set[str]:
    """The alert ids every rule raises over these events (frames with the generator's columns,
    `timestamp` as ISO-8601 text or a datetime), computed independently of Flink."""
    import numpy as np
    import polars as pl

    def with_ts(frame: pl.DataFrame) -> pl.DataFrame:
        ts = pl.col("timestamp")
        if frame.schema["timestamp"] == pl.String:
            ts = ts.str.to_datetime("%Y-%m-%dT%H:%M:%S%.3fZ")
        return frame.with_columns(ts.alias("ts"))

    alerts: set[str] = set()
    apps = with_ts(apps)
    seed = apps.filter((pl.col("loan_amount") > float(policy.fraud_large_loan_amount))
                       & (pl.col("credit_score") < policy.fraud_low_credit_score))
    alerts |= {f"large_loan_low_score:{i}" for i in seed["application_id"]}

    # rolling windows ending at each event, [t - window, t] inclusive, as Flink's RANGE frame
    ordered = apps.sort("ts")
    for rule, by, minutes, value, threshold in (
        ("application_velocity", "user_id", rules.velocity_window_minutes, pl.len(), rules.velocity_min_applications),
        ("shared_device", "device_id", rules.device_window_minutes, pl.col("user_id").n_unique(),
         rules.device_min_users),
    ):
        counts = (ordered.rolling("ts", period=f"{minutes}m", closed="both", group_by=by)
                  .agg(value.alias("n"), pl.col("application_id").last()))
        alerts |= {f"{rule}:{i}" for i in counts.filter(pl.col("n") >= threshold)["application_id"]}

    txs = with_ts(txs).sort("ts")
    prev = txs.with_columns(
        pl.col("latitude").shift().over("user_id").alias("plat"),
        pl.col("longitude").shift().over("user_id").alias("plon"),
        (pl.col("ts") - pl.col("ts").shift().over("user_id")).dt.total_seconds().alias("seconds"),
        pl.col("amount").rolling_sum(rules.spike_history + 1).over("user_id").alias("total"),
        pl.int_range(pl.len()).over("user_id").alias("position"),
    )
    travel = prev.filter(pl.col("plat").is_not_null())
    km = haversine_km(travel["plat"].to_numpy(), travel["plon"].to_numpy(), travel["latitude"].to_numpy(),
                      travel["longitude"].to_numpy())
    fast = (km >= rules.travel_min_distance_km) & (km * 3600 > rules.travel_max_speed_kmh
                                                    * np.maximum(travel["seconds"].to_numpy(), 1))
    alerts |= {f"impossible_travel:{i}" for i in travel["transaction_id"].to_numpy()[fast]}

    spikes = prev.filter(pl.col("position") >= rules.spike_history).with_columns(
        ((pl.col("total") - pl.col("amount")) / rules.spike_history).alias("prev_avg"))
    spikes = spikes.filter((pl.col("amount") >= rules.spike_min_amount)
                           & (pl.col("amount") >= rules.spike_factor * pl.col("prev_avg")))
    alerts |= {f"amount_spike:{i}" for i in spikes["transaction_id"]}
    return alerts
