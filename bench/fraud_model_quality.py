"""What a learned fraud score can reach on the platform's own data, judged the way a fraud team judges
one: trained only on the chargebacks reported by its cut-off, a label delay before the days it is
tested on, and scored per test day against the rules it would run beside.

The history is `generator.transaction_history` (days of transactions with look-alikes, each day
its own fraud) and its chargebacks. Features are point-in-time (each transaction sees only what
happened at or before it, and only the chargebacks reported by then): the platform's own
(`rules.fraud_features`, whose SQL twin the parity test holds equal), and the chargebacks reported
against the merchant over the last week and month (the handbook's terminal risk, with real
reporting delays; not in the SQL yet, so computed here).

Models: the platform's score (a logistic regression on the standardized features the job serves)
as `train-fraud` fits it (a purchase a rule alerts weighs `RULES_WEIGHT`, every other 1), and
fitted to every purchase alike; a gradient-boosted model (sklearn's HistGradientBoosting) as the best the features and
the merchant's chargebacks reach. The rules are the reference twin of the
running job's SQL (`rules.fraud.reference_alerts`). Per test day: AUC, average precision, card
precision@100 (of the 100 cards with the highest score that day, the share with fraud that day),
and fraud caught at the rules' own alert volume and at 1.25 times it, with the model alone and with
the rules' hits as features ("rules + model"), overall and of the inflated purchases no rule sees.
The same volume both ways: the rules retuned to a larger budget (one loosened setting, chosen on the
training days by the chargebacks known then), and every model at the retuned rules' daily alerts,
with the platform's way of running rules and score together (every rule alert, then the top scores:
`fraud_score.served`), for both scores; and a sweep of the weight of the rules' alerts in the fit,
which chose `RULES_WEIGHT`.

This is the study that chooses the model.

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
from credit_platform.model import fraud_score
from credit_platform.model.fraud_training import RULES_WEIGHT
from credit_platform.rules.fraud import reference_alerts
from credit_platform.rules.fraud_features import FEATURE_NAMES, reference_features

BUDGET = 1.25  # an alert budget above the rules' own volume, for what a score adds beyond them
# What a fraud team would loosen to spend such a budget with rules alone: one setting at a time, towards
# the fraud the rules miss (purchases far above the customer's usual spend, at one merchant)
LOOSENED = tuple({name: value} for name, values in (
    ("compromised_merchant.unusual_factor", ("2.5", "2.0", "1.75", "1.5")),
    ("compromised_merchant.min_cards", ("4", "3")),
    ("amount_spike.factor", ("10", "7", "5")),
    ("account_takeover.factor", ("2.5", "2.0")),
    ("card_testing.min_small", ("2",))) for value in values)
CHARGEBACK_WINDOWS = (("7d", "week"), ("30d", "month"))


def features(txs: pl.DataFrame, chargebacks: pl.DataFrame) -> pl.DataFrame:
    """One row per transaction: the platform's features (`rules.fraud_features`, the polars twin of
    the SQL), the merchant's chargebacks reported by then, the label and the pattern."""
    out = (reference_features(txs).with_row_index("row")
           .join(txs.select("transaction_id", "merchant", "is_fraud", "fraud_pattern"), on="transaction_id"))
    reports = (chargebacks.select("merchant", pl.col("reported_at").str.to_datetime("%Y-%m-%dT%H:%M:%S%.3fZ")
                                  .cast(pl.Datetime("ms")).alias("ts"), pl.lit(1).alias("report")))
    events = pl.concat([out.select("merchant", "ts", pl.lit(0).alias("report"), "row"),
                        reports.with_columns(pl.lit(None, dtype=pl.UInt32).alias("row"))]).sort("ts")
    counted = events.with_columns(
        pl.col("report").rolling_sum_by("ts", window_size=period, closed="both").over("merchant")
        .alias(f"m_chargebacks_{name}") for period, name in CHARGEBACK_WINDOWS).filter(pl.col("report") == 0)
    return out.join(counted.select("row", *(f"m_chargebacks_{name}" for _, name in CHARGEBACK_WINDOWS)),
                    on="row").sort("row")


FEATURES = FEATURE_NAMES + tuple(f"m_chargebacks_{name}" for _, name in CHARGEBACK_WINDOWS)


def matrix(frame: pl.DataFrame, extra: tuple[str, ...] = ()) -> np.ndarray:
    """The features as the platform's score takes them (`fraud_score.transformed`), and `extra` as 0/1."""
    return np.column_stack([fraud_score.transformed(frame, FEATURES),
                            *[frame[c].cast(pl.Float64).to_numpy() for c in extra]])


def caught_at(frame: pl.DataFrame, score: str, volume: int) -> int:
    return int(frame.sort(score, descending=True).head(volume)["is_fraud"].sum())


def alerted(txs: pl.DataFrame, rules: object) -> set[str]:
    """The purchases the rules' reference alerts (any rule), under `rules`."""
    return {a.split(":", 1)[1] for a in reference_alerts(generator.applications(0, GeneratorConfig()), txs, rules)}


def loosened(txs: pl.DataFrame) -> dict[str, set[str]]:
    """What the rules alert with each setting of `LOOSENED` changed alone, by the change (`RULE.KEY=V`)."""
    from credit_platform.rules.fraud import rules_from_settings

    return {", ".join(f"{k}={v}" for k, v in change.items()): alerted(txs, rules_from_settings(change))
            for change in LOOSENED}


def retuned(candidates: dict[str, set[str]], today: set[str], train: pl.DataFrame, budget: float) -> str | None:
    """The loosened rules that catch the most training-day fraud (by the chargebacks known when
    training, as the models learn it) within `budget` times the rules' own training-day alerts
    (`today`): chosen on the training days only, as a team tuning its rules to a larger alert budget
    would. None when no loosening fits."""
    days, fraud = set(train["transaction_id"]), set(train.filter("label")["transaction_id"])
    fits = {name: len(hits & fraud) for name, hits in candidates.items()
            if len(hits & days) <= budget * len(today & days)}
    return max(fits, key=fits.__getitem__) if fits else None


SWEEP = (0.0, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0)


def weight_sweep(train: pl.DataFrame, test: pl.DataFrame) -> pl.DataFrame:
    """The platform's score fitted with each weight of `SWEEP` for the purchases a rule alerts, per
    test day averaged: alone (AUC, average precision, card precision@100), as served (the rules then
    it) and what it catches at the retuned rules' volume."""
    y = train["label"].to_numpy()
    rows = []
    for weight in SWEEP:
        model = fraud_score.fit(train, y, f"w{weight}", weights=fraud_score.rule_weights(train["rules"], weight))
        days = []
        for _, day in test.group_by(pl.col("ts").dt.date()):
            score, truth, users = model.score(day), day["is_fraud"].to_numpy(), day["user_id"].to_numpy()
            ranked = fraud_score.served(score, day["rules"].to_numpy())
            short = {"auc": "AUC", "average_precision": "AP", "card_precision_at_100": "CP@100"}
            days.append({short[k]: v for k, v in fraud_score.day_metrics(users, score, truth).items()} | {
                f"served {short[k]}": v for k, v in fraud_score.day_metrics(users, ranked, truth).items()} | {
                "served: caught at the retuned volume": caught_at(day.with_columns(pl.Series("s", ranked)), "s",
                                                                  int(day["retuned"].sum())),
                "the retuned rules catch": int(day.filter("retuned")["is_fraud"].sum())})
        rows.append({"rules' alerts weigh": weight} | pl.DataFrame(days).mean().row(0, named=True))
    return pl.DataFrame(rows)


def main() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
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
    candidates = loosened(txs)
    change = retuned(candidates, set(hits["transaction_id"]), train, BUDGET)
    flags = {f"loosened {i}": hits for i, hits in enumerate(candidates.values())}
    frame = frame.with_columns(pl.col("transaction_id").is_in(list(candidates.get(change, set()))).alias("retuned"),
                               *(pl.col("transaction_id").is_in(list(h)).alias(f) for f, h in flags.items()))
    train = frame.filter(pl.col("ts") < naive(train_end)).with_columns(
        pl.col("transaction_id").is_in(list(known)).alias("label"))
    print(f"the rules retuned to {BUDGET}x their alerts on the training days: {change or 'no loosening fits'}")
    y = train["label"].to_numpy()
    models = {
        # the platform's score, on the features the job serves: as `train-fraud` fits it (a purchase a rule
        # alerts weighs RULES_WEIGHT), and every purchase alike (`--rules-weight 1`)
        "score": fraud_score.fit(train, y, "bench", weights=fraud_score.rule_weights(train["rules"], RULES_WEIGHT)),
        "logistic": fraud_score.fit(train, y, "bench-alike"),
        "boosted": HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, max_leaf_nodes=15,
                                                  random_state=0).fit(matrix(train), y),
        "logistic+rules": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2_000, C=1.0)).fit(
            matrix(train, rule_names), y),
        "logistic+retuned rules": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2_000, C=1.0)).fit(
            matrix(train, (*rule_names, "retuned")), y),
    }
    rows = []
    for day in test_days:
        test = frame.filter(pl.col("ts").is_between(naive(day), naive(day + timedelta(days=1)), closed="left"))
        scored = test.with_columns(
            pl.Series("logistic", models["logistic"].score(test)),
            pl.Series("boosted", models["boosted"].predict_proba(matrix(test))[:, 1]),
            pl.Series("score", models["score"].score(test)),
            pl.Series("logistic+rules", models["logistic+rules"].predict_proba(matrix(test, rule_names))[:, 1]),
            pl.Series("logistic+retuned rules", models["logistic+retuned rules"].predict_proba(
                matrix(test, (*rule_names, "retuned")))[:, 1]),
            pl.col("rules").cast(pl.Float64).alias("rules_score"),
        )
        scored = scored.with_columns(  # as the job runs them, at any volume: every rule's alert, then the scores
            pl.Series(name, fraud_score.served(scored[score].to_numpy(), scored[rules].to_numpy()))
            for name, rules, score in (("rules or logistic", "rules", "logistic"),
                                       ("retuned rules or logistic", "retuned", "logistic"),
                                       ("rules or boosted", "rules", "boosted"),
                                       ("rules or score", "rules", "score")))
        truth, volume = scored["is_fraud"].to_numpy(), int(scored["rules"].sum())
        users = scored["user_id"].to_numpy()
        row = {"day": f"{day:%m-%d}", "events": scored.height, "fraud": int(truth.sum()), "alerts": volume,
               "rules: caught": int(scored.filter("rules")["is_fraud"].sum()),
               "rules: CP@100": fraud_score.card_precision_at(users, scored["rules_score"].to_numpy(), truth)}
        for name in (*models, "rules or logistic", "rules or score"):
            metrics = fraud_score.day_metrics(users, scored[name].to_numpy(), truth)
            row |= {f"{name}: AUC": metrics["auc"], f"{name}: AP": metrics["average_precision"],
                    f"{name}: CP@100": metrics["card_precision_at_100"]} | (
                {f"{name}: caught": caught_at(scored, name, volume)} if name in models else {})
        # as the job runs them: the rules, and the score at its threshold (the training sample's top 1%)
        for name, label in (("score", "score"), ("logistic", "score of all purchases alike")):
            alone = scored[name] >= models[name].threshold
            either = alone | scored["rules"]
            row |= {f"{label} at threshold: alerts": int(alone.sum()),
                    f"{label} at threshold: caught": int((alone & scored["is_fraud"]).sum()),
                    f"rules or {label} at threshold: alerts": int(either.sum()),
                    f"rules or {label} at threshold: caught": int((either & scored["is_fraud"]).sum())}
        budget = round(volume * BUDGET)  # the rules cannot alert more without new thresholds
        row |= {f"rules: caught at {BUDGET}x": row["rules: caught"]} | {
            f"{name}: caught at {BUDGET}x": caught_at(scored, name, budget)
            for name in (*models, "rules or logistic", "retuned rules or logistic", "rules or score")}
        # the same volume both ways: the rules retuned to the budget, and each model at their alerts
        again = int(scored["retuned"].sum())
        row |= {"retuned rules: alerts": again, "retuned rules: caught": int(scored.filter("retuned")["is_fraud"].sum())
                } | {f"{name}: caught at the retuned volume": caught_at(scored, name, again)
                     for name in (*models, "rules or logistic", "rules or boosted", "rules or score")}
        for flag in flags:  # every loosening, against the rules then the score at its own volume
            n = int(scored[flag].sum())
            row |= {f"{flag}: alerts": n, f"{flag}: caught": int(scored.filter(flag)["is_fraud"].sum()),
                    f"{flag}: rules or logistic": caught_at(scored, "rules or logistic", n),
                    f"{flag}: logistic+rules": caught_at(scored, "logistic+rules", n),
                    f"{flag}: retuned rules or logistic": caught_at(scored, "retuned rules or logistic", n),
                    f"{flag}: rules or boosted": caught_at(scored, "rules or boosted", n),
                    f"{flag}: rules or score": caught_at(scored, "rules or score", n)}
        inflated = scored.with_columns(
            [(pl.col(name).rank("ordinal", descending=True) <= volume).alias(name) for name in models]
        ).filter(pl.col("fraud_pattern") == "inflated_purchases")
        row |= {"inflated purchases": inflated.height, "inflated: rules": int(inflated["rules"].sum())} | {
            f"inflated: {name}": int(inflated[name].sum()) for name in models}
        rows.append(row)
    table = pl.DataFrame(rows)
    print("\nthe same alert volume, both ways: each loosened rule set on the test days (a day's mean), and at its "
          "volume, the rules then the platform's score, one model of both, the retuned rules then the score, and the "
          "rules then the boosted model or the platform's score as train-fraud fits it")
    curve = pl.DataFrame([{"loosened": name, **{k: table[f"{flag}: {k}"].mean() for k in
                                                 ("alerts", "caught", "rules or logistic", "logistic+rules",
                                                  "retuned rules or logistic", "rules or boosted",
                                                  "rules or score")}}
                          for name, flag in zip(candidates, flags, strict=True)]).sort("alerts")
    with pl.Config(tbl_rows=-1, tbl_width_chars=200, float_precision=1, tbl_hide_dataframe_shape=True,
                   tbl_hide_column_data_types=True, fmt_str_lengths=60):
        print(curve)
    table = table.select(pl.exclude([c for c in table.columns if c.startswith("loosened ")]))
    print("\nper test day (alerts: the rules' alert volume, at which every model's `caught` is counted)")
    long = table.unpivot(index="day").pivot(on="day", index="variable", values="value")
    with pl.Config(tbl_cols=-1, tbl_rows=-1, tbl_width_chars=200, float_precision=3, tbl_hide_dataframe_shape=True,
                   tbl_hide_column_data_types=True):
        print(long.with_columns(pl.mean_horizontal(pl.exclude("variable")).alias("mean")))
    print(f"\nthe platform's score by what the purchases a rule alerts weigh in its fit (train-fraud's default: "
          f"{RULES_WEIGHT}); a test day's mean")
    with pl.Config(tbl_cols=-1, tbl_width_chars=200, float_precision=3, tbl_hide_dataframe_shape=True,
                   tbl_hide_column_data_types=True):
        print(weight_sweep(train, frame.filter(pl.col("ts") >= naive(test_days[0]))))
    print("logistic coefficients (standardized): " + ", ".join(
        f"{f} {c:+.2f}" for f, c in sorted(zip(models["logistic"].features, models["logistic"].weights, strict=True),
                                           key=lambda x: -abs(x[1]))))
    print(f"took {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    main()
