"""Detection quality: the fraud alerts scored against the generator's ground-truth labels, per rule,
per pattern and per day, as a fraud team reads it.

- Per rule: events alerted, of them on fraudulent events (any pattern: a rule that catches another
  pattern's fraud is right), on normal events and on benign look-alikes (false positives), precision,
  recall of the rule's own pattern, and alerts per 1,000 events of its kind.
- Per pattern (fraud and benign look-alike): events, alerted by any rule, the share alerted (recall
  for fraud, the false-positive rate for a look-alike).
- Per day, card precision@100 (the measure of the "Reproducible Machine Learning for Credit Card
  Fraud Detection" handbook): the 100 cards with the most suspicious day (most distinct rules, then
  most alerts, on their transactions), and the share of them with a fraudulent transaction that day.
  Fewer than 100 cards alerted: the rest count as not fraudulent (an investigator has nothing to
  look at there); `best` is what a perfect ranking gets: min(fraud cards, 100) / 100. One card per
  customer in the generated world, so the card is the customer id.

The labels are read only here, after the fact; no rule ever sees them. The nightly job writes the
day's report to the warehouse table `fraud_detection_report` (view `bi.fraud_detection`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from credit_platform.contracts import names
from credit_platform.ingest.generator import (
    APPLICATION_LOOKALIKES,
    APPLICATION_PATTERNS,
    TRANSACTION_LOOKALIKES,
    TRANSACTION_PATTERNS,
)
from credit_platform.rules.fraud import LEARNED_RULES, RULES

if TYPE_CHECKING:
    from credit_platform.config import Settings

PATTERNS = APPLICATION_PATTERNS + TRANSACTION_PATTERNS
LOOKALIKES = APPLICATION_LOOKALIKES + TRANSACTION_LOOKALIKES
RULE_EVENT_TYPE = {r: ("application" if r in APPLICATION_PATTERNS else "transaction") for r in RULES}
CARDS_AT = 100
TRUTH_SCHEMA = {"event_id": pl.String, "event_type": pl.String, "user_id": pl.String, "is_fraud": pl.Boolean,
                "fraud_pattern": pl.String}


@dataclass(frozen=True)
class RuleScore:
    rule: str
    events: int  # events of the rule's kind
    alerts: int  # events it alerted
    on_fraud: int
    on_lookalikes: int
    pattern_events: int  # events of its own pattern
    pattern_caught: int

    @property
    def false_positives(self) -> int:
        return self.alerts - self.on_fraud

    @property
    def precision(self) -> float | None:
        return self.on_fraud / self.alerts if self.alerts else None

    @property
    def recall(self) -> float | None:
        return self.pattern_caught / self.pattern_events if self.pattern_events else None

    @property
    def per_1000(self) -> float | None:
        return 1000 * self.alerts / self.events if self.events else None


@dataclass(frozen=True)
class PatternScore:
    pattern: str
    fraud: bool
    events: int
    alerted: int  # by any rule

    @property
    def share(self) -> float | None:  # recall (fraud) or false-positive rate (look-alike)
        return self.alerted / self.events if self.events else None


@dataclass(frozen=True)
class CardScore:
    day: date | None
    cards_alerted: int
    fraud_cards: int  # cards with a fraudulent transaction that day
    hits: int  # fraud cards among the top CARDS_AT

    @property
    def precision(self) -> float:
        return self.hits / CARDS_AT

    @property
    def best(self) -> float:
        return min(self.fraud_cards, CARDS_AT) / CARDS_AT


@dataclass(frozen=True)
class Report:
    rules: list[RuleScore]
    patterns: list[PatternScore]
    cards: list[CardScore]

    def render(self) -> str:
        def f(x: float | None, spec: str = ".3f") -> str:
            return "-" if x is None else format(x, spec)

        lines = [f"{'rule':<22} {'alerts':>7} {'fraud':>6} {'false+':>6} {'of them look-alikes':>19} "
                 f"{'precision':>9} {'recall':>7} {'per 1k':>7}"]
        for s in self.rules:
            lines.append(f"{s.rule:<22} {s.alerts:>7,} {s.on_fraud:>6,} {s.false_positives:>6,} "
                         f"{s.on_lookalikes:>19,} {f(s.precision):>9} {f(s.recall):>7} {f(s.per_1000, '.2f'):>7}")
        lines += ["", f"{'pattern':<22} {'events':>7} {'alerted':>8} {'share':>7}"]
        for p in self.patterns:
            kind = "recall" if p.fraud else "false-positive rate"
            lines.append(f"{p.pattern:<22} {p.events:>7,} {p.alerted:>8,} {f(p.share):>7}  ({kind})")
        if self.cards:
            lines += ["", f"{'day':<12} {'cards alerted':>13} {'fraud cards':>11} {'card precision@100':>18} "
                          f"{'best':>6}"]
            for c in self.cards:
                lines.append(f"{c.day!s:<12} {c.cards_alerted:>13,} {c.fraud_cards:>11,} {c.precision:>18.3f} "
                             f"{c.best:>6.3f}")
        return "\n".join(lines)


def labels(applications: pl.DataFrame | None, transactions: pl.DataFrame | None) -> pl.DataFrame:
    """TRUTH_SCHEMA of generated (or landed) events; `timestamp` kept for the day, when present."""
    frames = []
    for frame, id_column, kind in ((applications, "application_id", "application"),
                                   (transactions, "transaction_id", "transaction")):
        if frame is not None and frame.height:
            ts = pl.col("timestamp")
            if frame.schema["timestamp"] == pl.String:
                ts = ts.str.to_datetime("%Y-%m-%dT%H:%M:%S%.3fZ", time_zone="UTC")
            frames.append(frame.select(
                pl.col(id_column).alias("event_id"), pl.lit(kind).alias("event_type"), "user_id",
                pl.col("is_fraud").fill_null(False), pl.col("fraud_pattern").cast(pl.String),
                ts.dt.convert_time_zone("UTC").dt.date().alias("day")))
    return pl.concat(frames) if frames else pl.DataFrame(schema={**TRUTH_SCHEMA, "day": pl.Date})


def alerts_frame(alert_ids: Iterable[str]) -> pl.DataFrame:
    """event_id, rule of alert ids (`rule:event_id`)."""
    pairs = [a.split(":", 1) for a in alert_ids]
    return pl.DataFrame({"rule": [r for r, _ in pairs], "event_id": [e for _, e in pairs]},
                        schema={"rule": pl.String, "event_id": pl.String})


def score(truth: pl.DataFrame, alerts: pl.DataFrame) -> Report:
    """`truth`: labels(); `alerts`: event_id, rule (one row per alert)."""
    alerts = alerts.select("event_id", "rule").unique()
    joined = alerts.join(truth, on="event_id", how="inner")  # alerts about these events only
    rules = []
    for rule in RULES:
        mine = joined.filter(pl.col("rule") == rule)
        own = truth.filter((pl.col("event_type") == RULE_EVENT_TYPE[rule]) & pl.col("is_fraud")
                           if rule in LEARNED_RULES else pl.col("fraud_pattern") == rule)
        rules.append(RuleScore(
            rule, truth.filter(pl.col("event_type") == RULE_EVENT_TYPE[rule]).height, mine.height,
            mine.filter(pl.col("is_fraud")).height,
            mine.filter(~pl.col("is_fraud") & pl.col("fraud_pattern").is_not_null()).height,
            own.height, own.filter(pl.col("event_id").is_in(mine["event_id"].implode())).height))
    alerted = joined["event_id"].unique().implode()
    patterns = [PatternScore(p, p in PATTERNS, (rows := truth.filter(pl.col("fraud_pattern") == p)).height,
                             rows.filter(pl.col("event_id").is_in(alerted)).height)
                for p in PATTERNS + LOOKALIKES]
    return Report(rules, patterns, card_precision(truth, joined))


def card_precision(truth: pl.DataFrame, joined: pl.DataFrame) -> list[CardScore]:
    """Card precision@100 per day of the transactions (`joined`: alerts with their event's labels)."""
    txs = truth.filter(pl.col("event_type") == "transaction")
    if "day" not in txs.columns or txs.is_empty():
        return []
    fraud = txs.filter(pl.col("is_fraud")).select("day", "user_id").unique()
    ranked = (joined.filter(pl.col("event_type") == "transaction")
              .group_by("day", "user_id").agg(pl.col("rule").n_unique().alias("rules"), pl.len().alias("alerts"))
              .sort(["day", "rules", "alerts", "user_id"], descending=[False, True, True, False]))
    out = []
    for (day,), cards in ranked.group_by("day", maintain_order=True):
        top = cards.head(CARDS_AT).join(fraud, on=["day", "user_id"], how="semi")
        out.append(CardScore(day, cards.height, fraud.filter(pl.col("day") == day).height, top.height))
    seen = {c.day for c in out}
    out += [CardScore(d, 0, fraud.filter(pl.col("day") == d).height, 0)
            for d in txs["day"].unique().to_list() if d not in seen]
    return sorted(out, key=lambda c: c.day)


def _alerts_of(mongo_uri: str, event_ids: pl.Series, database: str = names.MONGO_DB,
               collection: str = names.FRAUD_ALERTS_COLLECTION, query: dict | None = None) -> pl.DataFrame:
    from pymongo import MongoClient

    wanted = set(event_ids.to_list())
    with MongoClient(mongo_uri, serverSelectionTimeoutMS=10_000) as client:
        docs = [d for d in client[database][collection].find(query or {}, {"event_id": 1, "rule": 1})
                if d.get("event_id") in wanted]
    return pl.DataFrame({"event_id": [d["event_id"] for d in docs], "rule": [d["rule"] for d in docs]},
                        schema={"event_id": pl.String, "rule": pl.String})


def report_from_files(mongo_uri: str, applications: Path | None, transactions: Path | None,
                      database: str = names.MONGO_DB, collection: str = names.FRAUD_ALERTS_COLLECTION) -> str:
    """The report of the alerts MongoDB holds about the events of these generated files."""
    truth = labels(pl.read_ndjson(applications) if applications else None,
                   pl.read_ndjson(transactions) if transactions else None)
    return score(truth, _alerts_of(mongo_uri, truth["event_id"], database, collection)).render()


# ---- the warehouse ---------------------------------------------------------------------------
def day_report(settings: Settings, day: date, collection: str | None = None) -> Report:
    """The landed day's valid events against every alert MongoDB holds about them, stored in
    `fraud_detection_report` (the day's rows replaced: a rerun changes nothing)."""
    import psycopg

    from credit_platform.stream.backtest import landed_events

    frames = landed_events(settings, day, day)
    valid = {k: f.filter(pl.col("_error").is_null()) if not f.is_empty() else None for k, f in frames.items()}
    truth = labels(valid["applications"], valid["transactions"]).filter(pl.col("day") == day)
    start = datetime.combine(day, datetime.min.time(), UTC)
    report = score(truth, _alerts_of(settings.mongo_uri, truth["event_id"],
                                     collection=collection or names.FRAUD_ALERTS_COLLECTION,
                                     query={"event_time": {"$gte": start, "$lt": start + timedelta(days=1)}}))
    rows = ([("rule", s.rule, s.events, s.alerts, s.on_fraud, s.false_positives, s.on_lookalikes, s.pattern_events,
              s.pattern_caught, s.precision, s.recall, s.per_1000, None, None) for s in report.rules]
            + [("pattern", p.pattern, p.events, p.alerted, p.alerted if p.fraud else 0, 0 if p.fraud else p.alerted,
                0 if p.fraud else p.alerted, p.events, p.alerted, None, p.share if p.fraud else None, None, None,
                None if p.fraud else p.share) for p in report.patterns]
            + [("cards", f"card_precision@{CARDS_AT}", c.cards_alerted, min(c.cards_alerted, CARDS_AT), c.hits,
                min(c.cards_alerted, CARDS_AT) - c.hits, None, c.fraud_cards, c.hits, c.precision, None, None,
                c.best, None) for c in report.cards if c.day == day])
    with psycopg.connect(settings.postgres_uri()) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM public.fraud_detection_report WHERE business_date = %s", (day,))
        cur.executemany(
            "INSERT INTO public.fraud_detection_report (business_date, kind, name, events, alerted, on_fraud, "
            "false_positives, on_lookalikes, labelled, caught, precision, recall, per_1000_events, best, "
            "false_positive_rate) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(day, *r) for r in rows])
    return report
