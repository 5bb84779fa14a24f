"""The simulated scenario the generator plays: seed, population, fraud share, event rate and start.

Kept apart from the generator (which needs numpy and polars) so the CLI can show these defaults
without importing it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from credit_platform.rules.lending import DEFAULT_POLICY, LendingPolicy

KINDS = ("applications", "transactions", "outcomes", "chargebacks")  # what `credit-platform generate` makes


@dataclass(frozen=True)
class FraudWorld:
    """How fraud happens in the simulated world: the size, pace and amounts of each injected pattern.

    Its own numbers, deliberately not read from the fraud rules' settings: a rule change moves the
    rule's alerts and never the fraud it is measured against, so a threshold is tuned the way a fraud
    team tunes one, by backtesting it on labelled history (`credit-platform rules backtest --set`).
    Counts are inclusive ranges; a span is the time a whole burst or campaign takes."""

    # large_loan_low_score: a loan above `large_loan_above` asked for with a bureau score below
    # `poor_score_below`; nobody else with such a score asks for more than `large_loan_above`
    poor_score_below: int = 450
    large_loan_above: float = 15_000.0
    # application_velocity: one customer's burst of applications
    velocity_burst: tuple[int, int] = (5, 7)
    velocity_span_minutes: int = 8
    # shared_device: unrelated customers applying from one fraudster's device (and households'
    # applications from one member's device, the look-alike, over the same span)
    device_burst: tuple[int, int] = (5, 8)
    device_span_minutes: int = 45
    # impossible_travel: a purchase at least this far from home, minutes after one there; benign
    # travellers fly at least `traveller_min_km`
    travel_min_km: float = 1_000.0
    traveller_min_km: float = 500.0
    # amount_spike: a purchase this many times the customer's usual spend, and at least `spike_min_amount`
    spike_multiple: tuple[float, float] = (15.0, 30.0)
    spike_min_amount: float = 1_000.0
    # card_testing: a run of test purchases of at most `test_max_amount`, then a large one
    testing_run: tuple[int, int] = (5, 7)
    testing_span_minutes: int = 27
    test_max_amount: float = 2.0
    # account_takeover: its one to three purchases within this span
    takeover_span_minutes: int = 96
    # compromised_merchant: this many customers' cards, defrauded over this span
    merchant_cards: tuple[int, int] = (10, 25)
    merchant_span_minutes: int = 1_080
    # inflated_purchases: a rogue merchant quietly bills this many of its customers this many times
    # their usual spend over this span: each bill within what the customer might spend, below every
    # rule's threshold (the fraud a learned score is for)
    inflation_cards: tuple[int, int] = (15, 40)
    inflation_multiple: tuple[float, float] = (1.8, 2.6)
    inflation_span_minutes: int = 2_880
    # every transaction pattern happens to a customer with at least this many earlier purchases
    min_history: int = 5
    # chargebacks: every fraudulent purchase is disputed by its card holder once they notice it, after
    # a log-normal delay (this median in days and spread of its logarithm: about one in ten comes
    # after more than two weeks), at least a day and at most the card networks' 120-day limit
    chargeback_delay_days: float = 6.0
    chargeback_delay_spread: float = 0.7
    chargeback_max_delay_days: float = 120.0


DEFAULT_FRAUD_WORLD = FraudWorld()


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
    world: FraudWorld = DEFAULT_FRAUD_WORLD  # how the injected fraud behaves
    # loan outcomes: a loan that has not defaulted this long after its application counts as repaid
    performance_window_days: int = DEFAULT_POLICY.performance_window_days
    # applications from this time on come from a shifted population (lower scores, larger loans
    # relative to income): what the model monitoring's drift measure must notice
    drift_from: datetime | None = None
    # which part of a longer history this is (0: a stream of its own): each part draws its own events,
    # customers and fraud from the same population (`generator.transaction_history`'s days)
    part: int = 0

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
