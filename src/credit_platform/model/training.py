"""One training run of the credit scorecard, on a Spark session:

1. The sample: landed applications whose performance window has closed by `as_of` (applied at
   least `performance_window_days` before it, within `history_days`), validated against the
   contract like the nightly job validates them, joined with their landed outcomes. Spark reads
   and joins the history; the sample (one row per application) goes to the driver as Parquet.
2. Out of time: the latest `out_of_time_share` of the application dates is held out; the
   scorecard is fitted on the earlier ones (`model.fit`) and judged on the held-out ones.
3. Champion/challenger: the champion is scored on the same held-out sample; the new model is
   promoted when its AUC there is no worse (`promote="auto"`), never (`"never"`), or because a
   person says so with a reason (`"force"`).
4. The model, its metrics and the promotion go to `credit_models`; the report (charts, points
   table) to the model reports folder, served behind the Airflow login.

No label but the outcome is read for fitting; the generator's `true_pd` label, when the landed
outcomes carry it, is only reported beside the model as the ceiling.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from credit_platform.config import Settings
from credit_platform.contracts import names
from credit_platform.ingest import landing
from credit_platform.model import HISTORY_DAYS, OUT_OF_TIME_SHARE, evaluation, registry
from credit_platform.model.fit import fit_scorecard
from credit_platform.rules.credit import CHARACTERISTICS, Scorecard, score_frame
from credit_platform.rules.lending import LendingPolicy, load_policy

if TYPE_CHECKING:
    import polars as pl
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

JOB_NAME = "train_credit_model"
SOURCE_COLUMNS = ("application_id", "timestamp", "credit_score", "annual_income", "loan_amount", "loan_term_months",
                  "loan_purpose", "employment_status", "channel")
PROMOTE_MODES = ("auto", "never", "force")


@dataclass(frozen=True)
class TrainingOptions:
    as_of: date
    run_id: str
    history_days: int = HISTORY_DAYS
    out_of_time_share: float = OUT_OF_TIME_SHARE
    promote: str = "auto"
    reason: str = ""
    requested_by: str = JOB_NAME

    def __post_init__(self) -> None:
        if self.promote not in PROMOTE_MODES:
            raise ValueError(f"promote must be one of {PROMOTE_MODES}")
        if self.promote == "force" and not self.reason.strip():
            raise ValueError("a forced promotion needs a reason")
        if not 0.05 <= self.out_of_time_share <= 0.5:
            raise ValueError("out_of_time_share must be between 0.05 and 0.5")


@dataclass
class TrainingResult:
    version: str
    status: str
    metrics: dict[str, Any]
    report: Path
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        oot = self.metrics["out_of_time"]
        return {"version": self.version, "status": self.status, "auc": oot["auc"], "gini": oot["gini"], "ks": oot["ks"],
                "promotion": self.metrics["promotion"], "report": str(self.report), "sample": self.metrics["sample"],
                "seconds": self.seconds}


def sample_dates(as_of: date, history_days: int, window_days: int) -> tuple[list[date], list[date]]:
    """(application dates whose window has closed by the start of `as_of`, outcome dates to read)."""
    last_app = as_of - timedelta(days=window_days + 1)
    first_app = as_of - timedelta(days=history_days)
    apps = [first_app + timedelta(days=i) for i in range((last_app - first_app).days + 1)]
    outcomes = [first_app + timedelta(days=i) for i in range((as_of - first_app).days)]
    return apps, outcomes


def training_sample(spark: SparkSession, settings: Settings, apps_days: list[date], outcome_days: list[date],
                    staging: Path) -> tuple[pl.DataFrame, dict[str, int]]:
    """Valid landed applications of those dates joined with their valid landed outcomes."""
    import polars as pl

    from credit_platform.batch import scoring

    def valid(topic: str, days: list[date]):  # noqa: ANN202
        files = [f for d in days for f in landing.landed_files(settings, topic, d)]
        if not files:
            return None, 0
        checked = scoring.validate(scoring.read_landed(spark, files), topic)
        return checked.filter("size(_problems) = 0"), len(files)

    apps, app_files = valid(names.APPLICATIONS_TOPIC, apps_days)
    outcomes, outcome_files = valid(names.LOAN_OUTCOMES_TOPIC, outcome_days)
    if apps is None or outcomes is None:
        raise ValueError(f"no landed {'applications' if apps is None else 'outcomes'} between "
                         f"{apps_days[0] if apps_days else '?'} and {outcome_days[-1] if outcome_days else '?'}: "
                         "nothing to learn from (the generate_data DAG's history_days and history_applications make a "
                         "history with outcomes)")
    label = ["true_pd"] if "true_pd" in outcomes.columns else []
    joined = (apps.select(*SOURCE_COLUMNS)
              .join(outcomes.select("application_id", "defaulted", *label), "application_id", "inner"))
    shutil.rmtree(staging, ignore_errors=True)
    joined.coalesce(1).write.parquet(str(staging))
    sample = pl.read_parquet(staging / "*.parquet").sort("timestamp", "application_id")
    valid_apps = apps.count()
    return sample, {"application_files": app_files, "outcome_files": outcome_files, "valid_applications": valid_apps,
                    "with_outcome": sample.height}


def _days(timestamps: pl.Series) -> pl.Series:
    """The UTC dates of landed event times (datetimes as Spark writes them, or ISO strings)."""
    import polars as pl

    if timestamps.dtype == pl.Utf8:
        return timestamps.str.slice(0, 10).str.to_date()
    if getattr(timestamps.dtype, "time_zone", None):
        timestamps = timestamps.dt.convert_time_zone("UTC")
    return timestamps.dt.date()


def split_out_of_time(sample: pl.DataFrame, share: float) -> tuple[pl.DataFrame, pl.DataFrame, date]:
    """Train on the earlier application dates, validate on the latest `share` of the rows (whole days)."""
    days = _days(sample["timestamp"])
    cut = days.sort()[int(len(days) * (1 - share))]
    early = days < cut
    return sample.filter(early), sample.filter(~early), cut


def judge_on(card: Scorecard, sample: pl.DataFrame, policy: LendingPolicy) -> dict[str, Any]:
    scored = score_frame(card, sample)
    y = sample["defaulted"].cast(int).to_numpy()
    return evaluation.judge(y, scored["probability_of_default"].to_numpy(), scored["score_points"].to_numpy(), policy)


def train(spark: SparkSession, settings: Settings, options: TrainingOptions) -> TrainingResult:
    from credit_platform.model import report

    timings: dict[str, float] = {}
    started = time.monotonic()
    policy = load_policy(settings.mongo_uri).thresholds
    apps_days, outcome_days = sample_dates(options.as_of, options.history_days, policy.performance_window_days)
    staging = settings.home / "staging" / JOB_NAME / options.run_id.replace("/", "_")
    try:
        sample, counts = training_sample(spark, settings, apps_days, outcome_days, staging / "sample")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    timings["sample"] = time.monotonic() - started
    if sample.height == 0:
        raise ValueError(f"no landed application from {apps_days[0]} to {apps_days[-1]} has a landed outcome")
    days = _days(sample["timestamp"])
    first, last = days.min(), days.max()
    train_set, validation, oot_from = split_out_of_time(sample, options.out_of_time_share)
    started = time.monotonic()
    card = fit_scorecard(train_set, policy, options.as_of)
    timings["fit"] = time.monotonic() - started

    y = validation["defaulted"].cast(int).to_numpy()
    scored = score_frame(card, validation)
    pd_, points = scored["probability_of_default"].to_numpy(), scored["score_points"].to_numpy()
    oot = evaluation.judge(y, pd_, points, policy)
    baselines = {"bureau_score_auc": round(evaluation.auc(y, -validation["credit_score"].to_numpy()), 4)}
    if "true_pd" in validation.columns and validation["true_pd"].null_count() == 0:
        baselines["true_pd_auc (ceiling)"] = round(evaluation.auc(y, validation["true_pd"].to_numpy()), 4)
    current = registry.champion(settings)
    champion_auc = judge_on(current, validation, policy)["auc"] if current and current.version != card.version else None
    promote, reason = _promotion(options, current, oot["auc"], champion_auc, oot_from)
    metrics = {
        "sample": {**counts, "train_rows": train_set.height, "validation_rows": validation.height,
                   "application_dates": [str(first), str(last)], "out_of_time_from": str(oot_from),
                   "performance_window_days": policy.performance_window_days},
        "train": {k: v for k, v in judge_on(card, train_set, policy).items() if k != "calibration"},
        "out_of_time": oot, "baselines": baselines, "decision_shares": evaluation.decision_shares(pd_, policy),
        "champion": {"version": current.version if current else None, "auc_on_this_sample": champion_auc},
        "promotion": {"promoted": promote, "reason": reason, "requested_by": options.requested_by},
        "characteristics": [c.name for c in card.characteristics],
        "dropped": [c.name for c in CHARACTERISTICS if c.name not in {x.name for x in card.characteristics}],
    }
    path = report.write(settings, card, metrics, y, pd_, points, validation, policy)
    status = registry.record(settings, card, registry.ModelRow(
        version=card.version, trained_by=options.requested_by, training_run_id=options.run_id,
        sample_from=first, sample_to=last, out_of_time_from=oot_from, train_rows=train_set.height,
        validation_rows=validation.height, metrics=metrics, report_path=str(path)),
        promote, f"{options.requested_by} (run {options.run_id})", reason)
    report.write_index(settings, registry.models(settings))
    return TrainingResult(card.version, status, metrics, path, {k: round(v, 2) for k, v in timings.items()})


def _promotion(options: TrainingOptions, current: Scorecard | None, auc: float, champion_auc: float | None,
               oot_from: date) -> tuple[bool, str]:
    if options.promote == "never":
        return False, "kept as challenger: promotion not requested"
    if options.promote == "force":
        return True, f"forced by {options.requested_by}: {options.reason.strip()}"
    if current is None:
        return True, f"first champion: out-of-time AUC {auc:.4f} (applications from {oot_from})"
    if champion_auc is None:
        return True, f"retrained the champion {current.version} on the same data"
    if auc >= champion_auc:
        return True, (f"out-of-time AUC {auc:.4f} >= champion {current.version}'s {champion_auc:.4f} on the same "
                      f"applications (from {oot_from})")
    return False, (f"kept as challenger: out-of-time AUC {auc:.4f} < champion {current.version}'s {champion_auc:.4f} "
                   f"on the same applications (from {oot_from})")


