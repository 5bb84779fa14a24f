"""What a learned fraud score can reach on the platform's own data, judged the way a fraud team judges
one: trained only on the chargebacks reported by its cut-off, a label delay before the days it is
tested on, and scored per test day against the rules it would run beside.

The history is `generator.transaction_history` (days of transactions with look-alikes, each day
its own fraud) and its chargebacks. Features are point-in-time (each transaction sees only what
happened at or before it, and only the chargebacks reported by then):

- the customer's count and mean amount over the last hour, day and week; the amount against the
  customer's mean of the week before it; a device or a city the customer never used before; the
  distance from and speed since their previous purchase;
- the merchant's transactions over the last hour and day, those among them far above their
  customer's own mean (what a compromised merchant looks like while it happens), and the
  chargebacks reported against it over the last week and month (the handbook's terminal risk,
  with real reporting delays).

Models: a logistic regression on standardized features, and a gradient-boosted model (sklearn's
HistGradientBoosting) as the best this feature set reaches. The rules are the reference twin of the
running job's SQL (`rules.fraud.reference_alerts`). Per test day: AUC, average precision, card
precision@100 (of the 100 cards with the highest score that day, the share with fraud that day),
and fraud caught at the rules' own alert volume and at 1.25 times it, with the model alone and with
the rules' hits as features ("rules + model"), overall and of the inflated purchases no rule sees.

This is the study that chooses the model; the features are computed here in polars. The platform's
features are to be SQL, run by the stream and in batch mode over landed history.

    .venv/bin/python -m bench.fraud_model_quality [--transactions-per-day 10000] [--days 35]
        [--train-days 21] [--delay-days 7] [--seed 42]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from credit_platform.ingest import generator
from credit_platform.ingest.scenario import GeneratorConfig
from credit_platform.rules.fraud import haversine_km, reference_alerts

CUSTOMER_WINDOWS = (("1h", "hour"), ("1d", "day"), ("7d", "week"))
BUDGET = 1.25  # an alert budget above the rules' own volume, for what a score adds beyond them


def features(txs: pl.DataFrame, chargebacks: pl.DataFrame) -> pl.DataFrame:
    """One row per transaction: its point-in-time features (see the module's doc)."""
    t = (txs.with_columns(pl.col("timestamp").str.to_datetime("%Y-%m-%dT%H:%M:%S%.3fZ").alias("ts"))
         .sort("ts").with_row_index("row"))
    out = t.select("row", "transaction_id", "user_id", "merchant", "ts", "amount", "is_fraud", "fraud_pattern")
    for period, name in CUSTOMER_WINDOWS:
        w = (t.rolling("ts", period=period, closed="both", group_by="user_id")
             .agg(pl.len().alias(f"n_{name}"), pl.col("amount").sum().alias(f"sum_{name}"), pl.col("row").last()))
        out = out.join(w.select("row", f"n_{name}", f"sum_{name}"), on="row")
    out = out.with_columns(
        ((pl.col("sum_week") - pl.col("amount")) / (pl.col("n_week") - 1)).alias("mean_before"),
        (pl.col("sum_day") / pl.col("n_day")).alias("mean_day"),
    ).with_columns(
        (pl.col("amount") / pl.col("mean_before")).fill_null(1.0).fill_nan(1.0).alias("amount_ratio"),
    )
    seen = t.select(
        "row",
        (pl.int_range(pl.len()).over("user_id", "device_id", order_by="ts") == 0).alias("first_device"),
        (pl.int_range(pl.len()).over("user_id", "location", order_by="ts") == 0).alias("first_city"),
        (pl.int_range(pl.len()).over("user_id", order_by="ts") == 0).alias("first_purchase"),
        pl.col("latitude").shift().over("user_id", order_by="ts").alias("plat"),
        pl.col("longitude").shift().over("user_id", order_by="ts").alias("plon"),
        (pl.col("ts") - pl.col("ts").shift().over("user_id", order_by="ts")).dt.total_seconds().alias("gap"),
        "latitude", "longitude",
    )
    km = haversine_km(seen["plat"].fill_null(seen["latitude"]).to_numpy(),
                      seen["plon"].fill_null(seen["longitude"]).to_numpy(),
                      seen["latitude"].to_numpy(), seen["longitude"].to_numpy())
    seen = seen.with_columns(
        (pl.col("first_device") & ~pl.col("first_purchase")).alias("new_device"),
        (pl.col("first_city") & ~pl.col("first_purchase")).alias("new_city"),
        pl.Series("km_from_previous", km),
    ).with_columns((pl.col("km_from_previous") * 3600 / pl.col("gap").fill_null(1e9).clip(60)).alias("speed_kmh"))
    out = out.join(seen.select("row", "new_device", "new_city", "km_from_previous", "speed_kmh"), on="row")

    # the merchant: its traffic, the unusual purchases in it, and its chargebacks reported so far
    unusual = out.select("row", "merchant", "ts", (pl.col("amount_ratio") > 3).alias("unusual"),
                         pl.col("amount_ratio").clip(0, 10).alias("ratio"))
    for period, name in (("1h", "hour"), ("1d", "day")):
        w = (unusual.rolling("ts", period=period, closed="both", group_by="merchant")
             .agg(pl.len().alias(f"m_n_{name}"), pl.col("unusual").sum().alias(f"m_unusual_{name}"),
                  pl.col("ratio").mean().alias(f"m_ratio_{name}"), pl.col("row").last()))
        out = out.join(w.select("row", f"m_n_{name}", f"m_unusual_{name}", f"m_ratio_{name}"), on="row")
    reports = (chargebacks.join(txs.select("transaction_id", "merchant"), on="transaction_id")
               .select("merchant", pl.col("reported_at").str.to_datetime("%Y-%m-%dT%H:%M:%S%.3fZ").alias("ts"),
                       pl.lit(1).alias("report")))
    events = pl.concat([out.select("merchant", "ts", pl.lit(0).alias("report"), "row"),
                        reports.with_columns(pl.lit(None, dtype=pl.UInt32).alias("row"))]).sort("ts", "report")
    for period, name in (("7d", "week"), ("30d", "month")):
        w = (events.rolling("ts", period=period, closed="both", group_by="merchant")
             .agg(pl.col("report").sum().alias(f"m_chargebacks_{name}"), pl.col("row").last(),
                  pl.col("report").last().alias("last_report")))
        out = out.join(w.filter(pl.col("last_report") == 0).select("row", f"m_chargebacks_{name}"), on="row")
    return out.sort("row")


FEATURES = ("amount", "n_hour", "n_day", "n_week", "mean_day", "amount_ratio", "new_device", "new_city",
            "km_from_previous", "speed_kmh", "m_n_hour", "m_n_day", "m_unusual_hour", "m_unusual_day",
            "m_ratio_hour", "m_ratio_day", "m_chargebacks_week", "m_chargebacks_month")
LOGGED = {"amount", "n_hour", "n_day", "n_week", "mean_day", "amount_ratio", "km_from_previous", "speed_kmh",
          "m_n_hour", "m_n_day", "m_unusual_hour", "m_unusual_day", "m_ratio_hour", "m_ratio_day",
          "m_chargebacks_week", "m_chargebacks_month"}


def matrix(frame: pl.DataFrame, extra: tuple[str, ...] = ()) -> np.ndarray:
    cols = [pl.col(c).cast(pl.Float64).log1p() if c in LOGGED else pl.col(c).cast(pl.Float64) for c in FEATURES]
    return frame.select(*cols, *[pl.col(c).cast(pl.Float64) for c in extra]).to_numpy()


def card_precision_at(frame: pl.DataFrame, score: str, k: int = 100) -> float:
    cards = frame.group_by("user_id").agg(pl.col(score).max(), pl.col("is_fraud").any())
    return float(cards.sort(score, descending=True).head(k)["is_fraud"].mean())


def caught_at(frame: pl.DataFrame, score: str, volume: int) -> int:
    return int(frame.sort(score, descending=True).head(volume)["is_fraud"].sum())


def main() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score, roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transactions-per-day", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=35, help="history length")
    parser.add_argument("--train-days", type=int, default=21)
    parser.add_argument("--delay-days", type=int, default=7, help="label delay between training and test days")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    if args.train_days + args.delay_days >= args.days:
        parser.error("--train-days + --delay-days must leave test days in --days")

    started = time.monotonic()
    end = datetime(2026, 6, 1, tzinfo=UTC)
    cfg = GeneratorConfig(seed=args.seed, start=end)
    txs, _ = generator.transaction_history(args.transactions_per_day * args.days, args.days, cfg)
    everything = generator.chargebacks_of(txs, cfg, as_of=end + timedelta(days=365))  # later, as reported
    first = end - timedelta(days=args.days)
    train_end = first + timedelta(days=args.train_days)
    cutoff = train_end + timedelta(days=args.delay_days)  # "today" for training: labels reported by then
    test_days = [cutoff + timedelta(days=i) for i in range(args.days - args.train_days - args.delay_days)]
    frame = features(txs, everything)
    empty_apps = generator.applications(0, cfg)
    alerts = reference_alerts(empty_apps, txs)
    hits = pl.DataFrame([a.split(":", 1) for a in alerts], schema=["rule", "transaction_id"], orient="row")
    rule_names = tuple(sorted(hits["rule"].unique()))
    flags = hits.pivot(on="rule", index="transaction_id", values="rule", aggregate_function="len")
    frame = (frame.join(flags, on="transaction_id", how="left")
             .with_columns([pl.col(r).is_not_null().alias(r) for r in rule_names])
             .with_columns(pl.any_horizontal(*rule_names).alias("rules")))
    print(f"{txs.height:,} transactions over {args.days} days ({int(txs['is_fraud'].sum()):,} fraudulent), "
          f"seed {args.seed}; features and rules in {time.monotonic() - started:.0f}s")

    known = set(everything.filter(pl.col("reported_at") <= cutoff.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
                ["transaction_id"])
    naive = lambda t: t.astimezone(UTC).replace(tzinfo=None)  # noqa: E731
    train = frame.filter(pl.col("ts") < naive(train_end)).with_columns(
        pl.col("transaction_id").is_in(list(known)).alias("label"))
    print(f"training: {train.height:,} transactions before {train_end:%Y-%m-%d}, labelled by the "
          f"{int(train['label'].sum()):,} chargebacks reported by {cutoff:%Y-%m-%d} "
          f"(of {int(train['is_fraud'].sum()):,} frauds)")
    y = train["label"].to_numpy()
    models = {
        "logistic": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2_000, C=1.0)).fit(matrix(train), y),
        "boosted": HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, max_leaf_nodes=15,
                                                  random_state=0).fit(matrix(train), y),
        "logistic+rules": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2_000, C=1.0)).fit(
            matrix(train, rule_names), y),
    }
    rows = []
    for day in test_days:
        test = frame.filter(pl.col("ts").is_between(naive(day), naive(day + timedelta(days=1)), closed="left"))
        scored = test.with_columns(
            pl.Series("logistic", models["logistic"].predict_proba(matrix(test))[:, 1]),
            pl.Series("boosted", models["boosted"].predict_proba(matrix(test))[:, 1]),
            pl.Series("logistic+rules", models["logistic+rules"].predict_proba(matrix(test, rule_names))[:, 1]),
            pl.col("rules").cast(pl.Float64).alias("rules_score"),
        )
        truth, volume = scored["is_fraud"].to_numpy(), int(scored["rules"].sum())
        row = {"day": f"{day:%m-%d}", "events": scored.height, "fraud": int(truth.sum()), "alerts": volume,
               "rules: caught": int(scored.filter("rules")["is_fraud"].sum()),
               "rules: CP@100": card_precision_at(scored, "rules_score")}
        for name in models:
            score = scored[name].to_numpy()
            row |= {f"{name}: AUC": roc_auc_score(truth, score), f"{name}: AP": average_precision_score(truth, score),
                    f"{name}: CP@100": card_precision_at(scored, name),
                    f"{name}: caught": caught_at(scored, name, volume)}
        budget = round(volume * BUDGET)  # the rules cannot alert more without new thresholds
        row |= {f"rules: caught at {BUDGET}x": row["rules: caught"]} | {
            f"{name}: caught at {BUDGET}x": caught_at(scored, name, budget) for name in models}
        inflated = scored.with_columns(
            [(pl.col(name).rank("ordinal", descending=True) <= volume).alias(name) for name in models]
        ).filter(pl.col("fraud_pattern") == "inflated_purchases")
        row |= {"inflated purchases": inflated.height, "inflated: rules": int(inflated["rules"].sum())} | {
            f"inflated: {name}": int(inflated[name].sum()) for name in models}
        rows.append(row)
    table = pl.DataFrame(rows)
    print("\nper test day (alerts: the rules' alert volume, at which every model's `caught` is counted)")
    long = table.unpivot(index="day").pivot(on="day", index="variable", values="value")
    with pl.Config(tbl_cols=-1, tbl_rows=-1, tbl_width_chars=200, float_precision=3, tbl_hide_dataframe_shape=True,
                   tbl_hide_column_data_types=True):
        print(long.with_columns(pl.mean_horizontal(pl.exclude("variable")).alias("mean")))
    coef = models["logistic"][-1].coef_[0]
    print("logistic coefficients (standardized): " + ", ".join(
        f"{f} {c:+.2f}" for f, c in sorted(zip(FEATURES, coef, strict=True), key=lambda x: -abs(x[1]))))
    print(f"took {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    main()
