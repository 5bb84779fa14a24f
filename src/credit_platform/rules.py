"""Business rules of lending and fraud, defined once and imported everywhere.

The Flink job, the Spark job, the tests and the docs all read these thresholds; the MongoDB
`policies` collection is seeded from them and may override them per deployment.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
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
