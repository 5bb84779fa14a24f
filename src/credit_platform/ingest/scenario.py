"""The simulated scenario the generator plays: seed, population, fraud share, event rate and start.

Kept apart from the generator (which needs numpy and polars) so the CLI can show these defaults
without importing it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from credit_platform.rules.fraud import DEFAULT_FRAUD_RULES, FraudRules
from credit_platform.rules.lending import DEFAULT_POLICY, LendingPolicy

KINDS = ("applications", "transactions", "outcomes")  # what `credit-platform generate` makes


@dataclass(frozen=True)
class GeneratorConfig:
    seed: int = 42
    customers: int = 100_000  # one population for both kinds: same seed, same people
    fraud_share: float = 0.02  # share of events that belong to an injected pattern
    # share of events that are benign look-alikes of a pattern (travellers, big tickets, households)
    lookalike_share: float = 0.005
    rate_per_second: float = 50.0  # mean event rate of the simulated stream
    start: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    policy: LendingPolicy = DEFAULT_POLICY
    rules: FraudRules = DEFAULT_FRAUD_RULES
    # loan outcomes: a loan that has not defaulted this long after its application counts as repaid
    performance_window_days: int = DEFAULT_POLICY.performance_window_days
    # applications from this time on come from a shifted population (lower scores, larger loans
    # relative to income): what the model monitoring's drift measure must notice
    drift_from: datetime | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.fraud_share <= 0.5:
            raise ValueError("fraud_share must be between 0 and 0.5")
        if not 0 <= self.lookalike_share <= 0.2:
            raise ValueError("lookalike_share must be between 0 and 0.2")
        if self.rate_per_second <= 0 or self.customers < 100:
            raise ValueError("rate_per_second must be > 0 and customers >= 100")
        if self.start.tzinfo is None or (self.drift_from is not None and self.drift_from.tzinfo is None):
            raise ValueError("start and drift_from must be timezone-aware (UTC)")
        if self.performance_window_days < 1:
            raise ValueError("performance_window_days must be >= 1")
