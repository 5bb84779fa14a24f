"""One training run of the learned fraud score, on what the bank knew at `as_of`:

1. The days, counted back from `as_of`: the validation days end a label delay before it (so most of
   their fraud has been charged back by `as_of`), the training days end a label delay before the
   validation days begin, and a week before the training days feeds the features' windows.
2. The features: the platform's SQL (`rules.fraud_features.feature_query`) over the landed
   transactions of those days, run by the backtest's runner (`stream.backtest.run_features`): the
   computation the stream serves (rule `fraud_score`), not a copy of it.
3. The labels: the landed chargebacks only (no `is_fraud`). A training purchase is fraud when its
   chargeback was reported by the first validation day, when this model would have been trained; a
   validation purchase, when reported by `as_of`.
4. The rules beside it: the stream's rule SQL under the live versions (the hand-written rules),
   over the same purchases. A training purchase a rule alerts weighs `rules_weight` in the fit
   (default `RULES_WEIGHT`), every other purchase 1: the job raises every rule alert anyway, so what a score
   adds is the fraud among the rest, and a score fitted to every purchase alike spends its weights
   re-finding what the rules catch (`bench/fraud_model_quality.py`: with the rules' alerts weighed
   down it catches more at every alert volume than the rules loosened to that volume, and still
   ranks well alone; alike, it does not; left out (0), it ranks poorly alone).
5. The fit (`model.fraud_score.fit`; its threshold: the training sample's top `alert_share`),
   then per validation day: AUC, average precision and card precision@100 of the
   score alone, and of the job's ranking of the rules then the score (`fraud_score.served`), which
   is how the model is served; the champion is scored on the same days under the same rules. The
   alerts and chargebacks caught by the rules alone, the model alone and both, per day and per
   scenario (`fraud_score_report`). The new model is promoted when the mean average precision of
   the rules then its score is no worse than with the champion's (`promote="auto"`), never
   (`"never"`), or by a person's say (`"force"`, with a reason).
6. The model, its metrics and the promotion go to `fraud_models`; a rerun with the same as-of and
   windows updates the row it made.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from credit_platform.config import Settings
from credit_platform.contracts import names

if TYPE_CHECKING:  # numpy and sklearn load only when a run trains, not when a DAG or the CLI is parsed
    from credit_platform.model.fraud_score import FraudModel

log = logging.getLogger(__name__)

JOB_NAME = "train_fraud_model"
PROMOTE_MODES = ("auto", "never", "force")
WARMUP_DAYS = 7  # the features' longest window
# What a training purchase a rule alerts weighs in the fit (every other: 1). Chosen by the sweep of
# `bench/fraud_model_quality.py`: from 0.01 to 0.05 the rules then the score catch the most at the
# retuned rules' volume and rank best as served, while the score alone keeps an average precision
# near 0.8 (at 0 it falls to 0.55-0.65; at 1 the rules then the score catch less than the rules
# loosened to the same volume).
RULES_WEIGHT = 0.02


class NothingToLearn(ValueError):
    """Too little landed history (purchases or reported chargebacks) for the asked windows."""


@dataclass(frozen=True)
class FraudTrainingOptions:
    as_of: date
    run_id: str
    train_days: int = 21
    label_delay_days: int = 7
    validation_days: int = 7
    alert_share: float = 0.01  # the alert threshold: the training sample's top share of scores
    promote: str = "auto"
    reason: str = ""
    publish: bool = False  # a champion's coefficients go live: the next fraud rules version (`publish`)
    rules_weight: float = RULES_WEIGHT  # what a training purchase a rule alerts weighs in the fit (others: 1)

    def __post_init__(self) -> None:
        if self.promote not in PROMOTE_MODES:
            raise ValueError(f"promote must be one of {', '.join(PROMOTE_MODES)}")
        if self.promote == "force" and not self.reason:
            raise ValueError("a forced promotion needs a reason")
        if not 0 <= self.rules_weight <= 1:
            raise ValueError("rules_weight must be between 0 and 1")
        if not 0 < self.alert_share < 1:
            raise ValueError("alert_share must be above 0 and below 1")
        object.__setattr__(self, "rules_weight", float(self.rules_weight))  # 1 and 1.0: one version
        if min(self.train_days, self.validation_days) < 1 or self.label_delay_days < 0:
            raise ValueError("train_days and validation_days must be >= 1, label_delay_days >= 0")

    @property
    def validation_from(self) -> date:
        return self.as_of - timedelta(days=self.label_delay_days + self.validation_days)

    @property
    def train_from(self) -> date:
        return self.validation_from - timedelta(days=self.label_delay_days + self.train_days)

    @property
    def train_to(self) -> date:  # exclusive
        return self.train_from + timedelta(days=self.train_days)

    @property
    def version(self) -> str:
        """The same as-of, windows and features' definition make the same version: a rerun updates its
        own row, and a model of changed features is a new one."""
        from credit_platform.rules.fraud_features import features_version

        key = json.dumps({k: v for k, v in asdict(self).items() if k not in ("run_id", "promote", "reason", "publish")}
                         | {"features": features_version()}, default=str, sort_keys=True)
        return f"fraud-logistic-{self.as_of:%Y%m%d}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def train(settings: Settings, options: FraudTrainingOptions) -> dict[str, Any]:
    import polars as pl

    from credit_platform.model.fraud_score import fit, rule_weights
    from credit_platform.rules.fraud import LEARNED_RULES, TRANSACTION_COLUMNS
    from credit_platform.stream.backtest import _as_lines, landed_events, live_versions, run_features, run_rules

    started = time.monotonic()
    o = options
    first, last = o.train_from - timedelta(days=WARMUP_DAYS), o.as_of - timedelta(days=o.label_delay_days + 1)
    txs = landed_events(settings, first, last)["transactions"]
    if txs.is_empty():
        raise NothingToLearn(f"no landed transactions between {first} and {last}: land a history first "
                         "(generate_data's history_transactions, then kafka_landing)")
    lines = _as_lines(txs, TRANSACTION_COLUMNS)
    live, deployed = live_versions(settings, last)
    with tempfile.TemporaryDirectory(prefix="fraud-features-") as work:
        features = run_features(Path(work) / "features", lines)
        # the rules beside it: the stream's rule SQL under the live versions, over the same purchases;
        # the hand-written rules only (a live score's own alerts are not what a new score stands behind)
        alerted = {tx for rule, tx in (a.split(":", 1) for a in run_rules(Path(work) / "rules", [], lines, deployed,
                                                                          live)) if rule not in LEARNED_RULES}
    features = features.join(txs.select("transaction_id", "fraud_pattern"), on="transaction_id",
                             how="left").with_columns(pl.col("event_time").dt.date().alias("day"),
                                                      pl.col("transaction_id").is_in(list(alerted)).alias("rules"))
    reported = _chargebacks(settings, o.train_from, o.as_of)
    labelled = features.join(reported, on="transaction_id", how="left").with_columns(
        (pl.col("reported_at") <= datetime.combine(o.validation_from, datetime.min.time()))
        .fill_null(False).alias("label_then"),
        (pl.col("reported_at") <= datetime.combine(o.as_of, datetime.min.time())).fill_null(False).alias("label_now"))
    training = labelled.filter(pl.col("day").is_between(o.train_from, o.train_to, closed="left"))
    validation = labelled.filter(pl.col("day").is_between(o.validation_from, o.as_of - timedelta(
        days=o.label_delay_days), closed="left"))
    y = training["label_then"].to_numpy()
    weights = rule_weights(training["rules"].to_numpy(), o.rules_weight)
    if training.is_empty() or (y * weights).sum() == 0 or validation.is_empty():
        raise NothingToLearn(f"no training purchases with a chargeback reported by {o.validation_from} (with "
                             f"rules_weight {o.rules_weight:g}: of those no rule alerts), or no validation purchases: "
                             f"the landed history must cover {o.train_from} to {o.as_of}")
    model = fit(training, y, o.version, o.alert_share, weights=weights)
    champion = current_champion(settings)
    if champion is not None and champion.version == model.version:  # a rerun: not judged against itself
        champion = None
    # a champion of other features' definition scores other numbers: not comparable, so it is replaced
    outdated = champion.version if champion and champion.features_version != model.features_version else None
    champion = None if outdated else champion
    per_day, mean = _judge(validation, {"model": model} | ({"champion": champion} if champion else {}))
    better = champion is None or mean["model"][SERVED_AP] >= mean["champion"][SERVED_AP]
    promote = o.promote == "force" or (o.promote == "auto" and better)
    report = side_by_side(validation.with_columns(pl.Series("model", model.score(validation) >= model.threshold)))
    metrics = {"days": per_day, "mean": mean, "champion": champion.version if champion else None,
               "trained_on": trained_on(o), "rules_weight": o.rules_weight, "promoted_on": SERVED_AP,
               "features_version": model.features_version, "champion_of_other_features": outdated,
               # the training purchases the rules alert, which weigh rules_weight in the fit
               "rule_alerted_training": {"purchases": int(training["rules"].sum()),
                                         "chargebacks": int((training["rules"] & training["label_then"]).sum())},
               "alert_threshold": model.threshold,
               "alerts_at_threshold": int((model.score(validation) >= model.threshold).sum()),
               "coefficients": dict(zip(model.features, model.weights, strict=True))}
    counts = {"train_rows": training.height, "train_chargebacks": int(y.sum()), "validation_rows": validation.height,
              "validation_chargebacks": int(validation["label_now"].sum())}
    status = record(settings, model, o, counts, metrics, promote, report)
    published = None
    if o.publish and status == "champion":
        published = publish(settings, model, approved_by=JOB_NAME, request_id=o.run_id, reason=(
            f"champion {model.version}: mean average precision of the rules then its score "
            f"{mean['model'][SERVED_AP]:.3f} on "
            f"{o.validation_from}..{o.as_of - timedelta(days=o.label_delay_days + 1)}"))
    recorded = _record_features(settings, champion, o.run_id) if o.publish and champion and not published else None
    summary = {"version": model.version, "status": status, "as_of": str(o.as_of), "trained_on": trained_on(o),
               "rules_version": published.version if published else None,
               "champion_features_recorded_in": recorded.version if recorded else None,
               "train": [str(o.train_from), str(o.train_to - timedelta(days=1))],
               "validation": [str(o.validation_from), str(o.as_of - timedelta(days=o.label_delay_days + 1))],
               **counts, "mean": mean, "side_by_side": report, "seconds": round(time.monotonic() - started, 1)}
    log.info("fraud model %s: %s", model.version, json.dumps(summary))
    return summary


def _chargebacks(settings: Settings, first: date, last: date):  # noqa: ANN202
    """The landed chargebacks reported from `first` to `last`: transaction id and when reported (UTC)."""
    import polars as pl

    from credit_platform.ingest import landing

    frames = [f for d in range((last - first).days + 1)
              if (f := landing.read_landed(settings, names.CHARGEBACKS_TOPIC, first + timedelta(days=d))) is not None]
    if not frames:
        return pl.DataFrame(schema={"transaction_id": pl.String, "reported_at": pl.Datetime("us")})
    return (pl.concat(frames, how="diagonal_relaxed").filter(pl.col("_error").is_null())
            .select("transaction_id", pl.col("reported_at").dt.convert_time_zone("UTC").dt.replace_time_zone(None)
                    .cast(pl.Datetime("us")))
            .unique("transaction_id", keep="first"))


SERVED = "served_"  # the metrics of the job's ranking: the rules' alerts, then the score
SERVED_AP = f"{SERVED}average_precision"  # what promotion compares


def trained_on(o: FraudTrainingOptions) -> str:
    """In words, for `fraud_models.trained_on`: how the training purchases weighed."""
    if o.rules_weight == 1:
        return "all purchases alike"
    if o.rules_weight == 0:
        return "purchases no rule alerts"
    return f"purchases a rule alerts weighted {o.rules_weight:g}"


def _judge(validation, models: dict[str, FraudModel]) -> tuple[list[dict], dict[str, dict[str, float]]]:  # noqa: ANN001
    """Per validation day and per model: AUC, average precision and card precision@100 against the
    chargebacks reported by as-of, of the score alone and (`served_…`) of the rules then the score
    (`fraud_score.served`, the ranking the job serves); and their means over the days."""
    import numpy as np

    per_day = []
    for (day,), rows in sorted(validation.group_by("day"), key=lambda g: g[0]):
        labels = rows["label_now"].to_numpy()
        if labels.sum() == 0 or labels.all():
            continue
        per_day.append({"day": str(day), "purchases": rows.height, "chargebacks": int(labels.sum())}
                       | {name: _both(rows, m.score(rows), labels) for name, m in models.items()})
    if not per_day:
        raise NothingToLearn("no validation day has both a charged-back purchase and one that is not: nothing "
                             "to judge the model on (a later as-of, or more validation days)")
    mean = {name: {k: float(np.mean([d[name][k] for d in per_day])) for k in per_day[0][name]} for name in models}
    return per_day, mean


def _both(rows, scores, labels) -> dict[str, float]:  # noqa: ANN001
    from credit_platform.model.fraud_score import day_metrics, served

    users = rows["user_id"].to_numpy()
    return day_metrics(users, scores, labels) | {
        f"{SERVED}{k}": v for k, v in day_metrics(users, served(scores, rows["rules"].to_numpy()), labels).items()}


REPORT_COLUMNS = ("scope", "name", "purchases", "chargebacks", "rules_alerts", "rules_caught", "model_alerts",
                  "model_caught", "both_alerts", "both_caught")


def side_by_side(validation) -> list[dict[str, Any]]:  # noqa: ANN001
    """The rules alone, the model alone (its score at or above its threshold) and both (either
    alerts), on the validation purchases: alerts, and chargebacks caught (reported by as-of), per
    day and per scenario (the generator's pattern name, read here to report, as the detection report
    does; `none` for purchases of no pattern)."""
    import polars as pl

    caught = pl.col("label_now")
    both = pl.col("rules") | pl.col("model")
    aggregates = (pl.len().alias("purchases"), caught.sum().alias("chargebacks"),
                  pl.col("rules").sum().alias("rules_alerts"), (pl.col("rules") & caught).sum().alias("rules_caught"),
                  pl.col("model").sum().alias("model_alerts"), (pl.col("model") & caught).sum().alias("model_caught"),
                  both.sum().alias("both_alerts"), (both & caught).sum().alias("both_caught"))
    days = (validation.group_by("day").agg(*aggregates).sort("day")
            .select(pl.lit("day").alias("scope"), pl.col("day").cast(pl.String).alias("name"), pl.exclude("day")))
    patterns = (validation.with_columns(pl.col("fraud_pattern").fill_null("none")).group_by("fraud_pattern")
                .agg(*aggregates).sort("fraud_pattern")
                .select(pl.lit("scenario").alias("scope"), pl.col("fraud_pattern").alias("name"),
                        pl.exclude("fraud_pattern")))
    return pl.concat([days, patterns]).select(REPORT_COLUMNS).to_dicts()


def publish(settings: Settings, model: FraudModel, approved_by: str, reason: str,
            effective_from: datetime | None = None, request_id: str | None = None):  # noqa: ANN201
    """The model live: its coefficients, threshold and version as the next fraud rules version, which
    the running job applies from `effective_from` (default now) on, with no restart. Returns that
    version, or None when the latest version already holds this very model. ValueError for a model
    trained on features of another definition than the platform's now."""
    from credit_platform.rules.fraud import rules_from_settings
    from credit_platform.rules.fraud_store import RulesStore

    model.check_features()
    store = RulesStore(settings)
    history = store.history()
    if history and rules_from_settings(model.settings(), history[-1].rules) == history[-1].rules:
        return None
    return store.change(model.settings(), reason, approved_by, effective_from, request_id=request_id)


def _record_features(settings: Settings, champion: FraudModel, run_id: str):  # noqa: ANN202
    """The live rules version holds the champion, switched on, but not the definition of its features
    (published before versions carried it): the job scores nothing with it. The next version records
    it, that one setting only (a threshold an analyst set stays); None when there is nothing to do."""
    from credit_platform.rules.fraud_features import features_version
    from credit_platform.rules.fraud_store import RulesStore

    store = RulesStore(settings)
    history = store.history()
    live = history[-1].rules if history else None
    if (live is None or not live.fraud_score_enabled or live.fraud_score_model != champion.version
            or live.fraud_score_features == champion.features_version
            or champion.features_version != features_version()):
        return None
    return store.change({"fraud_score.features": champion.features_version},
                        f"champion {champion.version}: the definition of its features, which the job scores only "
                        f"with, recorded with it ({champion.features_version})", JOB_NAME,
                        request_id=f"{run_id}-features")


def stored_model(settings: Settings, version: str) -> FraudModel:
    """A model of `fraud_models` by its version, to publish or backtest; ValueError if there is none,
    or if it was trained on features of another definition than the platform's now."""
    import psycopg

    from credit_platform.model.fraud_score import FraudModel

    with psycopg.connect(settings.postgres_uri(names.ROLE_ETL), connect_timeout=10) as conn:
        row = conn.execute("SELECT model FROM fraud_models WHERE version = %s", (version,)).fetchone()
    if row is None:
        raise ValueError(f"no fraud model {version!r} in fraud_models (see bi.fraud_models)")
    model = FraudModel.from_json(json.dumps(row[0]))
    model.check_features()
    return model


def current_champion(settings: Settings) -> FraudModel | None:
    import psycopg

    from credit_platform.model.fraud_score import FraudModel

    with psycopg.connect(settings.postgres_uri(names.ROLE_ETL), connect_timeout=10) as conn:
        row = conn.execute("SELECT model FROM fraud_models WHERE status = 'champion'").fetchone()
    return FraudModel.from_json(json.dumps(row[0])) if row else None


def record(settings: Settings, model: FraudModel, o: FraudTrainingOptions, counts: dict[str, int],
           metrics: dict[str, Any], promote: bool, report: list[dict[str, Any]]) -> str:
    """Store the model (a rerun updates its row) and its side-by-side report (`fraud_score_report`,
    replaced), and, if `promote`, make it the champion and retire the former one, in one
    transaction. Returns its status."""
    import psycopg
    from psycopg.types.json import Jsonb

    now = datetime.now(UTC)
    mean = metrics["mean"]["model"]
    with psycopg.connect(settings.postgres_uri(names.ROLE_ETL), connect_timeout=10) as conn, conn.transaction():
        conn.execute(
            "INSERT INTO fraud_models (version, trained_at, training_run_id, algorithm, as_of, train_from, train_to, "
            "labels_reported_by, validation_from, validation_to, train_rows, train_chargebacks, validation_rows, "
            "validation_chargebacks, auc, average_precision, card_precision_at_100, metrics, model, status, "
            "trained_on, served_auc, served_average_precision, served_card_precision_at_100) "
            "VALUES (%s, %s, %s, 'logistic_regression', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
            "'challenger', %s, %s, %s, %s) ON CONFLICT (version) DO UPDATE SET trained_at = EXCLUDED.trained_at, "
            "training_run_id = EXCLUDED.training_run_id, metrics = EXCLUDED.metrics, model = EXCLUDED.model, "
            "auc = EXCLUDED.auc, average_precision = EXCLUDED.average_precision, "
            "card_precision_at_100 = EXCLUDED.card_precision_at_100, served_auc = EXCLUDED.served_auc, "
            "served_average_precision = EXCLUDED.served_average_precision, "
            "served_card_precision_at_100 = EXCLUDED.served_card_precision_at_100",
            (model.version, now, o.run_id, o.as_of, o.train_from, o.train_to - timedelta(days=1), o.validation_from,
             o.validation_from, o.as_of - timedelta(days=o.label_delay_days + 1), counts["train_rows"],
             counts["train_chargebacks"], counts["validation_rows"], counts["validation_chargebacks"], mean["auc"],
             mean["average_precision"], mean["card_precision_at_100"], Jsonb(metrics),
             Jsonb(json.loads(model.to_json())), trained_on(o), mean[f"{SERVED}auc"], mean[SERVED_AP],
             mean[f"{SERVED}card_precision_at_100"]))
        conn.execute("DELETE FROM fraud_score_report WHERE model_version = %s", (model.version,))
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO fraud_score_report (model_version, {', '.join(REPORT_COLUMNS)}) "
                            f"VALUES (%s, {', '.join(['%s'] * len(REPORT_COLUMNS))})",
                            [(model.version, *(r[c] for c in REPORT_COLUMNS)) for r in report])
        status = conn.execute("SELECT status FROM fraud_models WHERE version = %s", (model.version,)).fetchone()[0]
        if promote and status != "champion":
            conn.execute("UPDATE fraud_models SET status = 'retired', retired_at = %s WHERE status = 'champion'",
                         (now,))
            conn.execute("UPDATE fraud_models SET status = 'champion', promoted_at = %s, promotion_reason = %s, "
                         "retired_at = NULL WHERE version = %s",
                         (now, o.reason or _why_promoted(metrics), model.version))
            status = "champion"
    return status


def _why_promoted(metrics: dict[str, Any]) -> str:
    if outdated := metrics.get("champion_of_other_features"):
        return f"the champion {outdated} was trained on features of another definition"
    return "the rules then its score: no worse average precision on the validation days"
