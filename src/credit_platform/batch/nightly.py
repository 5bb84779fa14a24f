"""One business date of the nightly risk batch, end to end on a Spark session: the landed files of
each input topic → validation (refused rows to `data_quality_issues`) → scores and decisions under
the governed policy, with the day's fraud alerts (and the loan outcomes and chargebacks observed
that day) → one transaction that replaces the date in the warehouse; lineage rows per table and
metrics on the Pushgateway. `jobs/risk_scoring.py` wires it to `spark-submit`."""

from __future__ import annotations

import functools
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from credit_platform.batch import load, scoring
from credit_platform.config import Settings
from credit_platform.contracts import names
from credit_platform.ingest import landing
from credit_platform.lineage import Lineage, Step
from credit_platform.model.registry import champion
from credit_platform.rules.credit import Scorecard
from credit_platform.rules.lending import Policy, load_policy

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass(frozen=True)
class Target:
    """Where one input topic's valid rows go, and how they are scored."""

    table: str
    columns: tuple[str, ...]
    event_type: str | None  # fraud alerts' `event_type` joined to these rows (None: no alerts to join)


TARGETS = {
    names.APPLICATIONS_TOPIC: Target("credit_scores", scoring.CREDIT_SCORES_COLUMNS, "application"),
    names.TRANSACTIONS_TOPIC: Target("processed_transactions", scoring.PROCESSED_TRANSACTIONS_COLUMNS, "transaction"),
    names.LOAN_OUTCOMES_TOPIC: Target("loan_outcomes", scoring.LOAN_OUTCOMES_COLUMNS, None),
    names.CHARGEBACKS_TOPIC: Target("chargebacks", scoring.CHARGEBACKS_COLUMNS, None),
}


def score_day(spark: SparkSession, settings: Settings, day: date, run_id: str) -> dict[str, Any]:
    """Score and load one business date; returns the run's summary (counts, issues, timings)."""
    timings: dict[str, float] = {}
    lineage = Lineage(settings, scoring.JOB_NAME, run_id)
    policy = load_policy(settings.mongo_uri)
    card = champion(settings)
    staging = settings.home / "staging" / scoring.JOB_NAME / run_id
    steps: dict[str, Step] = {}
    staged: dict[str, tuple[tuple[str, ...], list]] = {}
    issues: list = []
    counts: dict[str, dict[str, int]] = {}
    stability: dict[str, float] = {}
    try:
        started = time.monotonic()
        for topic, target in TARGETS.items():
            files = landing.landed_files(settings, topic, day)
            step = steps[target.table] = _lineage_step(settings, topic, files, target.table, day, policy)
            lineage.record(step)
            staged[target.table], counts[target.table], refused, psi = _score_topic(
                spark, settings, topic, files, target, day, run_id, policy, card, staging)
            stability.update(psi)
            issues += refused
            step.rows_in = counts[target.table]["landed"]
        timings["score"] = time.monotonic() - started
        monitoring = [(day, card.version, name, value, counts["credit_scores"]["valid"], run_id)
                      for name, value in stability.items()] if card else []
        result = load.load_day(settings, day, staged, issues, run_id, monitoring)
        timings["load"] = result.seconds
        timings.update(result.steps)
        for table, step in steps.items():
            step.rows_out = result.rows[table]
            counts[table]["conflicts"] = result.conflicts.get(table, 0)
            step.rows_rejected = counts[table]["invalid"] + counts[table]["conflicts"]
            step.details.update(counts[table], replaced_rows=result.replaced[table])
            lineage.finish(step, "success")
    except BaseException as exc:
        for step in steps.values():
            lineage.finish(step, "failed", error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {"date": str(day), "run_id": run_id, "policy": f"{policy.id} v{policy.version}",
            "model": card.version if card else None, "psi": stability,
            "tables": {t: {**counts[t], "loaded": result.rows[t]} for t in counts},
            "issues": result.issues, "seconds": {k: round(v, 2) for k, v in timings.items()}}


def _lineage_step(settings: Settings, topic: str, files: list[Path], table: str, day: date, policy: Policy) -> Step:
    directory = landing.date_dir(landing.landing_root(settings), topic, day)
    file_names = {f.name for f in files}
    return Step(f"landing/{topic}/dt={day}", table, details={
        "files": [str(f) for f in files], "policy": f"{policy.id} v{policy.version}",
        "policy_exceptions": [e.id for e in policy.exceptions],
        "offsets": {n: [m["partition"], m["first_offset"], m["last_offset"]]
                    for n, m in landing.read_marker(directory)["files"].items() if n in file_names}})


def _score_topic(spark: SparkSession, settings: Settings, topic: str, files: list[Path], target: Target, day: date,
                 run_id: str, policy: Policy, card: Scorecard | None,
                 staging: Path) -> tuple[tuple[tuple[str, ...], list], dict, list, dict[str, float]]:
    """Stage one topic's scored rows and refused-row issues as CSV; returns (staged, counts, issue
    files, the population stability of the scored applications against the champion's sample)."""
    if not files:
        print(f"{topic}: nothing landed for {day}; {target.table} for that date will be empty")
        return (target.columns, []), {"landed": 0, "valid": 0, "invalid": 0}, [], {}
    checked = scoring.validate(scoring.read_landed(spark, files), topic).cache()
    landed, invalid = checked.selectExpr("count(*)", "count_if(size(_problems) > 0)").first()
    valid = checked.filter("size(_problems) = 0")
    if target.event_type is None:  # labels (loan outcomes, chargebacks): loaded as observed
        alerts: dict[str, list[str]] = {}
        rows = scoring.observed_rows(valid, topic, target.columns)
    else:
        alerts = load.load_alerts(settings, target.event_type, day)
        score = (functools.partial(scoring.score_applications, run_id=run_id, decided_at=datetime.now(UTC),
                                   card=card)
                 if target.table == "credit_scores" else scoring.score_transactions)
        rows = score(valid, scoring.alerts_frame(spark, alerts), policy)
    staged = (target.columns, load.stage_csv(rows, staging / target.table))
    psi: dict[str, float] = {}
    if card is not None and target.table == "credit_scores" and landed > invalid:
        psi = scoring.population_stability(card, scoring.population_shares(rows, card)[1])
    refused = load.stage_csv(scoring.issues_frame(checked, topic, run_id, day), staging / f"issues-{topic}")
    checked.unpersist()
    counts = {"landed": landed, "valid": landed - invalid, "invalid": invalid, "alerts": len(alerts)}
    return staged, counts, refused, psi


def push_metrics(settings: Settings, summary: dict[str, Any]) -> None:
    from prometheus_client import CollectorRegistry, Gauge

    from credit_platform.metrics import push

    registry = CollectorRegistry()
    rows = Gauge("risk_scoring_rows", "Rows of the last run", ["table", "stage"], registry=registry)
    seconds = Gauge("risk_scoring_seconds", "Wall time of the last run by phase", ["phase"], registry=registry)
    Gauge("risk_scoring_issues", "data_quality_issues rows of the last run", registry=registry).set(summary["issues"])
    Gauge("risk_scoring_last_success_timestamp_seconds", "When the last run finished",
          registry=registry).set_to_current_time()
    for table, counts in summary["tables"].items():
        for stage, value in counts.items():
            rows.labels(table, stage).set(value)
    for phase, value in summary["seconds"].items():
        seconds.labels(phase).set(value)
    if summary.get("psi"):
        psi = Gauge("credit_model_psi", "Population stability index of the last scored date against the champion "
                    "scorecard's training sample", ["characteristic", "model_version"], registry=registry)
        for name, value in summary["psi"].items():
            psi.labels(name, summary["model"]).set(value)
    push(settings, scoring.JOB_NAME, registry)
