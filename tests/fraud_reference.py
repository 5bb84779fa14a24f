"""Test oracle: the fraud rules computed over whole files with polars, independently of Flink.

The job's alerts must equal these, alert id for alert id. Thresholds come from
credit_platform.rules, like the job's."""

from __future__ import annotations

import numpy as np
import polars as pl

from credit_platform.generator import haversine_km
from credit_platform.rules import DEFAULT_FRAUD_RULES as R
from credit_platform.rules import DEFAULT_POLICY as P

TS = pl.col("timestamp").str.to_datetime("%Y-%m-%dT%H:%M:%S%.3fZ")


def expected_alerts(apps: pl.DataFrame, txs: pl.DataFrame) -> set[str]:
    alerts: set[str] = set()
    apps = apps.with_columns(TS.alias("ts"))
    seed = apps.filter((pl.col("loan_amount") > float(P.fraud_large_loan_amount))
                       & (pl.col("credit_score") < P.fraud_low_credit_score))
    alerts |= {f"large_loan_low_score:{i}" for i in seed["application_id"]}

    # rolling windows ending at each event, [t - window, t] inclusive, as Flink's RANGE frame
    ordered = apps.sort("ts")
    for rule, by, minutes, value, threshold in (
        ("application_velocity", "user_id", R.velocity_window_minutes, pl.len(), R.velocity_min_applications),
        ("shared_device", "device_id", R.device_window_minutes, pl.col("user_id").n_unique(), R.device_min_users),
    ):
        counts = (ordered.rolling("ts", period=f"{minutes}m", closed="both", group_by=by)
                  .agg(value.alias("n"), pl.col("application_id").last()))
        alerts |= {f"{rule}:{i}" for i in counts.filter(pl.col("n") >= threshold)["application_id"]}

    txs = txs.with_columns(TS.alias("ts")).sort("ts")
    prev = txs.with_columns(
        pl.col("latitude").shift().over("user_id").alias("plat"),
        pl.col("longitude").shift().over("user_id").alias("plon"),
        (pl.col("ts") - pl.col("ts").shift().over("user_id")).dt.total_seconds().alias("seconds"),
        pl.col("amount").rolling_sum(R.spike_history + 1).over("user_id").alias("total"),
        pl.int_range(pl.len()).over("user_id").alias("position"),
    )
    travel = prev.filter(pl.col("plat").is_not_null())
    km = haversine_km(travel["plat"].to_numpy(), travel["plon"].to_numpy(), travel["latitude"].to_numpy(),
                      travel["longitude"].to_numpy())
    fast = (km >= R.travel_min_distance_km) & (km * 3600 > R.travel_max_speed_kmh
                                                * np.maximum(travel["seconds"].to_numpy(), 1))
    alerts |= {f"impossible_travel:{i}" for i in travel["transaction_id"].to_numpy()[fast]}

    spikes = prev.filter(pl.col("position") >= R.spike_history).with_columns(
        ((pl.col("total") - pl.col("amount")) / R.spike_history).alias("prev_avg"))
    spikes = spikes.filter((pl.col("amount") >= R.spike_min_amount)
                           & (pl.col("amount") >= R.spike_factor * pl.col("prev_avg")))
    alerts |= {f"amount_spike:{i}" for i in spikes["transaction_id"]}
    return alerts
