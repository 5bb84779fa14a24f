"""The lending rules, stated once: the policy's thresholds, the seed's risk level, governed
exceptions and the decision, each with its engine twins beside it.

- Python reference: `risk_level`, `lending_decision`, `decide` (one application at a time).
- Spark twin: `risk_level_column`, `decision_columns` (column expressions of the nightly job).
- numpy twin: `risk_level_codes` (the generator's vectorised risk level).
- The policy store: `load_policy` reads the governed document in MongoDB `policies` (seeded from
  these defaults), which the Spark job takes its thresholds from. (The fraud rules' thresholds
  are governed beside it, in versions of their own: `rules/fraud_store.py`.)

`tests/unit/test_rule_parity.py` runs every twin on boundary values against the reference.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from credit_platform.contracts.names import LENDING_POLICY_ID, MONGO_DB, POLICIES_COLLECTION

if TYPE_CHECKING:
    import numpy as np
    from pyspark.sql import Column

log = logging.getLogger(__name__)

RISK_LEVELS = ("Low", "Medium", "High")
CARD_TYPES = ("VISA", "MASTERCARD", "AMEX")


# What the lending policy document held of the seed fraud rule before the fraud rules were governed
# on their own: policy key -> setting of the fraud rules.
LEGACY_FRAUD_THRESHOLDS = {"fraud_large_loan_amount": "large_loan_low_score.loan_amount_above",
                           "fraud_low_credit_score": "large_loan_low_score.credit_score_below"}


@dataclass(frozen=True)
class LendingPolicy:
    low_risk_min_score: int = 700  # score >= this -> Low
    medium_risk_min_score: int = 500  # score >= this -> Medium, else High
    instant_approval_max_amount: Decimal = Decimal("15000")  # inclusive
    # Credit decisions on the champion scorecard's probability of default (PD, 6 decimals):
    approve_max_pd: Decimal = Decimal("0.100000")  # PD <= this: approve (instantly when the loan is small)
    decline_min_pd: Decimal = Decimal("0.200000")  # PD >= this: decline; between the two: manual review
    grade_a_max_pd: Decimal = Decimal("0.020000")  # risk grades A..F: the first band whose upper PD holds it
    grade_b_max_pd: Decimal = Decimal("0.040000")
    grade_c_max_pd: Decimal = Decimal("0.070000")
    grade_d_max_pd: Decimal = Decimal("0.100000")
    grade_e_max_pd: Decimal = Decimal("0.200000")
    # Scorecard scaling: `score_points_at_odds` points at `score_odds`:1 good:bad odds,
    # `points_to_double_odds` more points double the odds.
    score_points_at_odds: int = 600
    score_odds: int = 50
    points_to_double_odds: int = 20
    # A loan that has not defaulted this long after its application counts as repaid: the outcome
    # the scorecard learns (and the generator's default for when it observes outcomes).
    performance_window_days: int = 90

    def to_document(self) -> dict[str, object]:
        return {k: (float(v) if isinstance(v, Decimal) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_document(cls, thresholds: dict[str, object]) -> LendingPolicy:
        """The policy stored in MongoDB `policies` (unknown keys are refused, missing ones default)."""
        known = {f.name: f.type for f in fields(cls)}
        # the seed fraud rule's thresholds moved to the governed fraud rules (`rules/fraud_store.py`,
        # which takes them over from a policy document that still has them)
        thresholds = {k: v for k, v in thresholds.items() if k not in LEGACY_FRAUD_THRESHOLDS}
        unknown = set(thresholds) - set(known)
        if unknown:
            raise ValueError(f"policy has unknown thresholds {sorted(unknown)}; known: {sorted(known)}")
        policy = cls(**{k: Decimal(str(v)) if known[k] == "Decimal" else int(v) for k, v in thresholds.items()})
        if not Decimal(0) < policy.approve_max_pd < policy.decline_min_pd <= Decimal(1):
            raise ValueError(f"policy needs 0 < approve_max_pd ({policy.approve_max_pd}) < decline_min_pd "
                             f"({policy.decline_min_pd}) <= 1")
        grades = [policy.grade_a_max_pd, policy.grade_b_max_pd, policy.grade_c_max_pd, policy.grade_d_max_pd,
                  policy.grade_e_max_pd]
        if grades != sorted(set(grades)):
            raise ValueError(f"policy's grade_*_max_pd must rise from A to E: {[str(g) for g in grades]}")
        if policy.points_to_double_odds <= 0 or policy.score_odds <= 0 or policy.performance_window_days < 1:
            raise ValueError("policy needs points_to_double_odds, score_odds and performance_window_days > 0")
        return policy


DEFAULT_POLICY = LendingPolicy()


def risk_level(credit_score: int, policy: LendingPolicy = DEFAULT_POLICY) -> str:
    if credit_score >= policy.low_risk_min_score:
        return "Low"
    if credit_score >= policy.medium_risk_min_score:
        return "Medium"
    return "High"


def risk_level_codes(credit_score: np.ndarray, policy: LendingPolicy = DEFAULT_POLICY) -> np.ndarray:
    """numpy twin of `risk_level`: index into RISK_LEVELS (0 Low, 1 Medium, 2 High)."""
    import numpy as np

    return np.select([credit_score >= policy.low_risk_min_score, credit_score >= policy.medium_risk_min_score],
                     [0, 1], 2)


def risk_level_column(score: Column, policy: LendingPolicy = DEFAULT_POLICY) -> Column:
    """Spark twin of `risk_level`."""
    from pyspark.sql import functions as F

    return (F.when(score >= policy.low_risk_min_score, "Low")
            .when(score >= policy.medium_risk_min_score, "Medium")
            .otherwise("High"))


def instant_approval(loan_amount: Decimal | float, credit_score: int, fraud_alert: bool,
                     policy: LendingPolicy = DEFAULT_POLICY) -> bool:
    """Instant approval only for small loans, low risk, and no fraud alert."""
    return (
        Decimal(str(loan_amount)) <= policy.instant_approval_max_amount
        and risk_level(credit_score, policy) == "Low"
        and not fraud_alert
    )


DECISIONS = ("instant_approval", "approve", "manual_review", "decline", "fraud_review")

# Application fields an exception may match on (columns of `credit_scores`).
EXCEPTION_MATCH_FIELDS = ("user_id", "loan_purpose", "channel", "employment_status", "city")


@dataclass(frozen=True)
class PolicyException:
    """A governed exception to the lending policy, stored in the policy document's `exceptions`.

    It applies to applications whose fields equal `match` (each value, or one of a list), on
    business dates from `valid_from` to `valid_to` (inclusive; open when absent). It either forces
    a `decision` (never instant approval past a fraud alert: fraud_review always wins) or replaces
    some `thresholds` for those applications. The first matching exception of the list applies.
    `approved_by` and `reason` make it auditable; both are required.
    """

    id: str
    reason: str
    approved_by: str
    match: tuple[tuple[str, tuple[str, ...]], ...]
    decision: str | None = None
    thresholds: LendingPolicy | None = None
    valid_from: date | None = None
    valid_to: date | None = None

    @classmethod
    def from_document(cls, doc: dict[str, object], base: LendingPolicy) -> PolicyException:
        where = f"policy exception {doc.get('id', '?')!r}"
        known = {"id", "reason", "approved_by", "match", "decision", "thresholds", "valid_from", "valid_to"}
        if unknown := set(doc) - known:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
        for key in ("id", "reason", "approved_by", "match"):
            if not doc.get(key):
                raise ValueError(f"{where}: `{key}` is required")
        match = doc["match"]
        if not isinstance(match, dict) or set(match) - set(EXCEPTION_MATCH_FIELDS):
            raise ValueError(f"{where}: `match` must map some of {list(EXCEPTION_MATCH_FIELDS)} to values")
        decision, thresholds = doc.get("decision"), doc.get("thresholds")
        if (decision is None) == (thresholds is None):
            raise ValueError(f"{where}: give either `decision` or `thresholds`")
        if decision is not None and decision not in ("manual_review", "instant_approval"):
            raise ValueError(f"{where}: `decision` must be manual_review or instant_approval "
                             "(fraud_review follows from alerts only)")
        merged = None
        if thresholds is not None:
            merged = LendingPolicy.from_document({**base.to_document(), **thresholds})  # type: ignore[dict-item]
        return cls(
            id=str(doc["id"]), reason=str(doc["reason"]), approved_by=str(doc["approved_by"]),
            match=tuple(sorted((k, tuple(str(x) for x in (v if isinstance(v, list | tuple) else [v])))
                               for k, v in match.items())),
            decision=decision, thresholds=merged,  # type: ignore[arg-type]
            valid_from=_as_date(doc.get("valid_from")), valid_to=_as_date(doc.get("valid_to")))

    def applies(self, application: dict[str, object], business_date: date) -> bool:
        if self.valid_from and business_date < self.valid_from:
            return False
        if self.valid_to and business_date > self.valid_to:
            return False
        return all(str(application.get(k)) in values for k, values in self.match)


def _as_date(value: object) -> date | None:
    if value is None or isinstance(value, date):
        return value  # type: ignore[return-value]
    return date.fromisoformat(str(value)[:10])


def decide(application: dict[str, object], fraud_alert: bool, business_date: date,
           policy: LendingPolicy = DEFAULT_POLICY,
           exceptions: tuple[PolicyException, ...] = (), pd: Decimal | None = None) -> tuple[str, str | None]:
    """The decision for one application under the policy and its exceptions, and the id of the
    exception that applied (None when none did). `pd`: the champion scorecard's PD (6 decimals;
    None without a champion). The Spark job computes the same in SQL."""
    amount, score = application["loan_amount"], int(application["credit_score"])  # type: ignore[arg-type]
    if fraud_alert:
        return "fraud_review", None
    for exception in exceptions:
        if exception.applies(application, business_date):
            if exception.decision:
                return exception.decision, exception.id
            return lending_decision(amount, score, False, exception.thresholds or policy, pd), exception.id  # type: ignore[arg-type]
    return lending_decision(amount, score, False, policy, pd), None  # type: ignore[arg-type]


def lending_decision(loan_amount: Decimal | float, credit_score: int, fraud_alert: bool,
                     policy: LendingPolicy = DEFAULT_POLICY, pd: Decimal | None = None) -> str:
    """fraud_review when any fraud alert names the application. With the scorecard's PD: decline at
    or above the decline cut-off; at or below the approval cut-off, instant_approval up to the
    instant-approval amount and approve (the standard path) above it; manual_review between the
    cut-offs. Without a PD (no champion model yet) the seed's rule: instant_approval for Low risk
    and a small loan, manual_review otherwise. (The Spark job computes the same in SQL expressions.)"""
    return decision_and_reason(loan_amount, credit_score, fraud_alert, policy, pd)[0]


def decision_and_reason(loan_amount: Decimal | float, credit_score: int, fraud_alert: bool,
                        policy: LendingPolicy = DEFAULT_POLICY, pd: Decimal | None = None) -> tuple[str, str]:
    """`lending_decision` with its reason, as the warehouse's `decision_reason` words it."""
    if fraud_alert:
        return "fraud_review", "fraud alert"
    small = Decimal(str(loan_amount)) <= policy.instant_approval_max_amount
    limit = f"{policy.instant_approval_max_amount:,.2f}"
    if pd is not None:
        if pd >= policy.decline_min_pd:
            return "decline", f"PD {pd} at or above the decline cut-off {policy.decline_min_pd}"
        if pd <= policy.approve_max_pd:
            if small:
                return "instant_approval", (f"PD {pd} at or below the approval cut-off {policy.approve_max_pd}, "
                                            f"amount <= {limit}, no fraud alert")
            return "approve", (f"PD {pd} at or below the approval cut-off {policy.approve_max_pd}; amount above "
                               f"the instant-approval limit of {limit}: standard approval")
        return "manual_review", (f"PD {pd} between the approval cut-off {policy.approve_max_pd} and the decline "
                                 f"cut-off {policy.decline_min_pd}")
    risk = risk_level(credit_score, policy)
    if small and risk == "Low":
        return "instant_approval", (f"score {credit_score} is Low risk (>= {policy.low_risk_min_score}), "
                                    f"amount <= {limit}, no fraud alert")
    if not small:
        return "manual_review", f"amount above the instant-approval limit of {limit}"
    return "manual_review", f"score {credit_score} is {risk} risk; instant approval needs Low"


# ---- Spark twins of the decision ---------------------------------------------------------------
def _policy_decision_columns(p: LendingPolicy, pd: Column) -> tuple[Column, Column]:
    """Decision and reason of an application without a fraud alert, under thresholds `p` and the
    scorecard's PD (a null PD: no champion model; the seed's rule) (the Spark twin of
    `decision_and_reason`)."""
    from pyspark.sql import functions as F

    score = F.col("credit_score").cast("string")
    risk = risk_level_column(F.col("credit_score"), p)
    small = F.col("loan_amount").cast("decimal(14,2)") <= F.lit(p.instant_approval_max_amount).cast("decimal(14,2)")
    limit = f"{p.instant_approval_max_amount:,.2f}"
    seed_decision = F.when(small & (risk == "Low"), "instant_approval").otherwise("manual_review")
    seed_reason = (F.when(small & (risk == "Low"), F.concat(
                       F.lit("score "), score, F.lit(f" is Low risk (>= {p.low_risk_min_score}), amount <= {limit}, "
                                                     "no fraud alert")))
                   .when(~small, F.lit(f"amount above the instant-approval limit of {limit}"))
                   .otherwise(F.concat(F.lit("score "), score, F.lit(" is "), risk,
                                       F.lit(" risk; instant approval needs Low"))))
    from credit_platform.rules.credit import PD_SQL_TYPE

    pd_text = F.concat(F.lit("PD "), pd.cast("string"))
    decline = pd >= F.lit(p.decline_min_pd).cast(PD_SQL_TYPE)
    approve = pd <= F.lit(p.approve_max_pd).cast(PD_SQL_TYPE)
    decision = (F.when(pd.isNull(), seed_decision).when(decline, "decline")
                .when(approve & small, "instant_approval").when(approve, "approve").otherwise("manual_review"))
    reason = (F.when(pd.isNull(), seed_reason)
              .when(decline, F.concat(pd_text, F.lit(f" at or above the decline cut-off {p.decline_min_pd}")))
              .when(approve & small, F.concat(pd_text, F.lit(f" at or below the approval cut-off {p.approve_max_pd}, "
                                                             f"amount <= {limit}, no fraud alert")))
              .when(approve, F.concat(pd_text, F.lit(
                  f" at or below the approval cut-off {p.approve_max_pd}; amount above the instant-approval limit of "
                  f"{limit}: standard approval")))
              .otherwise(F.concat(pd_text, F.lit(f" between the approval cut-off {p.approve_max_pd} and the decline "
                                                 f"cut-off {p.decline_min_pd}"))))
    return decision, reason


def _exception_applies_column(e: PolicyException) -> Column:
    """Spark twin of `PolicyException.applies` (on the columns of `credit_scores`)."""
    from pyspark.sql import functions as F

    condition = F.lit(True)
    for column, values in e.match:
        condition = condition & F.col(column).cast("string").isin(list(values))
    if e.valid_from:
        condition = condition & (F.col("business_date") >= F.lit(e.valid_from))
    if e.valid_to:
        condition = condition & (F.col("business_date") <= F.lit(e.valid_to))
    return condition


def decision_columns(thresholds: LendingPolicy, exceptions: tuple[PolicyException, ...],
                     fraud_alert: Column, pd: Column | None = None) -> tuple[Column, Column, Column]:
    """Spark twin of `decide`: the decision, its reason and the exception that applied (the first
    of the list that matches; a fraud alert always means fraud_review, and no exception). `pd`:
    the scorecard's PD column, decimal(7,6) (None or null: no champion model)."""
    from pyspark.sql import functions as F

    from credit_platform.rules.credit import PD_SQL_TYPE

    pd = F.lit(None).cast(PD_SQL_TYPE) if pd is None else pd
    decision, reason = _policy_decision_columns(thresholds, pd)
    exception = F.lit(None).cast("string")
    for e in reversed(exceptions):  # built inside out: the first of the list wins
        applies = _exception_applies_column(e)
        if e.decision:
            e_decision, e_reason = F.lit(e.decision), F.lit(e.decision.replace("_", " ") + " by exception")
        else:
            e_decision, e_reason = _policy_decision_columns(e.thresholds or thresholds, pd)
        decision = F.when(applies, e_decision).otherwise(decision)
        reason = F.when(applies, F.concat(F.lit(f"policy exception {e.id} ({e.reason}; approved by "
                                                f"{e.approved_by}): "), e_reason)).otherwise(reason)
        exception = F.when(applies, F.lit(e.id)).otherwise(exception)
    return (F.when(fraud_alert, "fraud_review").otherwise(decision),
            F.when(fraud_alert, F.concat(F.lit("fraud alert: "), F.col("fraud_alert_rules"))).otherwise(reason),
            F.when(fraud_alert, F.lit(None).cast("string")).otherwise(exception))


# ---- the policy store ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Policy:
    """The governed lending policy as stored: thresholds, exceptions, and the version decided under."""

    id: str
    version: int
    thresholds: LendingPolicy
    exceptions: tuple[PolicyException, ...] = ()


def policy_from_document(doc: dict | None) -> Policy:
    """The policy document of MongoDB `policies` (None: the defaults of this module)."""
    if not doc:
        return Policy(LENDING_POLICY_ID, 0, DEFAULT_POLICY)
    thresholds = LendingPolicy.from_document(doc.get("thresholds", {}))
    exceptions = tuple(PolicyException.from_document(e, thresholds) for e in doc.get("exceptions") or [])
    return Policy(LENDING_POLICY_ID, int(doc.get("version", 1)), thresholds, exceptions)


def load_policy(mongo_uri: str) -> Policy:
    """The lending policy from MongoDB `policies` (governance); the defaults if the document is absent.
    The Spark job reads it for every run."""
    from pymongo import MongoClient

    with MongoClient(mongo_uri, serverSelectionTimeoutMS=10_000) as client:
        doc = client[MONGO_DB][POLICIES_COLLECTION].find_one({"_id": LENDING_POLICY_ID})
    if not doc:
        log.warning("no policy %s in MongoDB; using the defaults of credit_platform.rules.lending",
                    LENDING_POLICY_ID)
    return policy_from_document(doc)
