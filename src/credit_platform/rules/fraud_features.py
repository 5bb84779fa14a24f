"""The learned fraud score's features, defined once, with their two twins side by side: the Flink SQL
the stream and the backtest run (`feature_query`), and a polars reference (`reference_features`).
`tests/unit/test_feature_parity.py` holds them equal on generated events.

Every feature is point-in-time: a transaction sees only what happened at or before its event time
(windows `[t - length, t]`, as Flink's RANGE frame and the rules' reference count them), so the
training set built over landed history is what the stream computes live.

- the customer, from their previous CUSTOMER_HISTORY purchases: how many of them fell in the last
  hour, day and week (with this one: at most CUSTOMER_HISTORY + 1); the day's mean; the amount
  against the mean of those of the week (`amount_ratio`, 1 for a first purchase); a device or a
  city none of those of the week had; the distance from and the speed since the previous one of
  the week;
- the merchant, from its previous MERCHANT_HISTORY purchases: how many fell in the last hour and
  day (strictly before this one: purchases of one millisecond reach a merchant from many customers'
  partitions, in no fixed order, so none of them counts another), how many of them (and this one)
  were far above their customer's mean (`amount_ratio` > UNUSUAL_RATIO), and the mean of that ratio
  (capped at RATIO_CAP): what a compromised or rogue merchant looks like while it happens.

Nothing reaches further back than a week (LOOKBACK_DAYS): a training set reads a week of history
before its first day, so it holds what the stream holds. The stream computes them with two LAG
operators (per customer, per merchant), whose state is a few values per key.

Not here yet: the merchant's chargebacks reported over the last week and month (the stream does not
read `chargebacks` yet; `bench/fraud_model_quality.py` adds them to these for its study).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from credit_platform.rules.geo import haversine_km, haversine_sql

if TYPE_CHECKING:
    import polars as pl

# How far back anything is looked at: also the history a training set reads before its first day, so
# a purchase's features are the same in the stream and in training.
LOOKBACK_DAYS = 7
# (name, length, Flink interval) of the windows the customer's and the merchant's counts are over
WINDOWS = (("hour", timedelta(hours=1), "INTERVAL '1' HOUR"), ("day", timedelta(days=1), "INTERVAL '1' DAY"),
           ("week", timedelta(days=LOOKBACK_DAYS), f"INTERVAL '{LOOKBACK_DAYS}' DAY"))
CUSTOMER_WINDOWS, MERCHANT_WINDOWS = WINDOWS, WINDOWS[:2]
LOOKBACK = WINDOWS[-1]
# Each purchase is judged against its customer's previous CUSTOMER_HISTORY purchases and its merchant's
# previous MERCHANT_HISTORY, those inside each window: one LAG operator each, whose state is those few
# values per customer or merchant (a RANGE window keeps every row of its frame, and re-reads them).
CUSTOMER_HISTORY = 5
MERCHANT_HISTORY = 10
UNUSUAL_RATIO = 2.0  # a purchase this many times its customer's mean of the week before is unusual
# (2 rather than 3: the score's average precision 0.883 against 0.867, bench/fraud_model_quality.py)
RATIO_CAP = 10.0  # a merchant's mean ratio counts no purchase above this
MIN_GAP_SECONDS = 60  # speed since the previous purchase: gaps shorter than this count as this

# The features in the model's order, each with the words an alert gives for it.
FEATURES: tuple[tuple[str, str], ...] = (
    ("amount", "the amount"),
    ("n_hour", "the customer's purchases in the last hour"),
    ("n_day", "the customer's purchases in the last day"),
    ("n_week", "the customer's purchases in the last week"),
    ("mean_day", "the customer's mean purchase of the last day"),
    ("amount_ratio", "the amount against the customer's recent mean"),
    ("new_device", "a device not among the customer's recent purchases"),
    ("new_city", "a city not among the customer's recent purchases"),
    ("km_from_previous", "the distance from the customer's previous purchase"),
    ("speed_kmh", "the speed since the customer's previous purchase"),
    ("m_n_hour", "the merchant's recent purchases in the last hour"),
    ("m_n_day", "the merchant's recent purchases in the last day"),
    ("m_unusual_hour", "the merchant's unusually large recent purchases in the last hour"),
    ("m_unusual_day", "the merchant's unusually large recent purchases in the last day"),
    ("m_ratio_hour", "how far above their customers' means the merchant's recent purchases of the last hour were"),
    ("m_ratio_day", "how far above their customers' means the merchant's recent purchases of the last day were"),
)
FEATURE_NAMES = tuple(name for name, _ in FEATURES)
FLAGS = ("new_device", "new_city")  # true or false; every other feature is a number


# ---- Flink SQL twin ------------------------------------------------------------------------------
def feature_query(source: str = "transactions") -> str:
    """One row per purchase of `source` (the stream's `transactions` view: `transaction_id`,
    `user_id`, `amount`, `location`, `latitude`, `longitude`, `device_id`, `merchant`, `event_time`):
    `transaction_id`, `user_id`, `event_time` and FEATURE_NAMES. Two OVER operators: the customer's
    previous purchases (LAG per customer), then, with each purchase's ratio to its customer's mean,
    the merchant's previous purchases (LAG per merchant); each keeps the event time."""
    def within(ts: str, interval: str, before: bool = False) -> str:
        return f"({ts} IS NOT NULL AND {ts} >= event_time - {interval}{f' AND {ts} < event_time' if before else ''})"

    ks, js = range(1, CUSTOMER_HISTORY + 1), range(1, MERCHANT_HISTORY + 1)
    lags = ", ".join(f"LAG(event_time, {k}) OVER v AS ts_{k}, LAG(amount, {k}) OVER v AS amount_{k}, "
                     f"LAG(device_id, {k}) OVER v AS device_{k}, LAG(location, {k}) OVER v AS city_{k}" for k in ks)
    q = (f"(SELECT *, {lags}, LAG(latitude) OVER v AS prev_lat, LAG(longitude) OVER v AS prev_lon "
         f"FROM (SELECT transaction_id, user_id, merchant, device_id, location, latitude, longitude, "
         f"CAST(amount AS DOUBLE) AS amount, event_time FROM {source}) "
         "WINDOW v AS (PARTITION BY user_id ORDER BY event_time))")
    week = LOOKBACK[2]
    def count(interval: str, then: str = "1", otherwise: str = "0") -> str:  # over the previous purchases
        return " + ".join(f"CASE WHEN {within('ts_' + str(k), interval)} THEN {then.format(k=k)} ELSE {otherwise} END"
                          for k in ks)

    counts = ", ".join(f"1 + {count(interval)} AS n_{name}" for name, _, interval in CUSTOMER_WINDOWS)
    sums = ", ".join(f"{count(interval, 'amount_{k}', '0.0')} AS before_{name}"
                     for name, _, interval in CUSTOMER_WINDOWS[1:])
    seen = {column: " OR ".join(f"({within(f'ts_{k}', week)} AND COALESCE({column}_{k} = {own}, FALSE))" for k in ks)
            for column, own in (("device", "device_id"), ("city", "location"))}
    q = (f"(SELECT transaction_id, user_id, merchant, event_time, amount, latitude, longitude, prev_lat, prev_lon, "
         f"ts_1, {counts}, {sums}, {seen['device']} AS seen_device, {seen['city']} AS seen_city FROM {q})")
    # the previous purchase, if it lies within the look-back (else: none, as in a training set)
    recent = within("ts_1", week)
    distance = haversine_sql("prev_lat", "prev_lon", "latitude", "longitude")
    km = f"CASE WHEN {recent} THEN {distance} ELSE 0.0 END"
    q = f"""(SELECT transaction_id, user_id, merchant, event_time, amount, n_hour, n_day, n_week,
                    (amount + before_day) / n_day AS mean_day,
                    CASE WHEN n_week > 1 THEN amount / (before_week / (n_week - 1)) ELSE 1.0 END AS amount_ratio,
                    n_week > 1 AND NOT seen_device AS new_device,
                    n_week > 1 AND NOT seen_city AS new_city,
                    {km} AS km_from_previous,
                    CASE WHEN {recent} THEN ({km}) * 3600 / GREATEST(
                        TIMESTAMPDIFF(SECOND, ts_1, event_time), {MIN_GAP_SECONDS}) ELSE 0.0 END AS speed_kmh
             FROM {q})"""
    lags = ", ".join(f"LAG(event_time, {j}) OVER m AS m_ts_{j}, LAG(amount_ratio, {j}) OVER m AS m_ratio_{j}"
                     for j in js)
    q = f"(SELECT *, {lags} FROM {q} WINDOW m AS (PARTITION BY merchant ORDER BY event_time))"
    merchant = []
    for name, _, interval in MERCHANT_WINDOWS:
        # strictly earlier: purchases of the same millisecond reach a merchant in no fixed order
        inside = [within(f"m_ts_{j}", interval, before=True) for j in js]
        merchant += [
            f"1 + {' + '.join(f'CASE WHEN {w} THEN 1 ELSE 0 END' for w in inside)} AS m_n_{name}",
            f"CASE WHEN amount_ratio > {UNUSUAL_RATIO} THEN 1 ELSE 0 END + "
            + " + ".join(f"CASE WHEN {w} AND m_ratio_{j} > {UNUSUAL_RATIO} THEN 1 ELSE 0 END"
                         for j, w in zip(js, inside, strict=True)) + f" AS m_unusual_{name}",
            f"(LEAST(amount_ratio, {RATIO_CAP}) + "
            + " + ".join(f"CASE WHEN {w} THEN LEAST(m_ratio_{j}, {RATIO_CAP}) ELSE 0.0 END"
                         for j, w in zip(js, inside, strict=True))
            + f") / (1 + {' + '.join(f'CASE WHEN {w} THEN 1 ELSE 0 END' for w in inside)}) AS m_ratio_{name}"]
    q = f"(SELECT *, {', '.join(merchant)} FROM {q})"
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


def features_version() -> str:
    """The features' definition as a short digest of their SQL and of how the score transforms each
    one: a model is trained on one definition, and coefficients of another would score nonsense.
    Any change of a window, a history length, a threshold (`UNUSUAL_RATIO`…) or a transform changes it."""
    import hashlib

    text = feature_query() + "".join(contribution_sql(name, "w", "m", "s") for name in FEATURE_NAMES)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# ---- polars reference ------------------------------------------------------------------------------
def reference_features(txs: pl.DataFrame) -> pl.DataFrame:
    """The same features from a frame of transactions (the generator's columns, `timestamp` as
    ISO-8601 text or a datetime), computed independently of Flink: `transaction_id`, `user_id`,
    `ts` and FEATURE_NAMES, in event-time order (a customer's or merchant's purchases of one
    millisecond in the frame's order, as the stream reads them from one partition)."""
    import polars as pl

    ts = pl.col("timestamp")
    if txs.schema["timestamp"] == pl.String:
        ts = ts.str.to_datetime("%Y-%m-%dT%H:%M:%S%.3fZ")
    t = (txs.with_columns(ts.cast(pl.Datetime("ms")).alias("ts"), pl.col("amount").cast(pl.Float64))
         .sort("ts", maintain_order=True))

    def within(k: int, length: timedelta, prefix: str = "", strictly: bool = False) -> pl.Expr:
        before = pl.col(f"{prefix}ts_{k}")
        inside = before.is_not_null() & (before >= pl.col("ts") - length)
        return inside & (before < pl.col("ts")) if strictly else inside

    ks, js = range(1, CUSTOMER_HISTORY + 1), range(1, MERCHANT_HISTORY + 1)
    t = t.with_columns(*[pl.col(c).shift(k).over("user_id").alias(f"{alias}_{k}") for k in ks
                         for c, alias in (("ts", "ts"), ("amount", "amount"), ("device_id", "device"),
                                          ("location", "city"))],
                       pl.col("latitude").shift().over("user_id").alias("plat"),
                       pl.col("longitude").shift().over("user_id").alias("plon"))
    week = LOOKBACK[1]
    t = t.with_columns(
        *[(1 + pl.sum_horizontal(within(k, length).cast(pl.Int64) for k in ks)).alias(f"n_{name}")
          for name, length, _ in CUSTOMER_WINDOWS],
        *[pl.sum_horizontal(pl.when(within(k, length)).then(pl.col(f"amount_{k}")).otherwise(0.0) for k in ks)
          .alias(f"before_{name}") for name, length, _ in CUSTOMER_WINDOWS[1:]],
        *[pl.any_horizontal((within(k, week) & (pl.col(f"{column}_{k}") == pl.col(own)).fill_null(False))
                            for k in ks).alias(f"seen_{column}")
          for column, own in (("device", "device_id"), ("city", "location"))])
    recent = t.select(within(1, week)).to_series().to_numpy()
    km = haversine_km(t["plat"].fill_null(0.0).to_numpy(), t["plon"].fill_null(0.0).to_numpy(),
                      t["latitude"].to_numpy(), t["longitude"].to_numpy())
    km[~recent] = 0.0
    seconds = (pl.col("ts") - pl.col("ts_1")).dt.total_seconds()  # whole seconds, as TIMESTAMPDIFF counts them
    t = t.with_columns(pl.Series("km_from_previous", km), pl.Series("recent", recent)).with_columns(
        ((pl.col("amount") + pl.col("before_day")) / pl.col("n_day")).alias("mean_day"),
        pl.when(pl.col("n_week") > 1).then(pl.col("amount") / (pl.col("before_week") / (pl.col("n_week") - 1)))
        .otherwise(1.0).alias("amount_ratio"),
        ((pl.col("n_week") > 1) & ~pl.col("seen_device")).alias("new_device"),
        ((pl.col("n_week") > 1) & ~pl.col("seen_city")).alias("new_city"),
        pl.when(pl.col("recent")).then(pl.col("km_from_previous") * 3600 / seconds.clip(MIN_GAP_SECONDS))
        .otherwise(0.0).alias("speed_kmh"))
    t = t.with_columns(*[pl.col(c).shift(j).over("merchant").alias(f"m_{alias}_{j}") for j in js
                         for c, alias in (("ts", "ts"), ("amount_ratio", "ratio"))])
    for name, length, _ in MERCHANT_WINDOWS:
        inside = [within(j, length, "m_", strictly=True) for j in js]
        n = 1 + pl.sum_horizontal(w.cast(pl.Int64) for w in inside)
        t = t.with_columns(
            n.alias(f"m_n_{name}"),
            ((pl.col("amount_ratio") > UNUSUAL_RATIO).cast(pl.Int64) + pl.sum_horizontal(
                (w & (pl.col(f"m_ratio_{j}") > UNUSUAL_RATIO)).cast(pl.Int64) for j, w in zip(js, inside, strict=True))
             ).alias(f"m_unusual_{name}"),
            ((pl.col("amount_ratio").clip(upper_bound=RATIO_CAP) + pl.sum_horizontal(
                pl.when(w).then(pl.col(f"m_ratio_{j}").clip(upper_bound=RATIO_CAP)).otherwise(0.0)
                for j, w in zip(js, inside, strict=True))) / n).alias(f"m_ratio_{name}"))
    return t.select("transaction_id", "user_id", "ts", *FEATURE_NAMES)
