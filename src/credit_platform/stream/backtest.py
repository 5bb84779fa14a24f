"""Backtest the fraud rules: the stream's very SQL over bounded events, before a change goes live.

`run_rules` runs what the fraud job runs (`rules.fraud.source_ddl` with the contract-json format,
`rules_ddl` with the rules' versioned table, `rule_queries`) on a local Flink mini-cluster, over
bounded files of events and published rule versions, so it raises exactly the alerts the live job
raises on the same events under the same versions (`tests/integration/test_fraud_job.py` holds it
to that). Flink runs it in streaming mode over the bounded input, which ends with a final watermark
that closes every window: Flink 2.3's batch mode cannot run the rules' event-time RANGE windows
("Unsupported temporal arithmetic" on TIMESTAMP_LTZ).

`backtest` reads a range of landed days (and some days before them, so that each customer's windows
and previous purchases are there as in the stream), in event-time order, judges them under the live
versions and under
the proposed settings, and reports per rule: alerts, precision and recall against the labels, and
the change in alert volume. The report is printed, stored in the warehouse table
`fraud_rule_backtests` and as JSON under the state dir's `backtests/`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from credit_platform.config import Settings
from credit_platform.contracts.names import APPLICATIONS_TOPIC, TRANSACTIONS_TOPIC
from credit_platform.rules.fraud import (
    ALERT_COLUMNS,
    DEFAULT_FRAUD_RULES,
    LEARNED_RULES,
    RULES,
    STREAM_TABLES,
    FraudRules,
    RuleVersion,
    rule_queries,
    rules_ddl,
    rules_from_settings,
    rules_record,
    source_ddl,
)

if TYPE_CHECKING:
    import polars as pl

    from credit_platform.model.fraud_score import FraudModel

log = logging.getLogger(__name__)

OUT_OF_ORDERNESS_MS = 500  # as the job's default (--out-of-orderness-ms)
WARMUP_DAYS = 7  # landed days read before the range, so windows and purchase histories are filled


Judged = tuple[FraudRules, "tuple[RuleVersion, ...] | list[RuleVersion]"]  # deployed settings, versions


def bounded_tables(work_dir: Path, apps: list, txs: list, rules: FraudRules = DEFAULT_FRAUD_RULES,
                   versions: tuple[RuleVersion, ...] | list[RuleVersion] = (),
                   variants: dict[str, Judged] | None = None):  # noqa: ANN201
    """A local Flink mini-cluster with the stream's very tables (`source_ddl`: contract-json format;
    `rules_ddl`: the rules' versioned table and the views the rules read) over bounded files of these
    events (dicts, or JSON lines as bytes) and of these rule versions. `variants`: more sets of rule
    versions, each with its own rules tables and views (named with its suffix), over the same events."""
    from pyflink.table import EnvironmentSettings, TableEnvironment

    from credit_platform import config
    from credit_platform.stream.flink_config import build_contract_format

    def write(name: str, rows: list) -> Path:
        (work_dir / name).mkdir(parents=True, exist_ok=True)
        (work_dir / name / "rows.json").write_bytes(
            b"".join((r if isinstance(r, bytes) else json.dumps(r, default=str).encode()) + b"\n" for r in rows))
        return work_dir / name

    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    conf = t_env.get_config()
    jar = build_contract_format(config.load())[0]
    for key, value in {"parallelism.default": "1", "table.local-time-zone": "UTC", "pipeline.jars": jar.as_uri(),
                       "rest.bind-address": "127.0.0.1", "rest.address": "127.0.0.1"}.items():
        conf.set(key, value)
    options = {name: f"'connector' = 'filesystem', 'path' = '{write(name, rows)}'"
               for name, rows in (("applications", apps), ("transactions", txs))}
    ddl = source_ddl(options, OUT_OF_ORDERNESS_MS)
    for variant, (deployed, judged_by) in {"": (rules, versions), **(variants or {})}.items():
        published = write(f"rules{variant}", [rules_record(r, v, t) for t, v, r in judged_by])
        ddl += rules_ddl(f"'connector' = 'filesystem', 'path' = '{published}'", deployed, variant)
    for statement in ddl:
        t_env.execute_sql(statement)
    return t_env


def run_rules(work_dir: Path, apps: list, txs: list, rules: FraudRules = DEFAULT_FRAUD_RULES,
              versions: tuple[RuleVersion, ...] | list[RuleVersion] = ()) -> dict[str, set[int]]:
    """The stream's rule SQL over these events and rule versions: each alert id with the rule
    versions that raised it."""
    found: dict[str, set[int]] = {}
    for row in run_rule_rows(work_dir, apps, txs, {"": (rules, versions)})[""]:
        found.setdefault(row[0], set()).add(row[-1])
    return found


def run_rule_rows(work_dir: Path, apps: list, txs: list, variants: dict[str, Judged]) -> dict[str, list[tuple]]:
    """The alerts themselves (ALERT_COLUMNS, one row per rule firing: a burst's events may come more
    than once), as the stream's alert writer receives them, for each variant of deployed settings and
    rule versions (key: a name suffix; "" for one), all judged in one job over one read of the events."""
    names = list(variants)
    first = names[0]
    t_env = bounded_tables(work_dir, apps, txs, *variants[first], variants={n: variants[n] for n in names[1:]})
    # the event time as UTC wall time (the session's zone): PyFlink cannot hand over an instant
    columns = ALERT_COLUMNS.replace("event_time", "CAST(event_time AS TIMESTAMP(3)) AS event_time")
    union = " UNION ALL ".join(f"(SELECT {i} AS judged_as, {columns} FROM ({q}))" for i, name in enumerate(names)
                               for q in rule_queries(variants[name][0], name).values())
    found: dict[str, list[tuple]] = {name: [] for name in names}
    with t_env.execute_sql(union).collect() as results:
        for row in results:
            found[names[row[0]]].append(tuple(row)[1:])
    return found


def run_features(work_dir: Path, txs: list, model: FraudModel | None = None) -> pl.DataFrame:
    """The learned score's features (`rules.fraud_features.feature_query`, the SQL the stream
    run) over these transactions: `transaction_id`, `user_id`, `event_time` (UTC) and FEATURE_NAMES per
    purchase, and the `model`'s score as its SQL computes it (`FraudModel.score_sql`) as `score`.
    Written by Flink to JSON-lines files and read back with polars: a row per purchase through
    PyFlink's `collect` costs milliseconds (30,000 purchases took 150 s that way)."""
    import polars as pl

    from credit_platform.rules.fraud import columns_ddl
    from credit_platform.rules.fraud_features import FEATURE_NAMES, FLAGS, feature_query

    t_env = bounded_tables(work_dir, [], txs)
    out = work_dir / "features"
    columns = (("transaction_id", "STRING"), ("user_id", "STRING"), ("event_time", "TIMESTAMP(3)"),
               *((name, "BOOLEAN" if name in FLAGS else "DOUBLE") for name in FEATURE_NAMES),
               *((("score", "DOUBLE"),) if model else ()))
    t_env.execute_sql(f"CREATE TABLE features_out ({columns_ddl(columns)}) WITH ('connector' = 'filesystem', "
                      f"'path' = '{out}', 'format' = 'json', 'json.timestamp-format.standard' = 'ISO-8601')")
    values = ", ".join(name if name in FLAGS else f"CAST({name} AS DOUBLE)" for name in FEATURE_NAMES)
    score = f", {model.score_sql()}" if model else ""
    t_env.execute_sql(f"INSERT INTO features_out SELECT transaction_id, user_id, CAST(event_time AS TIMESTAMP(3)), "
                      f"{values}{score} FROM ({feature_query()})").wait()
    files = [f for f in out.rglob("*") if f.is_file() and not f.name.startswith(".")]
    types = {"STRING": pl.String, "TIMESTAMP(3)": pl.String, "BOOLEAN": pl.Boolean, "DOUBLE": pl.Float64}
    schema = {name: types[kind] for name, kind in columns}
    frame = (pl.concat([pl.read_ndjson(f, schema=schema) for f in files]) if files else pl.DataFrame(schema=schema))
    return frame.with_columns(pl.col("event_time").str.to_datetime("%Y-%m-%dT%H:%M:%S%.f"))


# ---- landed events ------------------------------------------------------------------------------
def landed_events(settings: Settings, first: date, last: date) -> dict[str, pl.DataFrame]:
    """Every landed record of the stream's topics with an event date in [first, last]."""
    import polars as pl

    from credit_platform.ingest.landing import date_dir, landing_root

    root = landing_root(settings)
    frames = {}
    for table, topic in (("applications", APPLICATIONS_TOPIC), ("transactions", TRANSACTIONS_TOPIC)):
        files = [f for d in range((last - first).days + 1)
                 for f in sorted(date_dir(root, topic, first + timedelta(days=d)).glob("*.parquet"))]
        frames[table] = (pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed") if files
                         else pl.DataFrame())
    return frames


def _as_lines(frame: pl.DataFrame, columns: tuple[tuple[str, str], ...]) -> list[bytes]:
    """The events the rules judge, in event-time order: the valid rows, re-serialised with only the
    columns the stream reads (the event time in ISO-8601 with milliseconds, as its TIMESTAMP_LTZ(3)
    holds it). In order, because one bounded file has one watermark, where the stream keeps one per
    Kafka partition (each customer's events are in one partition, in order). A record the landing
    refused is left out: the stream's contract check refuses it too, and gives it no event time."""
    import polars as pl

    if frame.is_empty():
        return []
    names = [name for name, _ in columns]
    valid = frame.filter(pl.col("_error").is_null()).sort("timestamp", maintain_order=True).with_columns(
        pl.col("timestamp").dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"))
    return [line.encode() for line in valid.select(names).write_ndjson().splitlines()]


# ---- the report --------------------------------------------------------------------------------
@dataclass(frozen=True)
class RuleOutcome:
    rule: str
    live_alerts: int
    proposed_alerts: int
    proposed_fraud_alerts: int  # of the proposed alerts, those on events labelled fraudulent
    pattern_events: int  # events of the rule's own injected pattern (a learned rule's: all fraudulent purchases)
    pattern_caught: int  # ... alerted by the rule under the proposal

    @property
    def precision(self) -> float | None:
        return self.proposed_fraud_alerts / self.proposed_alerts if self.proposed_alerts else None

    @property
    def recall(self) -> float | None:
        return self.pattern_caught / self.pattern_events if self.pattern_events else None

    @property
    def change(self) -> float | None:
        return (self.proposed_alerts - self.live_alerts) / self.live_alerts if self.live_alerts else None


@dataclass(frozen=True)
class Backtest:
    run_id: str
    first: date
    last: date
    settings: dict[str, object]
    events: int
    outcomes: list[RuleOutcome]
    seconds: float
    report_path: Path | None = None

    def render(self) -> str:
        def pct(x: float | None) -> str:
            return "-" if x is None else f"{x:.3f}"

        proposal = ", ".join(f"{k}={v}" for k, v in self.settings.items()) or "(none: the live versions)"
        lines = [f"backtest {self.run_id}: {self.first}..{self.last}, {self.events:,} events, proposal {proposal}",
                 f"  {'rule':<22} {'live':>7} {'proposed':>9} {'change':>8} {'precision':>10} {'recall':>7}"]
        for o in self.outcomes:
            change = "-" if o.change is None else f"{o.change:+.1%}"
            lines.append(f"  {o.rule:<22} {o.live_alerts:>7,} {o.proposed_alerts:>9,} {change:>8} "
                         f"{pct(o.precision):>10} {pct(o.recall):>7}")
        lines.append(f"  took {self.seconds:.1f} s" + (f"; report {self.report_path}" if self.report_path else ""))
        return "\n".join(lines)


def live_versions(settings: Settings, last: date) -> tuple[list[RuleVersion], FraudRules]:
    """The governed rules' versions, each from its effective time, and the rules the job deployed
    for days up to `last` has (its window lengths: those of the latest version in force by then)."""
    from credit_platform.rules.fraud_store import RulesStore

    live = [v.in_force() for v in RulesStore(settings).history()]
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), UTC)
    in_force = [r for t, _, r in live if t < end]
    return live, in_force[-1] if in_force else DEFAULT_FRAUD_RULES


def backtest(settings: Settings, first: date, last: date, proposal: dict[str, object] | None = None,
             warmup_days: int = WARMUP_DAYS, run_id: str | None = None, store_report: bool = True) -> Backtest:
    """Judge the landed days [first, last] under the live rule versions and under `proposal` (RULE.KEY
    -> value, applied over each live version), and report per rule."""
    import polars as pl

    started = time.monotonic()
    proposal = proposal or {}
    run_id = run_id or f"backtest-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    live, deployed = live_versions(settings, last)
    rules_from_settings(proposal)  # every proposed setting known and in bounds, before any work
    proposed = [(t, v, rules_from_settings(proposal, r)) for t, v, r in live] or [
        (datetime(1970, 1, 1, tzinfo=UTC), 0, rules_from_settings(proposal))]
    frames = landed_events(settings, first - timedelta(days=warmup_days), last)
    apps = _as_lines(frames["applications"], STREAM_TABLES["applications"][1])
    txs = _as_lines(frames["transactions"], STREAM_TABLES["transactions"][1])
    with tempfile.TemporaryDirectory(prefix="backtest-") as work:  # both in one job, one read of the events
        rows = run_rule_rows(Path(work), apps, txs, {"": (deployed, live),
                                                     "_proposed": (rules_from_settings(proposal, deployed), proposed)})
    live_alerts, proposed_alerts = ({row[0] for row in rows[name]} for name in ("", "_proposed"))

    labels = _labels(frames, first, last)
    in_range = set(labels["event_id"].to_list())
    fraud = set(labels.filter(pl.col("is_fraud"))["event_id"].to_list())
    outcomes = []
    for rule in RULES:
        def of_rule(alerts: set[str], rule: str = rule) -> set[str]:
            return {a.split(":", 1)[1] for a in alerts if a.split(":", 1)[0] == rule} & in_range

        live_ids, proposed_ids = of_rule(live_alerts), of_rule(proposed_alerts)
        own = ((pl.col("event_type") == "transaction") & pl.col("is_fraud") if rule in LEARNED_RULES
               else pl.col("fraud_pattern") == rule)
        pattern = set(labels.filter(own)["event_id"].to_list())
        outcomes.append(RuleOutcome(rule, len(live_ids), len(proposed_ids), len(proposed_ids & fraud), len(pattern),
                                    len(proposed_ids & pattern)))
    report = Backtest(run_id, first, last, {k: str(v) for k, v in proposal.items()}, labels.height, outcomes,
                      time.monotonic() - started)
    if store_report:
        report = _store(settings, report)
    return report


def _labels(frames: dict[str, pl.DataFrame], first: date, last: date) -> pl.DataFrame:
    """event_id, event_type, is_fraud, fraud_pattern of the valid events dated in the range (the ground truth a
    bank learns later: only for scoring the rules, never an input to them)."""
    import polars as pl

    parts = []
    for table, id_column in (("applications", "application_id"), ("transactions", "transaction_id")):
        frame = frames[table]
        if frame.is_empty():
            continue
        day = pl.col("timestamp").dt.convert_time_zone("UTC").dt.date()
        parts.append(frame.filter(pl.col("_error").is_null() & day.is_between(first, last)).select(
            pl.col(id_column).alias("event_id"), pl.lit(table[:-1]).alias("event_type"),
            pl.col("is_fraud").fill_null(False),
            pl.col("fraud_pattern").cast(pl.String)))
    return pl.concat(parts) if parts else pl.DataFrame(schema={"event_id": pl.String, "event_type": pl.String,
                                                               "is_fraud": pl.Boolean, "fraud_pattern": pl.String})


def _store(settings: Settings, report: Backtest) -> Backtest:
    import psycopg

    directory = settings.home / "backtests"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{report.run_id}.json"
    body = {**{k: v for k, v in dataclasses.asdict(report).items() if k != "report_path"},
            "outcomes": [{**dataclasses.asdict(o), "precision": o.precision, "recall": o.recall, "change": o.change}
                         for o in report.outcomes]}
    path.write_text(json.dumps(body, indent=1, default=str))
    with psycopg.connect(settings.postgres_uri()) as conn:
        conn.execute("DELETE FROM public.fraud_rule_backtests WHERE run_id = %s", (report.run_id,))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO public.fraud_rule_backtests (run_id, date_from, date_to, proposal, events, rule, "
                "live_alerts, proposed_alerts, proposed_fraud_alerts, pattern_events, pattern_caught, precision, "
                "recall, seconds) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [(report.run_id, report.first, report.last, json.dumps(report.settings), report.events, o.rule,
                  o.live_alerts, o.proposed_alerts, o.proposed_fraud_alerts, o.pattern_events, o.pattern_caught,
                  o.precision, o.recall, report.seconds) for o in report.outcomes])
    return dataclasses.replace(report, report_path=path)


# ---- the nightly replay --------------------------------------------------------------------------
@dataclass(frozen=True)
class Replay:
    day: date
    events: int
    alerts: int  # the day's alerts the rules raise on the landed events
    added: int  # ... of which the stream had not written (late events, or windows still open)
    stream_watermark: datetime | None  # how far the live job's event time had got (None: not running)
    seconds: float

    @property
    def stream_passed_day(self) -> bool:
        end = datetime.combine(self.day + timedelta(days=1), datetime.min.time(), UTC)
        return self.stream_watermark is not None and self.stream_watermark >= end

    def summary(self) -> dict[str, object]:
        return {"business_date": str(self.day), "events": self.events, "alerts": self.alerts,
                "added_by_replay": self.added, "from_stream": self.alerts - self.added,
                "stream_watermark": self.stream_watermark.isoformat() if self.stream_watermark else None,
                "stream_passed_end_of_day": self.stream_passed_day, "seconds": round(self.seconds, 1)}


def replay_day(settings: Settings, day: date, warmup_days: int = WARMUP_DAYS,
               collection: str | None = None) -> Replay:
    """Make the day's alerts complete before the nightly decision uses them: the stream's rule SQL
    over the landed day (and `warmup_days` before it) under the live rule versions, and every alert
    on an event of the day that MongoDB does not hold yet written as the stream would have written
    it (same id, `detected_by: replay`). Idempotent: a rerun finds them all there and adds nothing,
    so a rerun of the nightly job never changes a decision. The stream still raises them live when
    it can; this covers late events, past-dated replays and windows an idle stream has not closed."""
    from pymongo import MongoClient

    from credit_platform.contracts.names import FRAUD_ALERTS_COLLECTION, MONGO_DB
    from credit_platform.rules.fraud_store import RulesStore
    from credit_platform.stream import fraud_job
    from credit_platform.stream.alerts import alert_document, insert_if_absent

    started = time.monotonic()
    watermark = fraud_job.event_time(settings)
    live = [v.in_force() for v in RulesStore(settings).history()]
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
    in_force = [r for t, _, r in live if t < end]
    deployed = in_force[-1] if in_force else DEFAULT_FRAUD_RULES
    frames = landed_events(settings, day - timedelta(days=warmup_days), day)
    apps = _as_lines(frames["applications"], STREAM_TABLES["applications"][1])
    txs = _as_lines(frames["transactions"], STREAM_TABLES["transactions"][1])
    with tempfile.TemporaryDirectory(prefix="replay-") as work:
        rows = run_rule_rows(Path(work), apps, txs, {"": (deployed, live)})[""]
    detected_at = datetime.now(UTC)
    docs: dict[str, dict] = {}
    for alert_id, rule, severity, reason, user_id, event_type, event_id, event_time, version in sorted(
            rows, key=lambda r: (r[0], r[-1])):
        at = event_time.astimezone(UTC) if event_time.tzinfo else event_time.replace(tzinfo=UTC)
        if at.date() == day and alert_id not in docs:
            docs[alert_id] = alert_document(alert_id, rule, severity, reason, user_id, event_type, event_id, at,
                                            version, detected_at, "replay")
    with MongoClient(settings.mongo_uri, serverSelectionTimeoutMS=10_000) as client:
        alerts = client[MONGO_DB][collection or FRAUD_ALERTS_COLLECTION]
        added = insert_if_absent(alerts, list(docs.values()))
    events = _labels(frames, day, day).height
    return Replay(day, events, len(docs), added, watermark, time.monotonic() - started)
