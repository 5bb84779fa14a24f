"""The learned fraud score's features, defined once, with their two twins side by side: the Flink SQL
the stream and the backtest run (`feature_query`), and a polars reference (`reference_features`).
`tests/unit/test_feature_parity.py` holds them equal on generated events.

Every feature is point-in-time: a transaction sees only what happened at or before its event time
(windows `[t - length, t]`, as Flink's RANGE frame and the rules' reference count them), so the
training set built over landed history is what the stream computes live.

- the customer: count and sum of their purchases over the last hour, day and week; the day's mean;
  the amount against their mean of the week before it (`amount_ratio`, 1 for a first purchase); a
  device or a city they did not use in that week; the distance from and the speed since their
  previous purchase in that week. Nothing reaches further back than a week (LOOKBACK_DAYS): a
  training set reads a week of history before its first day, so it holds what the stream holds,
  and the stream's state per customer is bounded;
- the merchant: its purchases over the last hour and day, how many of them were far above their
  customer's mean (`amount_ratio` > UNUSUAL_RATIO), and the mean of that ratio (capped at
  RATIO_CAP): what a compromised or rogue merchant looks like while it happens.

Not here yet: the merchant's chargebacks reported over the last week and month (the stream does not
read `chargebacks` yet; `bench/fraud_model_quality.py` adds them to these for its study).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from credit_platform.rules.geo import haversine_km, haversine_sql

if TYPE_CHECKING:
    import polars as pl

# (name, polars period, Flink interval) of the customer's windows, and of the merchant's
LOOKBACK_DAYS = 7
CUSTOMER_WINDOWS = (("hour", "1h", "INTERVAL '1' HOUR"), ("day", "1d", "INTERVAL '1' DAY"),
                    ("week", f"{LOOKBACK_DAYS}d", f"INTERVAL '{LOOKBACK_DAYS}' DAY"))
MERCHANT_WINDOWS = CUSTOMER_WINDOWS[:2]
# How far back a customer's devices, cities and previous purchase are remembered: the longest window,
# which is also the history a training set reads before its first day, so a purchase's features are
# the same in the stream and in training, and the stream's state for them is bounded.
LOOKBACK = CUSTOMER_WINDOWS[-1]
UNUSUAL_RATIO = 3.0  # a purchase this many times its customer's mean of the week before is unusual
RATIO_CAP = 10.0  # a merchant's mean ratio counts no purchase above this
MIN_GAP_SECONDS = 60  # speed since the previous purchase: gaps shorter than this count as this

# The features in the model's order, each with the words an alert gives for it.
FEATURES: tuple[tuple[str, str], ...] = (
    ("amount", "the amount"),
    ("n_hour", "the customer's purchases in the last hour"),
    ("n_day", "the customer's purchases in the last day"),
    ("n_week", "the customer's purchases in the last week"),
    ("mean_day", "the customer's mean purchase of the last day"),
    ("amount_ratio", "the amount against the customer's mean of the week before"),
    ("new_device", "a device the customer did not use in the week before"),
    ("new_city", "a city the customer did not buy in in the week before"),
    ("km_from_previous", "the distance from the customer's previous purchase"),
    ("speed_kmh", "the speed since the customer's previous purchase"),
    ("m_n_hour", "the merchant's purchases in the last hour"),
    ("m_n_day", "the merchant's purchases in the last day"),
    ("m_unusual_hour", "the merchant's unusually large purchases in the last hour"),
    ("m_unusual_day", "the merchant's unusually large purchases in the last day"),
    ("m_ratio_hour", "how far above their customers' means the merchant's purchases of the last hour were"),
    ("m_ratio_day", "how far above their customers' means the merchant's purchases of the last day were"),
)
FEATURE_NAMES = tuple(name for name, _ in FEATURES)
FLAGS = ("new_device", "new_city")  # true or false; every other feature is a number


# ---- Flink SQL twin ------------------------------------------------------------------------------
def feature_query(source: str = "transactions") -> str:
    """One row per purchase of `source` (the stream's `transactions` view: `transaction_id`,
    `user_id`, `amount`, `location`, `latitude`, `longitude`, `device_id`, `merchant`, `event_time`):
    `transaction_id`, `user_id`, `event_time` and FEATURE_NAMES. Each window is an OVER aggregate of
    its own on top of the one before (Flink computes the aggregates of one SELECT over one frame
    only); every level keeps the event time, so the next can order by it."""
    q = (f"(SELECT transaction_id, user_id, merchant, device_id, location, latitude, longitude, "
         f"CAST(amount AS DOUBLE) AS amount, event_time FROM {source})")
    for name, _, interval in CUSTOMER_WINDOWS:
        q = (f"(SELECT *, COUNT(*) OVER w AS n_{name}, SUM(amount) OVER w AS sum_{name} FROM {q} "
             f"WINDOW w AS (PARTITION BY user_id ORDER BY event_time RANGE BETWEEN {interval} PRECEDING "
             "AND CURRENT ROW))")
    q = (f"(SELECT *, LAG(latitude) OVER v AS prev_lat, LAG(longitude) OVER v AS prev_lon, "
         f"LAG(event_time) OVER v AS prev_ts FROM {q} WINDOW v AS (PARTITION BY user_id ORDER BY event_time))")
    for column, alias in (("device_id", "device_uses"), ("location", "city_uses")):
        q = (f"(SELECT *, COUNT(*) OVER (PARTITION BY user_id, {column} ORDER BY event_time RANGE BETWEEN "
             f"{LOOKBACK[2]} PRECEDING AND CURRENT ROW) AS {alias} FROM {q})")
    # the previous purchase, if it lies within the look-back (else: none, as in a training set)
    recent = f"prev_ts IS NOT NULL AND prev_ts >= event_time - {LOOKBACK[2]}"
    distance = haversine_sql("prev_lat", "prev_lon", "latitude", "longitude")
    km = f"CASE WHEN {recent} THEN {distance} ELSE 0.0 END"
    q = f"""(SELECT transaction_id, user_id, merchant, event_time, amount, n_hour, n_day, n_week,
                    sum_day / n_day AS mean_day,
                    CASE WHEN n_week > 1 THEN amount / ((sum_week - amount) / (n_week - 1)) ELSE 1.0 END
                        AS amount_ratio,
                    device_uses = 1 AND n_week > 1 AS new_device,
                    city_uses = 1 AND n_week > 1 AS new_city,
                    {km} AS km_from_previous,
                    CASE WHEN {recent} THEN ({km}) * 3600 / GREATEST(
                        TIMESTAMPDIFF(SECOND, prev_ts, event_time), {MIN_GAP_SECONDS}) ELSE 0.0 END AS speed_kmh
             FROM {q})"""
    for name, _, interval in MERCHANT_WINDOWS:
        q = (f"(SELECT *, COUNT(*) OVER m AS m_n_{name}, "
             f"SUM(CASE WHEN amount_ratio > {UNUSUAL_RATIO} THEN 1 ELSE 0 END) OVER m AS m_unusual_{name}, "
             f"AVG(LEAST(amount_ratio, {RATIO_CAP})) OVER m AS m_ratio_{name} FROM {q} "
             f"WINDOW m AS (PARTITION BY merchant ORDER BY event_time RANGE BETWEEN {interval} PRECEDING "
             "AND CURRENT ROW))")
    return f"SELECT transaction_id, user_id, event_time, {', '.join(FEATURE_NAMES)} FROM {q}"


def contribution_sql(name: str, weight: str, mean: str, scale: str) -> str:
    """One feature's share of the learned score's log-odds, as SQL: its transformed value (LN(1 + x),
    or 0/1 for a flag), standardized, times its weight; `weight`, `mean`, `scale` are SQL (literals, or
    columns of the rules' versioned table). The operations in numpy's order (`FraudModel.contributions`)."""
    x = (f"CASE WHEN {name} THEN 1.0 ELSE 0.0 END" if name in FLAGS else f"LN(1 + CAST({name} AS DOUBLE))")
    return f"(({x} - {mean}) / {scale} * {weight})"


def score_sql(contributions: list[str], intercept: str) -> str:
    """The score, a logistic function of the intercept plus the features' contributions."""
    return f"1 / (1 + EXP(-({intercept} + {' + '.join(contributions)})))"


# ---- polars reference ------------------------------------------------------------------------------
def reference_features(txs: pl.DataFrame) -> pl.DataFrame:
    """The same features from a frame of transactions (the generator's columns, `timestamp` as
    ISO-8601 text or a datetime), computed independently of Flink: `transaction_id`, `user_id`,
    `ts` and FEATURE_NAMES, in event-time order."""
    import polars as pl

    ts = pl.col("timestamp")
    if txs.schema["timestamp"] == pl.String:
        ts = ts.str.to_datetime("%Y-%m-%dT%H:%M:%S%.3fZ")
    t = (txs.with_columns(ts.cast(pl.Datetime("ms")).alias("ts"), pl.col("amount").cast(pl.Float64))
         .sort("ts", maintain_order=True).with_row_index("row"))
    def window(value: pl.Expr, how: str, period: str, by: str) -> pl.Expr:
        # [t - period, t] with every purchase of the same millisecond, as Flink's RANGE frame
        return getattr(value, f"rolling_{how}_by")("ts", window_size=period, closed="both").over(by)

    one = pl.col("row").is_not_null().cast(pl.Int64)  # 1 per purchase
    out = t.select("row", "transaction_id", "user_id", "merchant", "ts", "amount").with_columns(
        *[window(one, "sum", period, "user_id").alias(f"n_{name}") for name, period, _ in CUSTOMER_WINDOWS],
        *[window(pl.col("amount"), "sum", period, "user_id").alias(f"sum_{name}")
          for name, period, _ in CUSTOMER_WINDOWS])
    lookback = t.select("row", window(one, "sum", LOOKBACK[1], ["user_id", "device_id"]).alias("device_uses"),
                        window(one, "sum", LOOKBACK[1], ["user_id", "location"]).alias("city_uses"),
                        (window(one, "sum", LOOKBACK[1], "user_id") > 1).alias("others"))
    previous = t.select(
        "row", "latitude", "longitude",
        pl.col("latitude").shift().over("user_id", order_by="ts").alias("plat"),
        pl.col("longitude").shift().over("user_id", order_by="ts").alias("plon"),
        (pl.col("ts") - pl.col("ts").shift().over("user_id", order_by="ts")).alias("gap"),
    ).join(lookback, on="row")
    # the previous purchase counts when it lies within the look-back
    recent = previous.select(pl.col("gap").is_not_null() & (pl.col("gap") <= pl.duration(days=LOOKBACK_DAYS)))
    recent = recent.to_series().to_numpy()
    km = haversine_km(previous["plat"].fill_null(0.0).to_numpy(), previous["plon"].fill_null(0.0).to_numpy(),
                      previous["latitude"].to_numpy(), previous["longitude"].to_numpy())
    km[~recent] = 0.0
    seconds = pl.col("gap").dt.total_seconds()  # whole seconds, as TIMESTAMPDIFF counts them
    previous = previous.with_columns(pl.Series("km_from_previous", km), pl.Series("recent", recent)).with_columns(
        ((pl.col("device_uses") == 1) & pl.col("others")).alias("new_device"),
        ((pl.col("city_uses") == 1) & pl.col("others")).alias("new_city"),
        pl.when(pl.col("recent")).then(pl.col("km_from_previous") * 3600 / seconds.clip(MIN_GAP_SECONDS))
        .otherwise(0.0).alias("speed_kmh"))
    out = out.join(previous.select("row", "new_device", "new_city", "km_from_previous", "speed_kmh"), on="row")
    out = out.with_columns(
        (pl.col("sum_day") / pl.col("n_day")).alias("mean_day"),
        pl.when(pl.col("n_week") > 1)
        .then(pl.col("amount") / ((pl.col("sum_week") - pl.col("amount")) / (pl.col("n_week") - 1)))
        .otherwise(1.0).alias("amount_ratio"))
    unusual = (pl.col("amount_ratio") > UNUSUAL_RATIO).cast(pl.Int64)
    capped = pl.col("amount_ratio").clip(upper_bound=RATIO_CAP)
    for name, period, _ in MERCHANT_WINDOWS:
        out = out.with_columns(window(one, "sum", period, "merchant").alias(f"m_n_{name}"),
                               window(unusual, "sum", period, "merchant").alias(f"m_unusual_{name}"),
                               window(capped, "mean", period, "merchant").alias(f"m_ratio_{name}"))
    return out.sort("row").select("transaction_id", "user_id", "ts", *FEATURE_NAMES)
