"""Nightly risk scoring, the Spark transformations: validation against the shared contract
(invalid rows become `data_quality_issues` rows with the reason), and the warehouse rows with risk
levels and lending decisions from the rules' Spark twins (`credit_platform.rules.lending`).

`batch/nightly.py` runs them for one business date, `batch/load.py` loads the result; tests drive
them on a real Spark session.
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from credit_platform.contracts import names
from credit_platform.contracts.events import FieldRule, contract_for, field_rules
from credit_platform.rules.credit import (
    PD_SQL_TYPE,
    Scorecard,
    bin_index_column,
    psi,
    score_bin_column,
    scorecard_columns,
)
from credit_platform.rules.lending import Policy, decision_columns, risk_level_column

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

log = logging.getLogger(__name__)

SOURCE = JOB_NAME = names.SCORING_JOB

# Warehouse columns written by the job, in COPY order.
CREDIT_SCORES_COLUMNS = (
    "application_id", "user_id", "credit_score", "loan_amount", "risk_level", "timestamp", "business_date",
    "annual_income", "loan_term_months", "loan_purpose", "employment_status", "channel", "device_id", "city",
    "latitude", "longitude", "decision", "decision_reason", "fraud_alert", "fraud_alert_rules", "is_fraud",
    "policy_id", "policy_version", "policy_exception", "decided_by", "decided_at", "scoring_run_id",
    "source_file", "kafka_partition", "kafka_offset",
    "probability_of_default", "score_points", "risk_grade", "reason_codes", "model_version",
)
PROCESSED_TRANSACTIONS_COLUMNS = (
    "transaction_id", "user_id", "amount", "timestamp", "location", "merchant", "card_type", "device_id",
    "credit_score", "risk_level", "is_fraud", "business_date", "latitude", "longitude", "merchant_category",
    "fraud_alert", "fraud_alert_rules", "source_file", "kafka_partition", "kafka_offset",
)

LOAN_OUTCOMES_COLUMNS = ("application_id", "defaulted", "observed_at", "business_date", "true_pd", "source_file",
                         "kafka_partition", "kafka_offset")
CHARGEBACKS_COLUMNS = ("transaction_id", "user_id", "merchant", "amount", "reason_code", "reported_at", "business_date",
                       "source_file", "kafka_partition", "kafka_offset")


def read_landed(spark: SparkSession, files: list[Path]) -> DataFrame:
    """The landed Parquet files, each row tagged with the file it came from (lineage)."""
    from pyspark.sql import functions as F

    return (spark.read.parquet(*[str(f) for f in files])
            .withColumn("_source_file", F.regexp_replace(F.input_file_name(), "^file:(//)?", "")))


# ---- validation ---------------------------------------------------------------------------------
OFFSET_BITS = 44  # a Kafka offset below 2^44 (17.6 trillion records a partition); partitions below 2^19
PROBLEMS_TYPE = "array<struct<column:string,rule:string,message:string,observed:string>>"


def _problem(condition: Column, column: str | None, rule: str, message: Column | str,
             observed: Column | None) -> tuple[Column, Column]:
    """(when the row breaks the rule, the problem it then has)."""
    from pyspark.sql import functions as F

    message = F.lit(message) if isinstance(message, str) else message
    return condition, F.when(condition, F.struct(F.lit(column).alias("column"), F.lit(rule).alias("rule"),
                                      message.alias("message"),
                                      (observed if observed is not None else F.lit(None)).cast("string")
                                      .alias("observed")))


def _checks(rule: FieldRule) -> list[tuple[Column, Column]]:
    from pyspark.sql import functions as F

    c = F.col(f"`{rule.name}`")
    name = rule.name
    shown = c.cast("string")
    checks = []
    if rule.required:
        checks.append(_problem(c.isNull(), name, "not_null", f"{name}: missing", None))
    if rule.minimum is not None:
        op, word = (c <= rule.minimum, "must be >") if rule.strict_minimum else (c < rule.minimum, "must be >=")
        checks.append(_problem(op, name, "minimum", F.concat(F.lit(f"{name}: "), shown,
                                                             F.lit(f" {word} {rule.minimum:g}")), c))
    if rule.maximum is not None:
        checks.append(_problem(c > rule.maximum, name, "maximum", F.concat(
            F.lit(f"{name}: "), shown, F.lit(f" must be <= {rule.maximum:g}")), c))
    if rule.allowed is not None:
        checks.append(_problem(~c.isin(*rule.allowed), name, "allowed_values", F.concat(
            F.lit(f"{name}: "), shown, F.lit(f" is not one of {', '.join(map(str, rule.allowed))}")), c))
    if rule.min_length is not None:
        checks.append(_problem(F.length(c) < rule.min_length, name, "min_length", f"{name}: empty", c))
    if rule.max_length is not None:
        checks.append(_problem(F.length(c) > rule.max_length, name, "max_length",
                               f"{name}: longer than {rule.max_length}", F.substring(c, 1, 80)))
    if rule.pattern is not None:  # e.g. no control characters: a NUL would abort the day's COPY
        checks.append(_problem(~c.rlike(rule.pattern), name, "pattern",
                               f"{name}: contains a control character", F.substring(F.regexp_replace(
                                   c, "[\\x00-\\x1f\\x7f]", "?"), 1, 80)))
    if rule.finite:
        checks.append(_problem(F.isnan(c) | c.isin(float("inf"), float("-inf")), name, "finite",
                               f"{name}: not a finite number", c))
    return checks


def validate(df: DataFrame, topic: str) -> DataFrame:
    """Adds `_problems` (array of (column, rule, message, observed), empty when the row is valid)
    per the topic's contract, including duplicates of the event id (the first landed copy wins)."""
    from pyspark.sql import functions as F

    contract = contract_for(topic)
    key = contract.id_field
    checks = [check for rule in field_rules(contract.model) for check in _checks(rule)]
    # Duplicates are rare: find the repeated ids with a hash aggregate (no sort of every row), then
    # mark every copy but the first landed one. (A window over all rows was 5x slower here.) The
    # landed position is one long, partition * 2^OFFSET_BITS + offset: Spark planned MIN of a struct as
    # a sort aggregate (a sort of every row); MIN of a long keeps the hash aggregate.
    position = F.shiftleft(F.col("_partition").cast("long"), OFFSET_BITS) + F.col("_offset")
    repeated = (df.filter(F.col(key).isNotNull()).groupBy(key)
                .agg(F.count(F.lit(1)).alias("_copies"), F.min(position).alias("_first"))
                .filter("_copies > 1").drop("_copies"))
    df = df.join(repeated, key, "left")
    duplicate = _problem(
        F.col("_first").isNotNull() & (position != F.col("_first")), key, "unique",
        F.concat(F.lit(f"{key}: duplicate of the copy landed at partition "),
                 F.shiftright(F.col("_first"), OFFSET_BITS).cast("string"), F.lit(" offset "),
                 F.col("_first").bitwiseAND((1 << OFFSET_BITS) - 1).cast("string")), F.col(key))
    landing = _problem(F.col("_error").isNotNull(), None, "unparseable",
                       F.concat(F.lit("landing: "), F.col("_error")), None)
    # A cheap flag first, reasons only for the failing rows: most rows are valid, and building the
    # array of every check's struct for each of them was most of the validation's time (CASE
    # evaluates its branches lazily). A check whose condition is NULL (a NULL value: `not_null`
    # speaks for it) finds no problem, as before.
    problems = [landing, *checks, duplicate]
    failing = functools.reduce(lambda a, b: a | b, (F.coalesce(cond, F.lit(False)) for cond, _ in problems))
    reasons = F.filter(F.array(*(problem for _, problem in problems)), lambda x: x.isNotNull())
    return (df.withColumn("_problems", F.when(failing, reasons.cast(PROBLEMS_TYPE))
                          .otherwise(F.array().cast(PROBLEMS_TYPE)))
            .drop("_first"))


def issues_frame(checked: DataFrame, topic: str, run_id: str, day: date) -> DataFrame:
    """One `data_quality_issues` row per problem of each refused record, in COPY column order."""
    from pyspark.sql import functions as F

    id_field = contract_for(topic).id_field
    record_id = F.coalesce(F.col(id_field), F.concat_ws(":", F.lit(topic), "_partition", "_offset"))
    raw = F.coalesce(F.col("_raw"), F.to_json(F.struct(*[c for c in checked.columns if not c.startswith("_")])))
    def text(column: Column) -> Column:  # PostgreSQL text cannot hold NUL: shown escaped, as quality.issues does
        return F.regexp_replace(column, "\\x00", "\\\\u0000")

    return (checked.filter(F.size("_problems") > 0)
            .select(record_id.alias("record_id"), raw.alias("raw_payload"), F.explode("_problems").alias("p"))
            .select(text(F.col("record_id")).alias("record_id"), text(F.col("p.message")).alias("issue"),
                    F.lit(SOURCE).alias("source"), F.lit(topic).alias("table_name"),
                    F.col("p.column").alias("column_name"), F.col("p.rule").alias("rule"),
                    text(F.col("p.observed")).alias("observed_value"), F.lit("error").alias("severity"),
                    F.lit(run_id).alias("run_id"), text(F.col("raw_payload")).alias("raw_payload"),
                    F.lit(day).alias("data_date")))


def score_applications(apps: DataFrame, alerts: DataFrame, policy: Policy, run_id: str = "",
                       decided_at: datetime | None = None, card: Scorecard | None = None) -> DataFrame:
    """Valid applications → `credit_scores` rows: the champion scorecard's points, PD, grade and
    reason codes (`card`; None before the first champion: those stay empty), the seed's risk level,
    the decision and reason under the policy and its exceptions (the first that applies; a fraud
    alert always means fraud_review), and the audit trail: model and policy version, exception,
    deciding job, run and time, landed file and offset."""
    from pyspark.sql import functions as F

    alert = F.col("fraud_alert_rules").isNotNull()
    scored = (apps.join(F.broadcast(alerts), apps.application_id == alerts.event_id, "left")
              .withColumn("loan_amount", F.col("loan_amount").cast("decimal(14,2)"))
              .withColumn("annual_income", F.col("annual_income").cast("decimal(14,2)")))
    if card is None:
        scored = scored.select("*", *[F.lit(None).cast(t).alias(c) for c, t in SCORECARD_COLUMNS.items()])
    else:
        columns = scorecard_columns(card, policy.thresholds)
        columns["reason_codes"] = _postgres_array(columns["reason_codes"])
        scored = scored.select("*", *[columns[c].cast(t).alias(c) for c, t in SCORECARD_COLUMNS.items()])
    decision, reason, exception = decision_columns(policy.thresholds, policy.exceptions, alert,
                                                   F.col("probability_of_default"))
    return (scored
            .withColumn("business_date", F.to_date("timestamp"))  # the session time zone is UTC
            .withColumn("risk_level", risk_level_column(F.col("credit_score"), policy.thresholds))
            .withColumn("fraud_alert", alert)
            .withColumn("decision", decision)
            .withColumn("decision_reason", reason)
            .withColumn("policy_exception", exception)
            .withColumn("policy_id", F.lit(policy.id))
            .withColumn("policy_version", F.lit(policy.version))
            .withColumn("decided_by", F.lit(JOB_NAME))
            .withColumn("decided_at", F.lit(decided_at or datetime.now(UTC)).cast("timestamp"))
            .withColumn("scoring_run_id", F.lit(run_id))
            .withColumnRenamed("_partition", "kafka_partition")
            .withColumnRenamed("_offset", "kafka_offset")
            .withColumnRenamed("_source_file", "source_file")
            .select(*CREDIT_SCORES_COLUMNS))


SCORE_POINTS = "score_points"
SCORECARD_COLUMNS = {"probability_of_default": PD_SQL_TYPE, "score_points": "int", "risk_grade": "string",
                     "reason_codes": "string", "model_version": "string"}


def _postgres_array(texts: Column) -> Column:
    """An array of reason texts as a PostgreSQL text[] literal for COPY (the texts hold no quotes)."""
    from pyspark.sql import functions as F

    return F.concat(F.lit("{"), F.concat_ws(",", F.transform(texts, lambda t: F.concat(F.lit('"'), t, F.lit('"')))),
                    F.lit("}"))


def score_transactions(txs: DataFrame, alerts: DataFrame, policy: Policy) -> DataFrame:
    """Valid transactions → `processed_transactions` rows (risk level from the customer's score)."""
    from pyspark.sql import functions as F

    return (txs.join(F.broadcast(alerts), txs.transaction_id == alerts.event_id, "left")
            .withColumn("amount", F.col("amount").cast("decimal(14,2)"))
            .withColumn("risk_level", risk_level_column(F.col("credit_score"), policy.thresholds))
            .withColumn("fraud_alert", F.col("fraud_alert_rules").isNotNull())
            .withColumn("business_date", F.to_date("timestamp"))  # the session time zone is UTC
            .withColumnRenamed("_partition", "kafka_partition")
            .withColumnRenamed("_offset", "kafka_offset")
            .withColumnRenamed("_source_file", "source_file")
            .select(*PROCESSED_TRANSACTIONS_COLUMNS))


def observed_rows(labels: DataFrame, topic: str, columns: tuple[str, ...]) -> DataFrame:
    """Valid labels that arrive later (loan outcomes, chargebacks) → their table's rows, dated by the
    day they were observed (the topic's event time)."""
    from pyspark.sql import functions as F

    observed = contract_for(topic).time_field
    return (labels.withColumn("business_date", F.to_date(observed))  # the session time zone is UTC
            .withColumnRenamed("_partition", "kafka_partition")
            .withColumnRenamed("_offset", "kafka_offset")
            .withColumnRenamed("_source_file", "source_file")
            .select(*columns))


def alerts_frame(spark: SparkSession, alerts: dict[str, list[str]]) -> DataFrame:
    return spark.createDataFrame([(k, ", ".join(v)) for k, v in alerts.items()],
                                 "event_id string, fraud_alert_rules string")


def population_shares(rows: DataFrame, card: Scorecard) -> tuple[int, dict[str, dict[int, float]]]:
    """Rows scored, and each characteristic's (and `score_points`') share of them per scorecard bin
    (-1: a category the training sample never had), in one pass."""
    from pyspark.sql import functions as F

    pairs = F.array(*[F.struct(F.lit(c.name).alias("c"), bin_index_column(c).alias("b")) for c in card.characteristics],
                    F.struct(F.lit(SCORE_POINTS).alias("c"),
                             score_bin_column(F.col(SCORE_POINTS), card.score_bins).alias("b")))
    counts = rows.select(F.explode(pairs).alias("p")).groupBy("p.c", "p.b").count().collect()
    by: dict[str, dict[int, int]] = {}
    for name, index, n in counts:
        by.setdefault(name, {})[index] = n
    total = sum(by.get(SCORE_POINTS, {}).values())
    return total, {name: {i: n / total for i, n in bins.items()} for name, bins in by.items()}


def population_stability(card: Scorecard, shares: dict[str, dict[int, float]]) -> dict[str, float]:
    """PSI of each characteristic and of `score_points` against the champion's training sample."""
    result = {}
    for c in card.characteristics:
        expected = [b.share for b in c.bins] + [0.0]  # the last: unseen categories
        seen = shares.get(c.name, {})
        actual = [seen.get(i, 0.0) for i in range(len(c.bins))] + [seen.get(-1, 0.0)]
        result[c.name] = round(psi(expected, actual), 6)
    actual = [shares.get(SCORE_POINTS, {}).get(i, 0.0) for i in range(len(card.score_shares))]
    result[SCORE_POINTS] = round(psi(list(card.score_shares), actual), 6)
    return result
