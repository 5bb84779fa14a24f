"""The fraud rules, stated once, each with its engine twins beside it.

- Settings: `FraudRules`, every rule's on/off switch and thresholds, and `SETTINGS`, what each is
  called (`RULE.KEY`), its SQL type, its bounds and whether the running job takes a change live
  (from the version's `effective_from` event time on) or only on a redeploy (a window's length:
  SQL fixes it when the job is planned). The governed versions live in MongoDB `policies` and
  reach the stream through the compacted topic `fraud_rules` (`rules/fraud_store.py`).
- Flink SQL twin: `rules_ddl` declares the rules' versions as an event-time versioned table and
  joins every event with the version in force at its event time (`applications_ruled`,
  `transactions_ruled`); `rule_queries` renders one SELECT per rule over those views. The fraud job
  runs it over Kafka, the parity test over bounded files of the same rows (`source_ddl` declares
  the event tables, holding only the records that keep the event contract).
- Whole bursts: when a windowed rule fires on an event, every event of the same customer (or
  device) inside that window is alerted, each with its own id, not only the events from the
  threshold on.
- Python reference: `is_large_loan_low_score` (one application) and `reference_alerts` (every
  rule over whole frames, with polars and numpy, under a list of versions), which the parity test
  and the fraud job's integration tests compare the job's alerts with, alert id for alert id.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from credit_platform.contracts.events import EVENT_TIME_MAX_AHEAD, contract_json
from credit_platform.contracts.names import APPLICATIONS_TOPIC, TRANSACTIONS_TOPIC
from credit_platform.rules.fraud_features import FEATURE_NAMES, FEATURES
from credit_platform.rules.geo import haversine_km
from credit_platform.rules.geo import haversine_sql as _haversine_sql

if TYPE_CHECKING:
    import polars as pl


@dataclass(frozen=True)
class _WrittenRules:
    # the seed rule: a large loan asked for with a poor bureau score
    large_loan_low_score_enabled: bool = True
    large_loan_amount: Decimal = Decimal("15000")  # loan amount strictly greater than this
    low_credit_score: int = 450  # credit score strictly less than this
    # application velocity: this many applications by one user within the window
    application_velocity_enabled: bool = True
    velocity_window_minutes: int = 10
    velocity_min_applications: int = 4
    # one device used by this many distinct users within the window, unless they are few enough to
    # be a household: all of one home city and no more than `device_household_max`
    shared_device_enabled: bool = True
    device_window_minutes: int = 60
    device_min_users: int = 4
    device_household_max: int = 4
    # impossible travel: consecutive card transactions farther apart than a plane could fly
    impossible_travel_enabled: bool = True
    travel_max_speed_kmh: float = 900.0
    travel_min_distance_km: float = 500.0
    # amount spike: this many times the user's average of their recent transactions
    amount_spike_enabled: bool = True
    spike_factor: float = 14.0  # chosen by `bench/rule_sweep.py` (README: Detection quality)
    spike_min_amount: float = 500.0
    spike_history: int = 5
    # card testing: a run of tiny purchases on one card (a stolen card tried out), then the real one
    card_testing_enabled: bool = True
    testing_window_minutes: int = 30
    testing_max_amount: float = 2.0  # a purchase of at most this counts as a test
    testing_min_small: int = 3
    # account takeover: an established customer's purchase on another device, in another city than
    # their previous one, far above their average; then every purchase on that device for a while
    account_takeover_enabled: bool = True
    takeover_factor: float = 3.0
    takeover_window_minutes: int = 120
    # compromised merchant: many cards, each with a purchase unusual for it, at one merchant
    compromised_merchant_enabled: bool = True
    merchant_window_minutes: int = 1440
    merchant_unusual_factor: float = 3.0
    merchant_min_cards: int = 5
    # the learned score (model/fraud_score.py), off until a model is published: which model, the
    # score from which a purchase is alerted, and its intercept; its coefficients follow (below)
    fraud_score_enabled: bool = False
    fraud_score_model: str = ""
    fraud_score_features: str = ""  # the feature definition it was trained on (fraud_features.features_version)
    fraud_score_threshold: float = 1.0
    fraud_score_intercept: float = 0.0

    def windows(self) -> dict[str, object]:
        """The settings only a redeploy changes (a window's length is fixed when the job is planned)."""
        return {s.field: getattr(self, s.field) for s in SETTINGS if not s.live}


# The score's coefficients, three per feature (rules.fraud_features.FEATURE_NAMES), as settings like
# the thresholds: generated, so a feature added there is a setting here.
COEFFICIENTS = (("weight", 0.0, -1000.0, 1000.0, "weight of"), ("mean", 0.0, -1e6, 1e6, "training mean of"),
                ("scale", 1.0, 1e-9, 1e6, "training standard deviation of"))
FraudRules = dataclasses.make_dataclass(
    "FraudRules", [(f"fraud_score_{kind}_{name}", float, dataclasses.field(default=default))
                   for name in FEATURE_NAMES for kind, default, *_ in COEFFICIENTS],
    bases=(_WrittenRules,), frozen=True, namespace={"__module__": __name__})
FraudRules.__doc__ = "Every fraud rule's switch and settings, and the learned score's model (`SETTINGS`)."

DEFAULT_FRAUD_RULES = FraudRules()

RULES = ("large_loan_low_score", "application_velocity", "shared_device", "impossible_travel", "amount_spike",
         "card_testing", "account_takeover", "compromised_merchant", "fraud_score")
# Rules not written for one pattern: their recall counts every fraudulent event of their kind.
LEARNED_RULES = ("fraud_score",)
RULE_SET = "fraud"  # the key of the rules' versioned table (one set of rules, versioned as a whole)


@dataclass(frozen=True)
class Setting:
    """One setting of one rule: `RULE.KEY` to people, `field` of FraudRules and column of the rules table."""

    rule: str
    key: str
    field: str
    sql_type: str
    live: bool  # True: the running job applies a change from its effective time; False: on redeploy
    minimum: float | None = None
    maximum: float | None = None
    meaning: str = ""
    coefficient: bool = False  # one of the learned score's, published with its model (`rules show` folds them)

    @property
    def name(self) -> str:
        return f"{self.rule}.{self.key}"

    def parse(self, raw: object) -> object:
        """The value of this setting from text or a document, checked against its type and bounds."""
        if self.sql_type == "STRING":
            text = str(raw).strip()
            if not re.fullmatch(r"[A-Za-z0-9._-]{0,100}", text):
                raise ValueError(f"{self.name}: {raw!r} is not a name (letters, digits, '.', '_', '-'; at most 100)")
            return text
        if self.sql_type == "BOOLEAN":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text not in ("true", "false", "on", "off", "1", "0", "yes", "no"):
                raise ValueError(f"{self.name}: {raw!r} is not true or false")
            return text in ("true", "on", "1", "yes")
        try:
            if isinstance(raw, bool):
                raise ValueError
            number = Decimal(str(raw).strip())
        except (InvalidOperation, ValueError):
            raise ValueError(f"{self.name}: {raw!r} is not a number") from None
        if not number.is_finite():
            raise ValueError(f"{self.name}: {raw!r} is not a finite number")
        if (self.minimum is not None and number < Decimal(str(self.minimum))) or (
                self.maximum is not None and number > Decimal(str(self.maximum))):
            raise ValueError(f"{self.name}: {raw} is outside {self.minimum}..{self.maximum}")
        if self.sql_type == "INT":
            if number != number.to_integral_value():
                raise ValueError(f"{self.name}: {raw} is not a whole number")
            return int(number)
        if self.sql_type.startswith("DECIMAL"):
            if number != number.quantize(Decimal("0.01")):
                raise ValueError(f"{self.name}: {raw} has more than 2 decimals")
            return number.quantize(Decimal("0.01"))
        return float(number)


SETTINGS = (
    Setting("large_loan_low_score", "enabled", "large_loan_low_score_enabled", "BOOLEAN", True,
            meaning="the rule raises alerts"),
    Setting("large_loan_low_score", "loan_amount_above", "large_loan_amount", "DECIMAL(14, 2)", True, 0, 10_000_000,
            "alert when the loan amount is strictly greater than this ..."),
    Setting("large_loan_low_score", "credit_score_below", "low_credit_score", "INT", True, 300, 851,
            "... and the bureau score strictly less than this"),
    Setting("application_velocity", "enabled", "application_velocity_enabled", "BOOLEAN", True,
            meaning="the rule raises alerts"),
    Setting("application_velocity", "window_minutes", "velocity_window_minutes", "INT", False, 1, 1440,
            "how far back applications by one customer are counted"),
    Setting("application_velocity", "min_applications", "velocity_min_applications", "INT", True, 2, 1000,
            "alert (the whole burst) once a customer has this many applications in the window"),
    Setting("shared_device", "enabled", "shared_device_enabled", "BOOLEAN", True, meaning="the rule raises alerts"),
    Setting("shared_device", "window_minutes", "device_window_minutes", "INT", False, 1, 1440,
            "how far back the customers on one device are counted"),
    Setting("shared_device", "min_users", "device_min_users", "INT", True, 2, 1000,
            "alert (every application of the burst) once this many different customers used one device ..."),
    Setting("shared_device", "household_max", "device_household_max", "INT", True, 0, 1000,
            "... unless they all give one home city and are no more than this many: a household sharing a "
            "device (0: no such exception)"),
    Setting("impossible_travel", "enabled", "impossible_travel_enabled", "BOOLEAN", True,
            meaning="the rule raises alerts"),
    Setting("impossible_travel", "max_speed_kmh", "travel_max_speed_kmh", "DOUBLE", True, 1, 20_000,
            "alert when two consecutive purchases imply a speed above this ..."),
    Setting("impossible_travel", "min_distance_km", "travel_min_distance_km", "DOUBLE", True, 0, 20_100,
            "... and are at least this far apart"),
    Setting("amount_spike", "enabled", "amount_spike_enabled", "BOOLEAN", True, meaning="the rule raises alerts"),
    Setting("amount_spike", "factor", "spike_factor", "DOUBLE", True, 1, 1000,
            "alert when a purchase is at least this many times the average of the customer's previous ones ..."),
    Setting("amount_spike", "min_amount", "spike_min_amount", "DOUBLE", True, 0, 10_000_000,
            "... and at least this amount"),
    Setting("amount_spike", "history", "spike_history", "INT", False, 1, 100,
            "how many previous purchases the average is over (also for account_takeover and compromised_merchant)"),
    Setting("card_testing", "enabled", "card_testing_enabled", "BOOLEAN", True, meaning="the rule raises alerts"),
    Setting("card_testing", "window_minutes", "testing_window_minutes", "INT", False, 1, 1440,
            "how far back one card's small purchases are counted"),
    Setting("card_testing", "max_amount", "testing_max_amount", "DOUBLE", True, 0, 1000,
            "a purchase of at most this amount counts as a test"),
    Setting("card_testing", "min_small", "testing_min_small", "INT", True, 2, 1000,
            "alert (every test and each purchase after them) once a card has this many tests in the window"),
    Setting("account_takeover", "enabled", "account_takeover_enabled", "BOOLEAN", True,
            meaning="the rule raises alerts"),
    Setting("account_takeover", "factor", "takeover_factor", "DOUBLE", True, 1, 1000,
            "alert a purchase on another device, in another city than the customer's previous one, of at least "
            "this many times the average of their previous purchases ..."),
    Setting("account_takeover", "window_minutes", "takeover_window_minutes", "INT", False, 1, 10080,
            "... and every purchase on that device for this long after it"),
    Setting("compromised_merchant", "enabled", "compromised_merchant_enabled", "BOOLEAN", True,
            meaning="the rule raises alerts"),
    Setting("compromised_merchant", "window_minutes", "merchant_window_minutes", "INT", False, 1, 10080,
            "how far back the unusual purchases at one merchant are counted"),
    Setting("compromised_merchant", "unusual_factor", "merchant_unusual_factor", "DOUBLE", True, 1, 1000,
            "a purchase of at least this many times the average of the card's previous ones is unusual ..."),
    Setting("compromised_merchant", "min_cards", "merchant_min_cards", "INT", True, 2, 100_000,
            "... alert (every unusual purchase there in the window) once this many cards made one at the merchant"),
    Setting("fraud_score", "enabled", "fraud_score_enabled", "BOOLEAN", True,
            meaning="the learned score raises alerts (needs a model: publish one with `train-fraud --publish`)"),
    Setting("fraud_score", "model", "fraud_score_model", "STRING", True,
            meaning="the version of the model (table fraud_models) whose coefficients these are"),
    Setting("fraud_score", "features", "fraud_score_features", "STRING", True,
            meaning="the definition of the features the model was trained on: the job scores only with a model "
                    "of the definition it computes (a redeploy that changes them leaves an older model unused)"),
    Setting("fraud_score", "threshold", "fraud_score_threshold", "DOUBLE", True, 0, 1,
            "alert a purchase whose score is at least this"),
    Setting("fraud_score", "intercept", "fraud_score_intercept", "DOUBLE", True, -1000, 1000,
            "the model's intercept (log-odds)", coefficient=True),
    *(Setting("fraud_score", f"{kind}_{name}", f"fraud_score_{kind}_{name}", "DOUBLE", True, low, high,
              f"the model's {what} {words}", coefficient=True)
      for name, words in FEATURES for kind, _, low, high, what in COEFFICIENTS),
)
SETTING_BY_NAME = {s.name: s for s in SETTINGS}
assert [s.field for s in SETTINGS] == [f.name for f in dataclasses.fields(FraudRules)], "one setting per field"


def rules_from_settings(values: dict[str, object], base: FraudRules = DEFAULT_FRAUD_RULES) -> FraudRules:
    """`base` with some settings changed (`RULE.KEY` -> value, text or typed), each checked."""
    changes = {}
    for name, raw in values.items():
        setting = SETTING_BY_NAME.get(name)
        if setting is None:
            known = ", ".join(s.name for s in SETTINGS if not s.coefficient)
            raise ValueError(f"unknown setting {name!r}; known: {known}, and the learned score's coefficients "
                             "fraud_score.intercept and fraud_score.weight_/mean_/scale_<feature>")
        changes[setting.field] = setting.parse(raw)
    rules = dataclasses.replace(base, **changes)
    if rules.fraud_score_enabled and not rules.fraud_score_model:
        raise ValueError("fraud_score.enabled needs a model: publish one (`credit-platform rules set --model "
                         "VERSION` or `train-fraud --publish`), which sets fraud_score.model and its coefficients")
    return rules


def rules_to_document(rules: FraudRules) -> dict[str, dict[str, object]]:
    """{rule: {key: value}}, as the governed document and `rules show` hold them."""
    doc: dict[str, dict[str, object]] = {r: {} for r in RULES}
    for s in SETTINGS:
        value = getattr(rules, s.field)
        doc[s.rule][s.key] = str(value) if isinstance(value, Decimal) else value
    return doc


def rules_from_document(doc: dict[str, dict[str, object]]) -> FraudRules:
    """The inverse of `rules_to_document` (every setting checked; a missing one keeps its default)."""
    unknown = set(doc) - set(RULES)
    if unknown:
        raise ValueError(f"unknown rules {sorted(unknown)}; known: {list(RULES)}")
    return rules_from_settings({f"{rule}.{key}": v for rule, keys in doc.items() for key, v in keys.items()})


def rules_record(rules: FraudRules, version: int, effective_from: datetime) -> dict[str, object]:
    """One version as a row of the stream's rules table (the value published to `fraud_rules`)."""
    row: dict[str, object] = {"rule_set": RULE_SET, "version": version,
                              "effective_from": iso_millis(effective_from)}
    for s in SETTINGS:
        value = getattr(rules, s.field)
        row[s.field] = float(value) if isinstance(value, Decimal) else value
    return row


def iso_millis(t: datetime) -> str:
    t = t.astimezone(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


# What each rule reads: the columns of the stream's source tables (never the labels).
APPLICATION_COLUMNS = (("application_id", "STRING"), ("user_id", "STRING"), ("credit_score", "INT"),
                       ("loan_amount", "DECIMAL(14, 2)"), ("timestamp", "TIMESTAMP_LTZ(3)"),
                       ("device_id", "STRING"), ("city", "STRING"))
TRANSACTION_COLUMNS = (("transaction_id", "STRING"), ("user_id", "STRING"), ("amount", "DECIMAL(14, 2)"),
                       ("timestamp", "TIMESTAMP_LTZ(3)"), ("location", "STRING"), ("latitude", "DOUBLE"),
                       ("longitude", "DOUBLE"), ("device_id", "STRING"), ("merchant", "STRING"))
ALERT_COLUMNS = "alert_id, rule, severity, reason, user_id, event_type, event_id, event_time, rule_version"
# The stream's tables: what each reads, and the contract its records are checked against.
STREAM_TABLES = {"applications": (APPLICATIONS_TOPIC, APPLICATION_COLUMNS),
                 "transactions": (TRANSACTIONS_TOPIC, TRANSACTION_COLUMNS)}
CONTRACT_FORMAT = "contract-json"  # deps/flink: Flink's JSON reader plus the contract, dropping nothing


def columns_ddl(columns: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"`{name}` {sql_type}" for name, sql_type in columns)


def event_time_ddl(out_of_orderness_ms: int) -> str:
    """The tables' event time (`event_time`, what every rule orders by) and its watermark: the record's
    `timestamp`, except that one with none, or dated further ahead of the clock than the contract
    allows, counts as the epoch. Late for every window, such a record can never carry the watermark
    (and with it every windowed rule) into the future; the seed rule, a filter, still judges it."""
    ahead = int(EVENT_TIME_MAX_AHEAD.total_seconds())
    return (f"event_time AS CASE WHEN `timestamp` IS NULL OR `timestamp` > TIMESTAMPADD(SECOND, {ahead}, "
            "CURRENT_TIMESTAMP) THEN TO_TIMESTAMP_LTZ(0, 3) ELSE `timestamp` END, "
            f"WATERMARK FOR event_time AS event_time - INTERVAL '{out_of_orderness_ms / 1000:.3f}' SECOND")


# Flink's own JSON format, which skips what it cannot parse without a trace: for measuring what the
# contract check costs (`jobs/fraud_detection.py --source-format json`), never for detection.
PLAIN_JSON_FORMAT = ("'format' = 'json', 'json.timestamp-format.standard' = 'ISO-8601', "
                     "'json.fail-on-missing-field' = 'false', 'json.ignore-parse-errors' = 'true'")


def source_ddl(options: dict[str, str], out_of_orderness_ms: int, metadata: str = "",
               plain_json: bool = False) -> list[str]:
    """DDL of the stream's tables. `<table>_in` reads every record with the contract-json format
    (`options[table]`: connector and location); a record it cannot read, or that breaks the contract,
    keeps `_error` (what is wrong) and `_raw` (the payload). The view `<table>` holds the others.
    `metadata`: extra connector metadata columns (e.g. Kafka partition and offset)."""
    ddl = []
    for table, (topic, columns) in STREAM_TABLES.items():
        rules = contract_json(topic, (name for name, _ in columns)).replace("'", "''")
        source_format = PLAIN_JSON_FORMAT if plain_json else (
            f"'format' = '{CONTRACT_FORMAT}', '{CONTRACT_FORMAT}.rules' = '{rules}'")
        ddl.append(f"""CREATE TABLE {table}_in (
            {columns_ddl(columns)}, `_error` STRING, `_raw` STRING, {metadata + ", " if metadata else ""}
            {event_time_ddl(out_of_orderness_ms)}
        ) WITH ({options[table]}, {source_format})""")
        ddl.append(f"CREATE TEMPORARY VIEW {table} AS SELECT * FROM {table}_in WHERE `_error` IS NULL")
    return ddl


def rules_ddl(options: str, rules: FraudRules = DEFAULT_FRAUD_RULES, variant: str = "") -> list[str]:
    """DDL of the rules' versions and of the events joined with the version in force at their event time.

    `fraud_rules_log` reads every published version (`options`: connector and location; JSON rows of
    `rules_record`); the view `fraud_rules` keeps the latest row per version's effective time, which
    makes it an event-time versioned table. `<table>_ruled` is each event table with every setting of
    the version in force at the event's time (LEFT JOIN ... FOR SYSTEM_TIME AS OF), and `rule_version`.
    An event no version covers (an empty or unreadable topic) is judged by `rules`, the settings the
    job was deployed with, as version 0: nothing published can switch detection off by its absence.
    A version row whose time or number is missing counts as the epoch and is left out, so it can
    neither stop the job nor carry the rules' watermark. `variant`: a suffix of every name declared,
    so one job can judge the same events under two sets of versions (a backtest's live and proposed)."""
    fields = ", ".join(f"`{s.field}` {s.sql_type}" for s in SETTINGS)
    ddl = [f"""CREATE TABLE fraud_rules_log{variant} (
            rule_set STRING, version INT, effective_from TIMESTAMP_LTZ(3), {fields},
            effective_time AS COALESCE(effective_from, TO_TIMESTAMP_LTZ(0, 3)),
            WATERMARK FOR effective_time AS effective_time
        ) WITH ({options}, 'format' = 'json', 'json.timestamp-format.standard' = 'ISO-8601',
                'json.fail-on-missing-field' = 'false', 'json.ignore-parse-errors' = 'true')""",
           f"""CREATE TEMPORARY VIEW fraud_rules{variant} AS
            SELECT rule_set, version, effective_time, {", ".join(f"`{s.field}`" for s in SETTINGS)}
            FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY rule_set ORDER BY effective_time DESC) AS rn
                  FROM fraud_rules_log{variant} WHERE version IS NOT NULL AND effective_from IS NOT NULL)
            WHERE rn = 1"""]
    for table, (_, columns) in STREAM_TABLES.items():
        settings = ", ".join(f"COALESCE(r.`{s.field}`, {_sql_literal(getattr(rules, s.field), s.sql_type)}) "
                             f"AS `{s.field}`" for s in SETTINGS)
        event_columns = ", ".join(f"e.`{name}`" for name, _ in columns)
        # The join key is the one rule set; derived from a column so the planner does not fold it away.
        ddl.append(f"""CREATE TEMPORARY VIEW {table}_ruled{variant} AS
            SELECT {event_columns}, e.event_time, COALESCE(r.version, 0) AS rule_version, {settings}
            FROM (SELECT *, CONCAT('{RULE_SET}', SUBSTR(user_id, 1, 0)) AS rule_set FROM {table}) AS e
            LEFT JOIN fraud_rules{variant} FOR SYSTEM_TIME AS OF e.event_time AS r ON e.rule_set = r.rule_set""")
    return ddl


def _text_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sql_literal(value: object, sql_type: str) -> str:
    if sql_type == "BOOLEAN":
        return "TRUE" if value else "FALSE"
    if sql_type == "DOUBLE":
        return f"CAST({float(value)!r} AS DOUBLE)"
    if sql_type == "STRING":
        return f"'{value}'"  # a checked name (Setting.parse): no quote in it
    return f"CAST({value} AS {sql_type})"


# ---- the seed rule ----------------------------------------------------------------------------
def is_large_loan_low_score(loan_amount: Decimal | float, credit_score: int,
                            rules: FraudRules = DEFAULT_FRAUD_RULES) -> bool:
    """The seed's fraud rule (Python reference): loan_amount > 15000 and credit_score < 450."""
    return (rules.large_loan_low_score_enabled and Decimal(str(loan_amount)) > rules.large_loan_amount
            and credit_score < rules.low_credit_score)


# ---- Flink SQL twins ------------------------------------------------------------------------------
def alert_select(rule: str, severity: str, reason: str, event_type: str, event_id: str, event: str = "",
                 version: str = "rule_version") -> str:
    """ALERT_COLUMNS of one rule. `event`: the alias of the alerted event's row (none: the only row);
    `version`: the rule version that raised it."""
    e = f"{event}." if event else ""
    return (f"CONCAT('{rule}:', {e}{event_id}) AS alert_id, '{rule}' AS rule, '{severity}' AS severity, "
            f"{reason} AS reason, {e}user_id, '{event_type}' AS event_type, {e}{event_id} AS event_id, "
            f"{e}event_time, {version} AS rule_version")


def _interval(minutes: int) -> str:
    """A window's length as Flink SQL (a MINUTE literal holds two digits only)."""
    days, rest = divmod(minutes, 1440)
    return f"INTERVAL '{days} {rest // 60:02d}:{rest % 60:02d}:00' DAY TO SECOND"


def live_settings(*rules: str) -> str:
    """The columns of these rules' live settings (the thresholds and switches each event carries)."""
    return ", ".join(s.field for s in SETTINGS if s.live and s.rule in rules)


def _judged(table: str, columns: str, rules: tuple[str, ...], variant: str) -> str:
    """`<table>_ruled` narrowed to the event columns a rule reads and its own live settings. A window
    keeps every row it holds whole, so what it is fed is its state: all 30-odd settings of every
    version on each stored row made the windows' state several times the events'."""
    return f"(SELECT {columns}, event_time, rule_version, {live_settings(*rules)} FROM {table}_ruled{variant})"


def _burst(rule: str, severity: str, count: str, key: str, minutes: int, threshold: str, says: str,
           variant: str, table: str = "applications", member: str = "", carry: str = "", reads: str = "",
           also: str = "", unless: str = "") -> str:
    """Alert every event of a burst: once `count` over the `key`'s last `minutes` reaches the version's
    `threshold` at an event (the trigger), each event of that key inside the trigger's window, the
    trigger and those before it, is alerted (an interval join back to the events). `member`: a further
    condition on the alerted event `m` (against the trigger `t`); `carry`: further columns of `t`;
    `reads`: the further event columns `count` reads; `also`: further aggregates over the same window,
    written `, AGG(...) OVER w AS name` (`w` is replaced by the window, so the planner computes them in
    the one OVER operator); `unless`: a condition on them and `n` that keeps a trigger from firing."""
    event_type, event_id = table[:-1], f"{table[:-1]}_id"
    window = f"PARTITION BY {key} ORDER BY event_time RANGE BETWEEN {_interval(minutes)} PRECEDING AND CURRENT ROW"
    also = also.replace("OVER w", f"OVER ({window})")
    return f"""
            SELECT {alert_select(rule, severity, f"CONCAT('one of ', CAST(t.n AS STRING), {says} {minutes} minutes "
                                                 "(threshold ', CAST(t.threshold AS STRING), ')')",
                                 event_type, event_id, event="m", version="t.rule_version")}
            FROM (SELECT {event_id}, {key}, event_time, rule_version, {threshold} AS threshold, n{carry}
                  FROM (SELECT *, {count} OVER ({window}) AS n{also}
                        FROM {_judged(table, f'{event_id}, {key}{reads}', (rule,), variant)})
                  WHERE {rule}_enabled AND n >= {threshold}{f" AND NOT ({unless})" if unless else ""}) AS t
            JOIN {table} AS m ON m.{key} = t.{key}
             AND m.event_time BETWEEN t.event_time - {_interval(minutes)} AND t.event_time{member}"""


HISTORY_RULES = ("impossible_travel", "amount_spike", "account_takeover", "compromised_merchant")


def _with_history(history: int, variant: str) -> str:
    """Each purchase with what its card's previous one was (`prev_lat`, `prev_lon`, `prev_ts`,
    `prev_location`, `prev_device`) and the average of the card's previous `history` purchases
    (`prev_avg`, null until there are that many), for the four rules that read them. All from one LAG
    window per card, whose state is those few values and not the purchases themselves (a ROWS window
    kept its last `history` + 1 rows, whole, for every card ever seen). The same text in every rule
    that reads it, so the planner computes it once for all of them."""
    ks = range(1, history + 1)
    lags = ", ".join(f"LAG(amount, {k}) OVER v AS amount_{k}" for k in ks)
    total = " + ".join(f"amount_{k}" for k in ks)  # the exact sum, as the previous purchases' SUM would be
    events = _judged("transactions", "transaction_id, user_id, amount, location, latitude, longitude, device_id, "
                     "merchant", HISTORY_RULES, variant)
    return f"""(SELECT *, CASE WHEN amount_{history} IS NOT NULL
                            THEN CAST({total} AS DECIMAL(38, 2)) / {history} END AS prev_avg
                FROM (SELECT *, LAG(latitude) OVER v AS prev_lat, LAG(longitude) OVER v AS prev_lon,
                             LAG(event_time) OVER v AS prev_ts, LAG(location) OVER v AS prev_location,
                             LAG(device_id) OVER v AS prev_device, {lags}
                      FROM {events}
                      WINDOW v AS (PARTITION BY user_id ORDER BY event_time)))"""


def _takeover(rules: FraudRules, variant: str) -> str:
    """The trigger: a purchase on another device and in another city than the card's previous one, of
    at least `factor` times its previous average; alerted with it, every purchase of the customer on
    that device in the window after it (the new device's spending spree)."""
    minutes = rules.takeover_window_minutes
    history = _with_history(rules.spike_history, variant)
    return f"""
            SELECT {alert_select("account_takeover", "high",
                                 "CONCAT('on device ', t.device_id, ' in ', t.location, ' (previous purchase: ', "
                                 "t.prev_location, '), ', CAST(CAST(t.amount / t.prev_avg AS INT) AS STRING), "
                                 f"'x the average; or a purchase on that device within {minutes} minutes after')",
                                 "transaction", "transaction_id", event="m", version="t.rule_version")}
            FROM (SELECT * FROM {history}
                  WHERE account_takeover_enabled AND prev_avg IS NOT NULL AND device_id <> prev_device
                    AND location <> prev_location AND amount >= takeover_factor * prev_avg) AS t
            JOIN transactions AS m ON m.user_id = t.user_id AND m.device_id = t.device_id
             AND m.event_time BETWEEN t.event_time AND t.event_time + {_interval(minutes)}"""


def _merchant(rules: FraudRules, variant: str) -> str:
    """Unusual purchases (at least `unusual_factor` times the card's previous average); the trigger: an
    unusual purchase at a merchant where `min_cards` different cards made one within the window;
    alerted, every unusual purchase at that merchant in the window up to the trigger."""
    minutes = rules.merchant_window_minutes
    history = _with_history(rules.spike_history, variant)
    unusual = (f"(SELECT transaction_id, user_id, merchant, event_time, rule_version, compromised_merchant_enabled, "
               f"merchant_min_cards FROM {history} WHERE amount >= merchant_unusual_factor * prev_avg)")
    return f"""
            SELECT {alert_select("compromised_merchant", "high",
                                 "CONCAT('one of ', CAST(t.k AS STRING), ' cards with an unusual purchase at ', "
                                 f"t.merchant, ' within {minutes} minutes (threshold ', "
                                 "CAST(t.merchant_min_cards AS STRING), ')')",
                                 "transaction", "transaction_id", event="m", version="t.rule_version")}
            FROM (SELECT * FROM (SELECT *, COUNT(DISTINCT user_id) OVER (
                                     PARTITION BY merchant ORDER BY event_time
                                     RANGE BETWEEN {_interval(minutes)} PRECEDING AND CURRENT ROW) AS k
                                 FROM {unusual})
                  WHERE compromised_merchant_enabled AND k >= merchant_min_cards) AS t
            JOIN {unusual} AS m ON m.merchant = t.merchant
             AND m.event_time BETWEEN t.event_time - {_interval(minutes)} AND t.event_time"""


def _score(rules: FraudRules, variant: str) -> str:
    """The learned score: every purchase's features (`fraud_features.feature_query`, the SQL training
    sets are built with), joined with the rules version in force at its event time, whose `fraud_score`
    settings are the model (its version, threshold and coefficients), so a published model scores
    from its effective time on, with no restart. A purchase whose score reaches the threshold is
    alerted, saying its score, the model, and the three features that raised it most, in words (the
    largest contributions; on a tie, the feature listed first, as `FraudModel.strongest` orders them)."""
    from credit_platform.rules.fraud_features import contribution_sql, feature_query, features_version, score_sql

    fields = [s for s in SETTINGS if s.rule == "fraud_score"]
    settings = ", ".join(f"COALESCE(r.`{s.field}`, {_sql_literal(getattr(rules, s.field), s.sql_type)}) "
                         f"AS `{s.field}`" for s in fields)
    contributions = [contribution_sql(n, f"fraud_score_weight_{n}", f"fraud_score_mean_{n}", f"fraud_score_scale_{n}")
                     for n in FEATURE_NAMES]
    scored = f"""(SELECT *, {score_sql(contributions, "fraud_score_intercept")} AS score
                  FROM (SELECT f.*, COALESCE(r.version, 0) AS rule_version, {settings}
                        FROM (SELECT *, CONCAT('{RULE_SET}', SUBSTR(user_id, 1, 0)) AS rule_set
                              FROM ({feature_query()})) AS f
                        LEFT JOIN fraud_rules{variant} FOR SYSTEM_TIME AS OF f.event_time AS r
                          ON f.rule_set = r.rule_set))"""
    # Each contribution as a number, in the features' order; `explained` puts the strongest into words
    # where the alert is written (ranking 16 expressions in SQL grows the plan with their square).
    shares = ", ' ', ".join(f"CAST({c} AS STRING)" for c in contributions)
    reason = (f"CONCAT('score ', CAST(ROUND(score, 3) AS STRING), ' (threshold ', "
              f"CAST(ROUND(fraud_score_threshold, 3) AS STRING), ') by model ', fraud_score_model, "
              f"'{CONTRIBUTIONS}', {shares})")
    return f"""
            SELECT {alert_select("fraud_score", "high", reason, "transaction", "transaction_id")}
            FROM {scored} WHERE fraud_score_enabled AND fraud_score_features = '{features_version()}'
                           AND score >= fraud_score_threshold"""


CONTRIBUTIONS = "; contributions "  # how a `fraud_score` alert's SQL hands its contributions to `explained`


_SCORE_HEAD = re.compile(r"score (\S+) \(threshold (\S+)\) by model (\S*)")  # as `_score`'s reason begins
# The fields a `fraud_score` alert carries besides its reason (`score_details`): in MongoDB, the warehouse and bi
SCORE_FIELDS = ("score", "score_threshold", "model_version", "top_features")


def score_details(rule: str, reason: str, k: int = 3) -> dict[str, object]:
    """What a `fraud_score` alert's reason (its SQL's text) says, as fields an analyst filters on:
    `score`, `score_threshold`, `model_version` and `top_features` (the words of the `k` features that
    raised the score most, the largest first, on a tie the feature listed first, as
    `FraudModel.strongest` orders them). Empty for any other rule, or for a reason of another shape
    (never an error where alerts are written)."""
    if rule != "fraud_score" or not reason or CONTRIBUTIONS not in reason:
        return {}
    head, numbers = reason.split(CONTRIBUTIONS, 1)
    said = _SCORE_HEAD.fullmatch(head)
    try:
        values = [float(x) for x in numbers.split()]
        score, threshold = (float(said.group(1)), float(said.group(2))) if said else (None, None)
    except ValueError:  # not what the score's SQL writes: the alert keeps its text, the writer goes on
        return {}
    if said is None or len(values) != len(FEATURES) or not all(map(math.isfinite, (score, threshold, *values))):
        return {}
    order = sorted(range(len(values)), key=lambda i: -values[i])[:k]
    return dict(zip(SCORE_FIELDS, (score, threshold, said.group(3), [FEATURES[i][1] for i in order]), strict=True))


def explained(rule: str, reason: str, k: int = 3, details: dict[str, object] | None = None) -> str:
    """An alert's reason as people read it: a `fraud_score` alert's contributions (its SQL's numbers,
    in the features' order) become the words of the `k` features that raised its score most
    (`score_details`, or `details` when the caller has them already); any other reason stays as it is."""
    details = score_details(rule, reason, k) if details is None else details
    if not details:
        return reason
    return f"{reason.split(CONTRIBUTIONS, 1)[0]}; raised most by " + "; ".join(details["top_features"])


def rule_queries(rules: FraudRules = DEFAULT_FRAUD_RULES, variant: str = "") -> dict[str, str]:
    """One SELECT per rule (Flink SQL over `rules_ddl`'s views), each yielding ALERT_COLUMNS. Thresholds
    and switches come from the version in force at each event's time; `rules` gives the window lengths
    (and, in `rules_ddl`, the settings of events no version covers). `variant`: as in `rules_ddl`."""
    km = _haversine_sql("prev_lat", "prev_lon", "latitude", "longitude")
    return {
        "large_loan_low_score": f"""
            SELECT {alert_select("large_loan_low_score", "high",
                           "CONCAT('loan amount ', CAST(loan_amount AS STRING), ' > ', CAST(large_loan_amount AS "
                           "STRING), ' with credit score ', CAST(credit_score AS STRING), ' < ', "
                           "CAST(low_credit_score AS STRING))", "application", "application_id")}
            FROM applications_ruled{variant}
            WHERE large_loan_low_score_enabled AND loan_amount > large_loan_amount
              AND credit_score < low_credit_score""",
        "application_velocity": _burst(
            "application_velocity", "medium", "COUNT(*)", "user_id", rules.velocity_window_minutes,
            "velocity_min_applications", "' applications by this customer within", variant),
        "shared_device": _burst(
            "shared_device", "high", "COUNT(DISTINCT user_id)", "device_id", rules.device_window_minutes,
            "device_min_users", "' different customers (of ', CAST(t.cities AS STRING), ' home cities) on device ', "
            "t.device_id, ' within", variant, reads=", user_id, city", carry=", cities",
            also=", COUNT(DISTINCT city) OVER w AS cities", unless="cities = 1 AND n <= device_household_max"),
        "impossible_travel": f"""
            SELECT {alert_select("impossible_travel", "high",
                           "CONCAT(CAST(CAST(km AS INT) AS STRING), ' km from ', prev_location, ' to ', location, "
                           "' in ', CAST(seconds AS STRING), ' s')", "transaction", "transaction_id")}
            FROM (SELECT *, {km} AS km, TIMESTAMPDIFF(SECOND, prev_ts, event_time) AS seconds
                  FROM {_with_history(rules.spike_history, variant)})
            WHERE impossible_travel_enabled AND prev_lat IS NOT NULL AND km >= travel_min_distance_km
              AND km * 3600 > travel_max_speed_kmh * GREATEST(seconds, 1)""",
        "amount_spike": f"""
            SELECT {alert_select("amount_spike", "medium",
                           "CONCAT('amount ', CAST(amount AS STRING), ' is ', CAST(CAST(amount / prev_avg AS INT) "
                           f"AS STRING), 'x the average of the previous {rules.spike_history} purchases')",
                           "transaction", "transaction_id")}
            FROM {_with_history(rules.spike_history, variant)}
            WHERE amount_spike_enabled AND prev_avg IS NOT NULL AND amount >= spike_min_amount
              AND amount >= spike_factor * prev_avg""",
        "card_testing": _burst(
            "card_testing", "high", "SUM(CASE WHEN amount <= testing_max_amount THEN 1 ELSE 0 END)", "user_id",
            rules.testing_window_minutes, "testing_min_small", "' purchases of at most ', CAST(t.small AS STRING), "
            "' on this card within", variant, table="transactions", carry=", testing_max_amount AS small",
            member=" AND (m.amount <= t.small OR m.transaction_id = t.transaction_id)", reads=", amount"),
        "account_takeover": _takeover(rules, variant),
        "compromised_merchant": _merchant(rules, variant),
        "fraud_score": _score(rules, variant),
    }


# ---- Python reference over whole frames (polars + numpy) -------------------------------------------
RuleVersion = tuple[datetime, int, FraudRules]  # effective from, version number, settings


def reference_alerts(apps: pl.DataFrame, txs: pl.DataFrame, rules: FraudRules = DEFAULT_FRAUD_RULES,
                     versions: tuple[RuleVersion, ...] | list[RuleVersion] = ()) -> set[str]:
    """The alert ids every rule raises over these events (frames with the generator's columns,
    `timestamp` as ISO-8601 text or a datetime), computed independently of Flink. Each event is
    judged by the version in force at its time (the latest whose effective time is not after it;
    `rules` where none is); `rules` gives the window lengths, as the deployed job does."""
    import numpy as np
    import polars as pl

    table = [(datetime(1, 1, 1), 0, rules)] + sorted(
        ((t.astimezone(UTC).replace(tzinfo=None), v, r) for t, v, r in versions), key=lambda x: x[0])
    settings = pl.DataFrame(
        {"effective": [t for t, _, _ in table], "rule_version": [v for _, v, _ in table],
         **{s.field: [float(getattr(r, s.field)) if isinstance(getattr(r, s.field), Decimal)
                      else getattr(r, s.field) for _, _, r in table] for s in SETTINGS}},
    ).with_columns(pl.col("effective").cast(pl.Datetime("ms")))

    def ruled(frame: pl.DataFrame) -> pl.DataFrame:
        ts = pl.col("timestamp")
        if frame.schema["timestamp"] == pl.String:
            ts = ts.str.to_datetime("%Y-%m-%dT%H:%M:%S%.3fZ")
        frame = frame.with_columns(ts.cast(pl.Datetime("ms")).alias("ts")).sort("ts")
        return frame.join_asof(settings, left_on="ts", right_on="effective", strategy="backward")

    alerts: set[str] = set()
    apps = ruled(apps)
    seed = apps.filter(pl.col("large_loan_low_score_enabled") & (pl.col("loan_amount") > pl.col("large_loan_amount"))
                       & (pl.col("credit_score") < pl.col("low_credit_score")))
    alerts |= {f"large_loan_low_score:{i}" for i in seed["application_id"]}

    # rolling windows ending at each event, [t - window, t] inclusive, as Flink's RANGE frame; each
    # trigger alerts every event of its key inside its window
    # (a shared device's customers all of one home city, and few enough, are a household)
    household = (pl.col("cities") == 1) & (pl.col("n") <= pl.col("device_household_max"))
    for rule, by, minutes, value, threshold, unless in (
        ("application_velocity", "user_id", rules.velocity_window_minutes, pl.len(), "velocity_min_applications",
         pl.lit(False)),
        ("shared_device", "device_id", rules.device_window_minutes, pl.col("user_id").n_unique(), "device_min_users",
         household),
    ):
        counts = (apps.rolling("ts", period=f"{minutes}m", closed="both", group_by=by)
                  .agg(value.alias("n"), pl.col("city").n_unique().alias("cities"), pl.col("application_id").last()))
        triggers = (counts.join(apps.select("application_id", f"{rule}_enabled", threshold, "device_household_max"),
                                on="application_id")
                    .filter(pl.col(f"{rule}_enabled") & (pl.col("n") >= pl.col(threshold)) & ~unless)
                    .select(by, pl.col("ts").alias("trigger_ts")))
        start = pl.col("trigger_ts") - pl.duration(minutes=minutes)
        members = apps.select(by, "ts", "application_id").join(triggers, on=by).filter(
            pl.col("ts").is_between(start, pl.col("trigger_ts")))
        alerts |= {f"{rule}:{i}" for i in members["application_id"].unique()}

    txs = ruled(txs)
    prev = txs.with_columns(
        pl.col("latitude").shift().over("user_id").alias("plat"),
        pl.col("longitude").shift().over("user_id").alias("plon"),
        (pl.col("ts") - pl.col("ts").shift().over("user_id")).dt.total_seconds().alias("seconds"),
        pl.col("amount").rolling_sum(rules.spike_history + 1).over("user_id").alias("total"),
        pl.int_range(pl.len()).over("user_id").alias("position"),
    )
    travel = prev.filter(pl.col("plat").is_not_null() & pl.col("impossible_travel_enabled"))
    km = haversine_km(travel["plat"].to_numpy(), travel["plon"].to_numpy(), travel["latitude"].to_numpy(),
                      travel["longitude"].to_numpy())
    fast = (km >= travel["travel_min_distance_km"].to_numpy()) & (
        km * 3600 > travel["travel_max_speed_kmh"].to_numpy() * np.maximum(travel["seconds"].to_numpy(), 1))
    alerts |= {f"impossible_travel:{i}" for i in travel["transaction_id"].to_numpy()[fast]}

    spikes = prev.filter((pl.col("position") >= rules.spike_history) & pl.col("amount_spike_enabled")).with_columns(
        ((pl.col("total") - pl.col("amount")) / rules.spike_history).alias("prev_avg"))
    spikes = spikes.filter((pl.col("amount") >= pl.col("spike_min_amount"))
                           & (pl.col("amount") >= pl.col("spike_factor") * pl.col("prev_avg")))
    alerts |= {f"amount_spike:{i}" for i in spikes["transaction_id"]}

    # card testing: small purchases counted over the window ending at each purchase (each judged small
    # by its own version); a trigger alerts itself and the small purchases of its window
    minutes = rules.testing_window_minutes
    small = txs.with_columns((pl.col("amount") <= pl.col("testing_max_amount")).cast(pl.Int64).alias("small"))
    counts = (small.rolling("ts", period=f"{minutes}m", closed="both", group_by="user_id")
              .agg(pl.col("small").sum().alias("n"), pl.col("transaction_id").last()))
    triggers = (counts.join(txs.select("transaction_id", "card_testing_enabled", "testing_min_small",
                                       "testing_max_amount"), on="transaction_id")
                .filter(pl.col("card_testing_enabled") & (pl.col("n") >= pl.col("testing_min_small")))
                .select("user_id", pl.col("ts").alias("trigger_ts"), pl.col("transaction_id").alias("trigger_id"),
                        pl.col("testing_max_amount").alias("limit")))
    members = txs.select("user_id", "ts", "transaction_id", "amount").join(triggers, on="user_id").filter(
        pl.col("ts").is_between(pl.col("trigger_ts") - pl.duration(minutes=minutes), pl.col("trigger_ts"))
        & ((pl.col("amount") <= pl.col("limit")) | (pl.col("transaction_id") == pl.col("trigger_id"))))
    alerts |= {f"card_testing:{i}" for i in members["transaction_id"].unique()}

    # the card's previous purchase and the average of its previous `spike_history`
    history = prev.with_columns(
        pl.col("device_id").shift().over("user_id").alias("prev_device"),
        pl.col("location").shift().over("user_id").alias("prev_location"),
        pl.when(pl.col("position") >= rules.spike_history)
        .then((pl.col("total") - pl.col("amount")) / rules.spike_history).alias("prev_avg"))

    # account takeover: the trigger and every purchase on its device in the window after it
    minutes = rules.takeover_window_minutes
    triggers = history.filter(
        pl.col("account_takeover_enabled") & pl.col("prev_avg").is_not_null()
        & (pl.col("device_id") != pl.col("prev_device")) & (pl.col("location") != pl.col("prev_location"))
        & (pl.col("amount") >= pl.col("takeover_factor") * pl.col("prev_avg"))
    ).select("user_id", "device_id", pl.col("ts").alias("trigger_ts"))
    members = txs.select("user_id", "device_id", "ts", "transaction_id").join(
        triggers, on=["user_id", "device_id"]).filter(
        pl.col("ts").is_between(pl.col("trigger_ts"), pl.col("trigger_ts") + pl.duration(minutes=minutes)))
    alerts |= {f"account_takeover:{i}" for i in members["transaction_id"].unique()}

    # compromised merchant: distinct cards with an unusual purchase at the merchant, over the window
    minutes = rules.merchant_window_minutes
    unusual = history.filter(pl.col("amount") >= pl.col("merchant_unusual_factor") * pl.col("prev_avg")).sort("ts")
    counts = (unusual.rolling("ts", period=f"{minutes}m", closed="both", group_by="merchant")
              .agg(pl.col("user_id").n_unique().alias("k"), pl.col("transaction_id").last()))
    triggers = (counts.join(unusual.select("transaction_id", "compromised_merchant_enabled", "merchant_min_cards"),
                            on="transaction_id")
                .filter(pl.col("compromised_merchant_enabled") & (pl.col("k") >= pl.col("merchant_min_cards")))
                .select("merchant", pl.col("ts").alias("trigger_ts")))
    members = unusual.select("merchant", "ts", "transaction_id").join(triggers, on="merchant").filter(
        pl.col("ts").is_between(pl.col("trigger_ts") - pl.duration(minutes=minutes), pl.col("trigger_ts")))
    alerts |= {f"compromised_merchant:{i}" for i in members["transaction_id"].unique()}

    # the learned score, with the model of the version in force at each purchase
    if txs.height:
        alerts |= {f"fraud_score:{i}" for i in reference_scores(txs).filter(pl.col("alerted"))["transaction_id"]}
    return alerts


def reference_scores(ruled: pl.DataFrame) -> pl.DataFrame:
    """Per purchase of `ruled` (each with the settings of the version in force at its time, as
    `reference_alerts` joins them): `transaction_id`, its `score` under that version's model and
    whether it is `alerted` (the score on, its model of the features computed here, and at or above
    its threshold)."""
    import numpy as np
    import polars as pl

    from credit_platform.model.fraud_score import transformed
    from credit_platform.rules.fraud_features import features_version, reference_features

    model = [f"fraud_score_{kind}_{name}" for kind in ("weight", "mean", "scale") for name in FEATURE_NAMES]
    scored = reference_features(ruled).join(
        ruled.select("transaction_id", "fraud_score_enabled", "fraud_score_features", "fraud_score_threshold",
                     "fraud_score_intercept", *model),
        on="transaction_id")

    def of(kind: str) -> np.ndarray:
        return np.column_stack([scored[f"fraud_score_{kind}_{name}"].to_numpy() for name in FEATURE_NAMES])

    logit = scored["fraud_score_intercept"].to_numpy() + (
        (transformed(scored) - of("mean")) / of("scale") * of("weight")).sum(axis=1)
    score = 1 / (1 + np.exp(-logit))
    return scored.with_columns(pl.Series("score", score)).select(
        "transaction_id", "score",
        (pl.col("fraud_score_enabled") & (pl.col("fraud_score_features") == features_version())
         & (pl.col("score") >= pl.col("fraud_score_threshold"))).alias("alerted"))
