"""Detection quality: the fraud job's alerts scored against the generator's ground-truth labels.

Each rule targets the injected pattern of the same name. Per rule: precision (its alerts that hit
its pattern) and recall (its pattern's events it alerted). Per pattern: recall by any rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from credit_platform.contracts import names
from credit_platform.ingest.generator import APPLICATION_PATTERNS, TRANSACTION_PATTERNS

RULES = APPLICATION_PATTERNS + TRANSACTION_PATTERNS


@dataclass(frozen=True)
class Score:
    name: str
    alerts: int
    true_positives: int
    labelled: int
    caught: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.alerts if self.alerts else float("nan")

    @property
    def recall(self) -> float:
        return self.caught / self.labelled if self.labelled else float("nan")


def labels(applications: pl.DataFrame | None, transactions: pl.DataFrame | None) -> pl.DataFrame:
    frames = []
    for frame, id_column in ((applications, "application_id"), (transactions, "transaction_id")):
        if frame is not None and frame.height:
            frames.append(frame.select(pl.col(id_column).alias("event_id"), "fraud_pattern"))
    return pl.concat(frames) if frames else pl.DataFrame(schema={"event_id": pl.String, "fraud_pattern": pl.String})


def score(truth: pl.DataFrame, alerts: pl.DataFrame) -> tuple[list[Score], list[Score]]:
    """`truth`: event_id, fraud_pattern (null = normal). `alerts`: event_id, rule."""
    joined = alerts.join(truth, on="event_id", how="left")
    by_rule = []
    for rule in RULES:
        mine = joined.filter(pl.col("rule") == rule)
        labelled = truth.filter(pl.col("fraud_pattern") == rule)
        hit = mine.filter(pl.col("fraud_pattern") == rule)
        by_rule.append(Score(rule, mine.height, hit.height, labelled.height, hit["event_id"].n_unique()))
    by_pattern = []
    alerted = set(alerts["event_id"].to_list())
    for pattern in RULES:
        labelled = truth.filter(pl.col("fraud_pattern") == pattern)
        caught = labelled.filter(pl.col("event_id").is_in(alerted)).height
        by_pattern.append(Score(pattern, 0, 0, labelled.height, caught))
    return by_rule, by_pattern


def render(by_rule: list[Score], by_pattern: list[Score]) -> str:
    lines = [f"{'rule':<22} {'alerts':>7} {'precision':>10} {'recall':>8}   ({'caught':>6} of {'labelled':>8})"]
    for s in by_rule:
        lines.append(f"{s.name:<22} {s.alerts:>7,} {s.precision:>10.3f} {s.recall:>8.3f}   "
                     f"({s.caught:>6,} of {s.labelled:>8,})")
    lines.append("")
    lines.append(f"{'pattern':<22} {'recall by any rule':>18}")
    for s in by_pattern:
        lines.append(f"{s.name:<22} {s.recall:>18.3f}   ({s.caught:,} of {s.labelled:,})")
    return "\n".join(lines)


def report_from_files(mongo_uri: str, applications: Path | None, transactions: Path | None,
                      database: str = names.MONGO_DB, collection: str = names.FRAUD_ALERTS_COLLECTION) -> str:
    from pymongo import MongoClient

    truth = labels(pl.read_ndjson(applications) if applications else None,
                   pl.read_ndjson(transactions) if transactions else None)
    with MongoClient(mongo_uri, serverSelectionTimeoutMS=10_000) as client:
        docs = list(client[database][collection].find({}, {"event_id": 1, "rule": 1}))
    alerts = pl.DataFrame({"event_id": [d["event_id"] for d in docs], "rule": [d["rule"] for d in docs]},
                          schema={"event_id": pl.String, "rule": pl.String})
    # only alerts about the events in these files: the collection may hold other days' alerts
    alerts = alerts.filter(pl.col("event_id").is_in(truth["event_id"].implode()))
    return render(*score(truth, alerts))
