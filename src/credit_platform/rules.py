"""Business rules of lending and fraud, defined once and imported everywhere.

The Flink job, the Spark job, the tests and the docs all read these thresholds; the MongoDB
`policies` collection is seeded from them and may override them per deployment.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import date
from decimal import Decimal

RISK_LEVELS = ("Low", "Medium", "High")
CARD_TYPES = ("VISA", "MASTERCARD", "AMEX")


@dataclass(frozen=True)
class LendingPolicy:
    low_risk_min_score: int = 700  # score >= this -> Low
    medium_risk_min_score: int = 500  # score >= this -> Medium, else High
    instant_approval_max_amount: Decimal = Decimal("15000")  # inclusive
    # Seed fraud rule: a large loan asked for with a poor score.
    fraud_large_loan_amount: Decimal = Decimal("15000")  # strictly greater than this
    fraud_low_credit_score: int = 450  # strictly less than this

    def to_document(self) -> dict[str, object]:
        return {k: (float(v) if isinstance(v, Decimal) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_document(cls, thresholds: dict[str, object]) -> LendingPolicy:
        """The policy stored in MongoDB `policies` (unknown keys are refused, missing ones default)."""
        known = {f.name: f.type for f in fields(cls)}
        unknown = set(thresholds) - set(known)
        if unknown:
            raise ValueError(f"policy has unknown thresholds {sorted(unknown)}; known: {sorted(known)}")
        return cls(**{k: Decimal(str(v)) if "amount" in k else int(v) for k, v in thresholds.items()})


DEFAULT_POLICY = LendingPolicy()


def risk_level(credit_score: int, policy: LendingPolicy = DEFAULT_POLICY) -> str:
    if credit_score >= policy.low_risk_min_score:
        return "Low"
    if credit_score >= policy.medium_risk_min_score:
        return "Medium"
    return "High"


def is_large_loan_low_score(loan_amount: Decimal | float, credit_score: int,
                            policy: LendingPolicy = DEFAULT_POLICY) -> bool:
    """The seed's fraud rule: loan_amount > 15000 and credit_score < 450."""
    return Decimal(str(loan_amount)) > policy.fraud_large_loan_amount and credit_score < policy.fraud_low_credit_score


def instant_approval(loan_amount: Decimal | float, credit_score: int, fraud_alert: bool,
                     policy: LendingPolicy = DEFAULT_POLICY) -> bool:
    """Instant approval only for small loans, low risk, and no fraud alert."""
    return (
        Decimal(str(loan_amount)) <= policy.instant_approval_max_amount
        and risk_level(credit_score, policy) == "Low"
        and not fraud_alert
    )


DECISIONS = ("instant_approval", "manual_review", "fraud_review")

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
           exceptions: tuple[PolicyException, ...] = ()) -> tuple[str, str | None]:
    """The decision for one application under the policy and its exceptions, and the id of the
    exception that applied (None when none did). The Spark job computes the same in SQL."""
    amount, score = application["loan_amount"], int(application["credit_score"])  # type: ignore[arg-type]
    if fraud_alert:
        return "fraud_review", None
    for exception in exceptions:
        if exception.applies(application, business_date):
            if exception.decision:
                return exception.decision, exception.id
            return lending_decision(amount, score, False, exception.thresholds or policy), exception.id  # type: ignore[arg-type]
    return lending_decision(amount, score, False, policy), None  # type: ignore[arg-type]


def lending_decision(loan_amount: Decimal | float, credit_score: int, fraud_alert: bool,
                     policy: LendingPolicy = DEFAULT_POLICY) -> str:
    """fraud_review when any fraud alert names the application; instant_approval when the policy
    allows it; manual_review otherwise (the Spark job computes the same in SQL expressions)."""
    if fraud_alert:
        return "fraud_review"
    if instant_approval(loan_amount, credit_score, fraud_alert, policy):
        return "instant_approval"
    return "manual_review"


# ---- stateful fraud rules (the Flink job's windows; the generator injects patterns that break them)
@dataclass(frozen=True)
class FraudRules:
    # application velocity: this many applications by one user within the window
    velocity_window_minutes: int = 10
    velocity_min_applications: int = 4
    # one device used by this many distinct users within the window
    device_window_minutes: int = 60
    device_min_users: int = 4
    # impossible travel: consecutive card transactions farther apart than a plane could fly
    travel_max_speed_kmh: float = 900.0
    travel_min_distance_km: float = 500.0
    # amount spike: this many times the user's average of their recent transactions
    spike_factor: float = 5.0
    spike_min_amount: float = 500.0
    spike_history: int = 5


DEFAULT_FRAUD_RULES = FraudRules()
