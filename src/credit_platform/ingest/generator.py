"""Synthetic loan applications and card transactions with labelled, injected fraud patterns.

Events come from a population of synthetic customers (stable user id, home city, device, card,
income, baseline credit score, usual spend), so everything said about one person is consistent.
Faker supplies realistic cities (with coordinates) and merchant names, drawn into pools once.
Rows are assembled column-wise: numpy draws integer indices into the pools, polars gathers the
strings, formats ids and timestamps and writes JSON lines in Rust. The same seed gives
byte-identical output.

Injected patterns (label `is_fraud`, pattern name in `fraud_pattern`):
  applications: large_loan_low_score (the seed rule), application_velocity, shared_device
  transactions: impossible_travel, amount_spike, card_testing (a run of tiny purchases, then a large
  one, on another device), account_takeover (an established customer's card on a new device in
  another city, large amounts), compromised_merchant (many customers' cards defrauded at one
  merchant over hours to days, then quiet), inflated_purchases (a rogue merchant quietly billing
  its customers about twice their usual spend: no rule's threshold is crossed, only a learned score
  that sees the merchant's many such bills can tell)
Benign look-alikes (`is_fraud` false, `fraud_pattern` benign_*), `GeneratorConfig.lookalike_share`
of the events: households applying from one device (benign_household), customers who really fly to
a distant city (benign_travel: their purchases there), occasional big-ticket purchases
(benign_big_ticket). They look like fraud to some rules, so the rules' false positives are real and
measured. Other normal traffic keeps off the patterns (see each function). No stage reads a label.
The patterns' sizes, pace and amounts are `GeneratorConfig.world` (`scenario.FraudWorld`), never the
fraud rules' settings: changing a rule changes its alerts, not the fraud it is judged on.

Loan outcomes: every application's loan defaults or not, drawn from a hidden probability of
default of the applicant's characteristics, with interactions and an unobserved per-applicant
noise, so that the bureau score alone predicts it only moderately. Fraudulent applications nearly
always default. The label `true_pd` is the PD the characteristics determine (the noise integrated
out, fraud not known): the best any scorecard can do, the bench's ceiling; measured on 200k
applications, its AUC is about 0.75 against about 0.68 for the bureau score. A default is
observed when it happens within the performance window, a repayment when the window closes; only
outcomes observed by `as_of` exist. `GeneratorConfig.drift_from` shifts the applicants from that
time on.

Chargebacks: every fraudulent purchase is disputed by its card holder days or weeks later
(`FraudWorld.chargeback_delay_days`); only chargebacks reported by `as_of` exist. They are the fraud
labels the platform may learn from; look-alikes and normal purchases are never disputed.
"""

from __future__ import annotations

import dataclasses
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from credit_platform.contracts.events import (
    CHANNELS,
    CHARGEBACK_REASONS,
    EMPLOYMENT,
    LOAN_PURPOSES,
    LOAN_TERMS,
    SCHEMA_VERSION,
)
from credit_platform.ingest.scenario import KINDS, FraudWorld, GeneratorConfig
from credit_platform.rules.geo import haversine_km
from credit_platform.rules.lending import CARD_TYPES, RISK_LEVELS, risk_level_codes

APPLICATION_PATTERNS = ("large_loan_low_score", "application_velocity", "shared_device")
TRANSACTION_PATTERNS = ("impossible_travel", "amount_spike", "card_testing", "account_takeover",
                        "compromised_merchant", "inflated_purchases")
APPLICATION_LOOKALIKES = ("benign_household",)
TRANSACTION_LOOKALIKES = ("benign_travel", "benign_big_ticket")
TRAVEL_MIN_SPAN_HOURS = 12  # a stream shorter than this has no travellers (a flight takes hours)
MERCHANT_CATEGORIES = ("grocery", "restaurant", "fuel", "electronics", "travel", "fashion", "online", "pharmacy")
NO_PATTERN = -1


class Population:
    """Synthetic customers. Index i is customer `U{i:07d}` in every run with the same seed."""

    def __init__(self, config: GeneratorConfig) -> None:
        from faker import Faker
        from faker.providers.geo import Provider

        rng = np.random.default_rng([config.seed, 1])
        n = self.size = config.customers
        us = [c for c in Provider.land_coords if c[3] == "US"]
        self.city_names = pl.Series([c[2] for c in us], dtype=pl.String)
        self.city_lat = np.array([float(c[0]) for c in us])
        self.city_lon = np.array([float(c[1]) for c in us])
        fake = Faker("en_US")
        fake.seed_instance(config.seed)
        self.merchants = pl.Series(sorted({fake.company() for _ in range(600)}), dtype=pl.String)

        # Bigger cities get more customers (Zipf-like weights over the pool).
        weights = 1.0 / np.arange(1, len(us) + 1) ** 0.8
        self.home_city = rng.choice(len(us), size=n, p=weights / weights.sum())
        self.device_ids = pl.Series(np.char.mod("D%012x", rng.integers(0, 2**48, size=n))).cast(pl.String)
        self.income = np.round(rng.lognormal(np.log(55_000), 0.5, size=n), -2)
        income_z = (np.log(self.income) - np.log(55_000)) / 0.5
        self.base_score = np.clip(np.round(rng.normal(650 + 35 * income_z, 70)), 300, 850).astype(np.int64)
        self.card = rng.choice(len(CARD_TYPES), size=n, p=[0.5, 0.35, 0.15])
        self.usual_spend = rng.lognormal(np.log(60), 0.6, size=n)
        self.employment = rng.choice(len(EMPLOYMENT), size=n, p=[0.7, 0.12, 0.05, 0.08, 0.05])


# ---- helpers ----------------------------------------------------------------------------------
def _timeline(rng: np.random.Generator, count: int, config: GeneratorConfig) -> np.ndarray:
    """Event times in ms since the epoch: a Poisson process at the configured rate."""
    gaps_ms = rng.exponential(1000.0 / config.rate_per_second, size=count)
    return int(config.start.timestamp() * 1000) + np.cumsum(gaps_ms).astype(np.int64)


def _pattern_counts(total: int, patterns: tuple[str, ...]) -> dict[str, int]:
    base, extra = divmod(total, len(patterns))
    return {p: base + (1 if i < extra else 0) for i, p in enumerate(patterns)}


def _bursts(rng: np.random.Generator, total: int, low: int, high: int) -> np.ndarray:
    """Burst sizes in [low, high] adding up to total (a short tail joins the previous burst)."""
    sizes: list[int] = []
    while sum(sizes) < total:
        sizes.append(min(int(rng.integers(low, high + 1)), total - sum(sizes)))
    if len(sizes) > 1 and sizes[-1] < low:
        tail = sizes.pop()
        sizes[-1] += tail
    return np.array(sizes, dtype=np.int64)


def _burst_times(rng: np.random.Generator, span: tuple[int, int], sizes: np.ndarray, width_ms: int) -> np.ndarray:
    """Times for bursts of events, each burst within `width_ms` and inside the stream's span (a
    stream shorter than a burst squeezes the burst, which only makes it denser)."""
    width = max(1, min(width_ms, span[1] - span[0]))
    starts = rng.integers(span[0], max(span[0] + 1, span[1] - width), len(sizes))
    return np.repeat(starts, sizes) + rng.integers(0, width, int(sizes.sum()))


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _in_time_order(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The events in time order, no two of one customer in the same millisecond (a later one moves on
    by a millisecond): each customer's events have one order, in every engine."""
    order = np.lexsort((cols["ts_ms"], cols["user"]))
    ts, user = cols["ts_ms"][order], cols["user"][order]
    first = np.r_[True, user[1:] != user[:-1]]
    rank = np.arange(len(ts)) - np.maximum.accumulate(np.where(first, np.arange(len(ts)), 0))
    shifted = ts - rank
    starts = np.flatnonzero(first)
    for a, b in zip(starts, np.r_[starts[1:], len(ts)], strict=True):  # running max within each customer
        shifted[a:b] = np.maximum.accumulate(shifted[a:b])
    fixed = np.empty_like(ts)
    fixed[order] = shifted + rank
    cols = {**cols, "ts_ms": fixed}
    order = np.argsort(fixed, kind="stable")
    return {k: v[order] for k, v in cols.items()}


def _strings(pool: tuple[str, ...] | pl.Series, index: np.ndarray) -> pl.Series:
    series = pool if isinstance(pool, pl.Series) else pl.Series(list(pool), dtype=pl.String)
    return series.gather(index)


def _patterns(names: tuple[str, ...], codes: np.ndarray) -> pl.Series:
    return pl.Series(list(names), dtype=pl.String).gather(np.where(codes < 0, 0, codes)).set(
        pl.Series(codes < 0), None)


def id_prefix(kind: str, config: GeneratorConfig) -> str:
    """Seed and start time in every id: data generated for another day never reuses an id."""
    return f"{kind}-{config.seed}-{config.start:%Y%m%dT%H%M}"


def _ids(prefix: str, n: int) -> pl.Expr:
    return pl.format(f"{prefix}-{{}}", pl.int_range(0, n, eager=False).cast(pl.String).str.zfill(9))


def _frame(columns: dict[str, object], users: np.ndarray, codes: np.ndarray, patterns: tuple[str, ...],
           lookalikes: tuple[str, ...], id_column: str, id_prefix: str, order: list[str]) -> pl.DataFrame:
    """The finished events: contract version, ids in time order, user ids, ground-truth labels (codes
    index patterns, then look-alikes)."""
    n = len(codes)
    return pl.DataFrame({
        **columns,
        "schema_version": np.full(n, SCHEMA_VERSION),
        "user_id": pl.Series(users).cast(pl.String).str.zfill(7),
        "is_fraud": (codes >= 0) & (codes < len(patterns)),
        "fraud_pattern": _patterns(patterns + lookalikes, codes),
    }).with_columns(
        _ids(id_prefix, n).alias(id_column),
        pl.format("U{}", pl.col("user_id")).alias("user_id"),
    ).select(order)


def _timestamps(ts_ms: np.ndarray) -> pl.Series:
    return pl.Series(ts_ms).cast(pl.Datetime("ms")).dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")


# ---- applications ---------------------------------------------------------------------------
def _epoch_ms(timestamps: pl.Series) -> np.ndarray:
    return timestamps.str.to_datetime("%Y-%m-%dT%H:%M:%S%.3fZ").dt.epoch("ms").to_numpy()


def applications(count: int, config: GeneratorConfig, population: Population | None = None) -> pl.DataFrame:
    pop = population or Population(config)
    rng = np.random.default_rng([config.seed, 2])
    world = config.world
    wanted = _pattern_counts(round(count * config.fraud_share), APPLICATION_PATTERNS)
    households = round(count * config.lookalike_share)
    n_normal = count - sum(wanted.values()) - households
    times = _timeline(rng, count, config)
    span = (int(times[0]), int(times[-1]) + 1) if count else (0, 1)

    # Normal traffic: customers take turns (a shuffled cycle), so nobody applies again before the
    # whole population has, which keeps normal users far below the velocity threshold.
    normal_times = times[np.sort(rng.choice(count, n_normal, replace=False))]
    users = rng.permutation(pop.size)[np.arange(n_normal) % pop.size]
    parts = [_application_rows(rng, pop, users, normal_times, NO_PATTERN, world)]

    # (a) the seed rule's case: a large loan asked for with a poor score
    k = wanted["large_loan_low_score"]
    rows = _application_rows(rng, pop, rng.integers(0, pop.size, k), rng.integers(*span, k), 0, world)
    rows["credit_score"] = rng.integers(300, world.poor_score_below, k)
    threshold = world.large_loan_above
    rows["loan_amount"] = np.round(rng.uniform(threshold + 0.01, threshold * 4, k), 2)
    parts.append(rows)

    # (b) velocity: one user fires off several applications within a few minutes
    sizes = _bursts(rng, wanted["application_velocity"], *world.velocity_burst)
    ts = _burst_times(rng, span, sizes, world.velocity_span_minutes * 60_000)
    parts.append(_application_rows(rng, pop, np.repeat(rng.integers(0, pop.size, len(sizes)), sizes), ts, 1, world))

    # (c) shared device: many different customers apply from one device within the hour
    sizes = _bursts(rng, wanted["shared_device"], *world.device_burst)
    users = np.concatenate([rng.choice(pop.size, n, replace=False) for n in sizes] or [np.zeros(0, np.int64)])
    ts = _burst_times(rng, span, sizes, world.device_span_minutes * 60_000)
    rows = _application_rows(rng, pop, users, ts, 2, world)
    rows["device"] = pop.size + np.repeat(np.arange(len(sizes)), sizes)  # a device no customer owns
    parts.append(rows)

    # look-alike: a household (two people, sometimes three or four, of one city) applying from one
    # member's device within the hour
    lookalike = np.random.default_rng([config.seed, 5])
    homes = _household_sizes(lookalike, households)
    users = _households(lookalike, pop, homes)
    ts = _burst_times(lookalike, span, homes, world.device_span_minutes * 60_000)
    rows = _application_rows(lookalike, pop, users, ts, len(APPLICATION_PATTERNS), world)
    rows["device"] = np.repeat(users[np.cumsum(homes) - homes], homes)
    parts.append(rows)
    shared_devices = pl.Series(np.char.mod("DS%011x", rng.integers(0, 2**44, len(sizes)))).cast(pl.String)
    devices = pl.concat([pop.device_ids, shared_devices])

    c = _in_time_order(_concat(parts))
    if config.drift_from is not None:
        _drift(rng, c, int(config.drift_from.timestamp() * 1000), world)
    city = pop.home_city[c["user"]]
    return _frame({
        "credit_score": c["credit_score"],
        "loan_amount": c["loan_amount"],
        "timestamp": _timestamps(c["ts_ms"]),
        "annual_income": pop.income[c["user"]],
        "loan_term_months": np.array(LOAN_TERMS)[c["term"]],
        "loan_purpose": _strings(LOAN_PURPOSES, c["purpose"]),
        "employment_status": _strings(EMPLOYMENT, pop.employment[c["user"]]),
        "channel": _strings(CHANNELS, c["channel"]),
        "device_id": devices.gather(c["device"]),
        "city": _strings(pop.city_names, city),
        "latitude": pop.city_lat[city],
        "longitude": pop.city_lon[city],
    }, c["user"], c["pattern"], APPLICATION_PATTERNS, APPLICATION_LOOKALIKES, "application_id",
        id_prefix("APP", config), APPLICATION_COLUMNS)


def _household_sizes(rng: np.random.Generator, total: int) -> np.ndarray:
    """Household sizes adding up to `total`: two people mostly, three or four now and then."""
    sizes: list[int] = []
    while sum(sizes) < total:
        sizes.append(min(int(rng.choice([2, 3, 4], p=[0.7, 0.2, 0.1])), total - sum(sizes)))
    if len(sizes) > 1 and sizes[-1] < 2:  # one left over joins the household before
        tail = sizes.pop()
        sizes[-1] += tail
    return np.array(sizes, dtype=np.int64)


def _households(rng: np.random.Generator, pop: Population, sizes: np.ndarray) -> np.ndarray:
    """The members of each household (the first one's device is theirs): customers of one home city."""
    by_city = np.argsort(pop.home_city, kind="stable")
    bounds = np.searchsorted(pop.home_city[by_city], np.arange(len(pop.city_names) + 1))
    members = []
    for size, first in zip(sizes, rng.choice(pop.size, len(sizes), replace=False), strict=True):
        city = pop.home_city[first]
        neighbours = by_city[bounds[city]:bounds[city + 1]]
        neighbours = neighbours[neighbours != first]
        if len(neighbours) < size - 1:  # a city of too few customers: others join from anywhere
            neighbours = np.setdiff1d(np.arange(pop.size), [first])
        members.append(np.concatenate([[first], rng.choice(neighbours, size - 1, replace=False)]))
    return np.concatenate(members).astype(np.int64) if members else np.zeros(0, np.int64)


def _application_rows(rng: np.random.Generator, pop: Population, users: np.ndarray, ts_ms: np.ndarray,
                      pattern: int, world: FraudWorld) -> dict[str, np.ndarray]:
    n = len(users)
    scores = np.clip(pop.base_score[users] + np.round(rng.normal(0, 12, n)).astype(np.int64), 300, 850)
    loan = np.round(np.clip(pop.income[users] * rng.uniform(0.05, 0.45, n), 500, 250_000), 2)
    if pattern != 0:
        # Only the injected case asks for a large loan with a poor score.
        poor = scores < world.poor_score_below
        loan = np.where(poor, np.minimum(loan, world.large_loan_above), loan)
    return {
        "ts_ms": np.asarray(ts_ms, dtype=np.int64),
        "user": np.asarray(users, dtype=np.int64),
        "credit_score": scores,
        "loan_amount": loan,
        "term": rng.integers(0, len(LOAN_TERMS), n),
        "purpose": rng.integers(0, len(LOAN_PURPOSES), n),
        "channel": rng.choice(len(CHANNELS), n, p=[0.45, 0.4, 0.1, 0.05]),
        "device": np.asarray(users, dtype=np.int64),  # index into the device pool: customer i owns device i
        "pattern": np.full(n, pattern, dtype=np.int64),
    }


def _drift(rng: np.random.Generator, c: dict[str, np.ndarray], from_ms: int, world: FraudWorld) -> None:
    """Applicants from `from_ms` on: bureau scores ~45 points lower, loans ~1.5x larger, more of them
    through partners; normal traffic still keeps off the seed rule's pattern."""
    drifted = c["ts_ms"] >= from_ms
    n = int(drifted.sum())
    c["credit_score"][drifted] = np.clip(c["credit_score"][drifted] - np.round(rng.normal(45, 10, n)), 300, 850)
    c["loan_amount"][drifted] = np.round(np.clip(c["loan_amount"][drifted] * rng.uniform(1.3, 1.7, n), 500,
                                                 250_000), 2)
    c["channel"][drifted] = np.where(rng.random(n) < 0.3, CHANNELS.index("partner"), c["channel"][drifted])
    normal_poor = drifted & (c["pattern"] != 0) & (c["credit_score"] < world.poor_score_below)
    c["loan_amount"][normal_poor] = np.minimum(c["loan_amount"][normal_poor], world.large_loan_above)


APPLICATION_COLUMNS = [
    "schema_version", "application_id", "user_id", "credit_score", "loan_amount", "timestamp", "annual_income",
    "loan_term_months", "loan_purpose", "employment_status", "channel", "device_id", "city", "latitude",
    "longitude", "is_fraud", "fraud_pattern",
]


# ---- transactions ---------------------------------------------------------------------------
def transactions(count: int, config: GeneratorConfig, population: Population | None = None) -> pl.DataFrame:
    pop = population or Population(config)
    rng = np.random.default_rng([config.seed, 3] + ([config.part] if config.part else []))
    world = config.world
    wanted = _pattern_counts(round(count * config.fraud_share), TRANSACTION_PATTERNS)
    benign = _pattern_counts(round(count * config.lookalike_share), TRANSACTION_LOOKALIKES)
    times = _timeline(rng, count, config)
    span = (int(times[0]), int(times[-1]) + 1) if count else (0, 1)
    travel = _travellers(rng, pop, benign["benign_travel"], span, world) if benign["benign_travel"] else None
    if travel is None or not len(travel["ts_ms"]):
        travel, benign["benign_big_ticket"] = None, sum(benign.values())  # no room for a flight
    n_normal = count - sum(wanted.values()) - (len(travel["ts_ms"]) if travel else 0)

    # Normal traffic: as many card holders as give each ~25 purchases, some far more active than
    # others; every normal purchase happens in the customer's home city, on their own device, below
    # 2.5x their usual spend (a travellers' customers are others: see _travellers).
    # (and enough of them that every injected pattern finds a customer with a purchase history)
    pool = rng.permutation(pop.size)
    if travel:
        pool = pool[~np.isin(pool, travel["user"])]
    active = pool[: min(len(pool), max(100, count // 25, 4 * sum(wanted.values())))]
    activity = rng.gamma(0.8, 1.0, len(active))
    users = active[rng.choice(len(active), n_normal, p=activity / activity.sum())]
    normal = _transaction_rows(rng, pop, users, times[:n_normal], pop.home_city[users], NO_PATTERN)
    normal["amount"] = np.round(np.minimum(pop.usual_spend[users] * rng.lognormal(0, 0.35, n_normal),
                                           pop.usual_spend[users] * 2.5), 2).clip(0.5)
    # look-alike: a big-ticket purchase now and then (4-15x the customer's usual spend), where big
    # tickets are bought
    big = rng.choice(n_normal, min(benign["benign_big_ticket"], n_normal), replace=False)
    normal["amount"][big] = np.round(pop.usual_spend[users[big]] * rng.uniform(4, 15, len(big)), 2)
    normal["category"][big] = rng.choice([MERCHANT_CATEGORIES.index(c) for c in ("electronics", "travel")], len(big))
    normal["pattern"][big] = len(TRANSACTION_PATTERNS) + TRANSACTION_LOOKALIKES.index("benign_big_ticket")
    parts = [normal] + ([travel] if travel else [])

    # Patterns are placed after a customer's last normal purchase, so no later normal purchase of
    # theirs is compared against the fraudulent one; only customers with a history are used.
    seen = np.bincount(users, minlength=pop.size)
    last = np.full(pop.size, -1, dtype=np.int64)
    np.maximum.at(last, users, normal["ts_ms"])
    # ...and inside the stream's time span, at least a second after that purchase.
    room = int(times[-1]) - last if count else last
    experienced = rng.permutation(np.flatnonzero((seen >= world.min_history) & (room > 1_000)))
    k_travel, k_spike = wanted["impossible_travel"], wanted["amount_spike"]
    testing = _bursts(rng, wanted["card_testing"], *world.testing_run)
    takeovers = _bursts(rng, wanted["account_takeover"], 1, 3)
    campaigns = _bursts(rng, wanted["compromised_merchant"], *world.merchant_cards)
    billed = _bursts(rng, wanted["inflated_purchases"], *world.inflation_cards)
    need = (k_travel + k_spike + len(testing) + len(takeovers) + wanted["compromised_merchant"]
            + wanted["inflated_purchases"])
    if need > len(experienced):
        raise ValueError(f"{need} injected fraud cases need as many customers with at least "
                         f"{world.min_history} purchases, but only {len(experienced)} of {pop.size} have them; "
                         "lower the fraud share or raise the number of customers")

    # (d) impossible travel: a purchase in a distant city minutes after one at home
    u, experienced = experienced[:k_travel], experienced[k_travel:]
    far = np.array([_far_city(rng, pop, h, world.travel_min_km) for h in pop.home_city[u]],
                   dtype=np.int64)
    gap = rng.integers(1_000, np.minimum(30 * 60_000, room[u]) + 1)
    rows = _transaction_rows(rng, pop, u, last[u] + gap, far, 0)
    rows["amount"] = np.round(pop.usual_spend[u] * rng.uniform(0.5, 2.0, len(u)), 2).clip(0.5)
    parts.append(rows)

    # (e) amount spike: a purchase many times the customer's usual spend
    u, experienced = experienced[:k_spike], experienced[k_spike:]
    gap = rng.integers(1_000, np.minimum(120 * 60_000, room[u]) + 1)
    rows = _transaction_rows(rng, pop, u, last[u] + gap, pop.home_city[u], 1)
    spike = pop.usual_spend[u] * rng.uniform(*world.spike_multiple, len(u))
    rows["amount"] = np.round(np.maximum(spike, world.spike_min_amount), 2)
    parts.append(rows)

    # (f) card testing: the card's details tried out on another device, in the fraudster's city, with
    # tiny purchases within a few minutes, then a large one
    u, experienced = experienced[:len(testing)], experienced[len(testing):]
    n = int(testing.sum())
    runs, _, is_large, width, start = _runs_after(rng, testing, last[u], room[u],
                                                  world.testing_span_minutes * 60_000, 120 * 60_000)
    offset = np.where(is_large, width[runs], np.sort(rng.uniform(0, 0.6, n)) * width[runs]).astype(np.int64)
    order = np.lexsort((offset, runs))
    rows = _transaction_rows(rng, pop, u[runs], (start[runs] + offset)[order],
                             rng.integers(0, len(pop.city_names), len(u))[runs], 2)
    rows["amount"] = np.where(is_large, np.round(pop.usual_spend[u[runs]] * rng.uniform(3, 10, n), 2),
                              np.round(rng.uniform(0.5, world.test_max_amount, n), 2))
    rows["category"][:] = MERCHANT_CATEGORIES.index("online")
    rows["device"] = pop.size + runs  # the fraudster's device, one per run
    parts.append(rows)

    # (g) account takeover: an established customer's account used from a new device in another city,
    # for one to three large purchases within the next hours
    u, experienced = experienced[:len(takeovers)], experienced[len(takeovers):]
    n = int(takeovers.sum())
    cases, is_first, _, width, start = _runs_after(rng, takeovers, last[u], room[u],
                                                   world.takeover_span_minutes * 60_000, 360 * 60_000)
    offset = np.where(is_first, 0, rng.integers(1, width[cases] + 1))
    order = np.lexsort((offset, cases))
    city = (pop.home_city[u] + rng.integers(1, len(pop.city_names), len(u))) % len(pop.city_names)  # not home
    rows = _transaction_rows(rng, pop, u[cases], (start[cases] + offset)[order], city[cases], 3)
    rows["amount"] = np.round(pop.usual_spend[u[cases]] * np.where(is_first, rng.uniform(4, 12, n),
                                                                   rng.uniform(2, 8, n)), 2)
    rows["device"] = pop.size + len(testing) + cases
    parts.append(rows)

    # (h) compromised merchant: over a campaign of hours to days, many cards (each with a history that
    # ended before the campaign began) defrauded at one merchant, each for several times its usual spend
    width = min(world.merchant_span_minutes * 60_000, span[1] - span[0])
    merchants = rng.choice(len(pop.merchants), len(campaigns), replace=False)
    for size, merchant in zip(campaigns, merchants, strict=True):
        begin = int(rng.integers(span[0] + (span[1] - span[0] - width) // 2, max(span[1] - width, span[0] + 1) + 1))
        eligible = experienced[last[experienced] < begin - 1_000]
        u = eligible[:size] if len(eligible) >= size else experienced[:size]
        experienced = experienced[~np.isin(experienced, u)]
        at = np.maximum(begin + rng.integers(0, width + 1, len(u)), last[u] + 1_000)
        rows = _transaction_rows(rng, pop, u, at, pop.home_city[u], 4)
        rows["merchant"][:] = merchant
        rows["amount"] = np.round(pop.usual_spend[u] * rng.uniform(4, 10, len(u)), 2)
        parts.append(rows)

    # (i) inflated purchases: over a campaign of up to two days, a rogue merchant bills each of its
    # customers once, at home, on their own card and device, for about twice their usual spend
    width = min(world.inflation_span_minutes * 60_000, span[1] - span[0])
    merchants = rng.choice(np.setdiff1d(np.arange(len(pop.merchants)), merchants), len(billed), replace=False)
    for size, merchant in zip(billed, merchants, strict=True):
        begin = int(rng.integers(span[0], max(span[1] - width, span[0] + 1) + 1))
        u, experienced = experienced[:size], experienced[size:]
        at = np.minimum(np.maximum(begin + rng.integers(0, width + 1, len(u)), last[u] + 1_000), span[1] - 1)
        rows = _transaction_rows(rng, pop, u, at, pop.home_city[u], 5)
        rows["merchant"][:] = merchant
        rows["amount"] = np.round(pop.usual_spend[u] * rng.uniform(*world.inflation_multiple, len(u)), 2)
        parts.append(rows)

    c = _in_time_order(_concat(parts))
    scores = pop.base_score[c["user"]]
    policy = config.policy
    risk = risk_level_codes(scores, policy)
    fraud_devices = pl.Series(np.char.mod("DX%011x", rng.integers(0, 2**44, len(testing) + len(takeovers))))
    return _frame({
        "amount": c["amount"],
        "timestamp": _timestamps(c["ts_ms"]),
        "location": _strings(pop.city_names, c["city"]),
        "latitude": pop.city_lat[c["city"]],
        "longitude": pop.city_lon[c["city"]],
        "merchant": _strings(pop.merchants, c["merchant"]),
        "merchant_category": _strings(MERCHANT_CATEGORIES, c["category"]),
        "card_type": _strings(CARD_TYPES, pop.card[c["user"]]),
        "device_id": pl.concat([pop.device_ids, fraud_devices.cast(pl.String)]).gather(c["device"]),
        "credit_score": scores,
        "risk_level": _strings(RISK_LEVELS, risk),
    }, c["user"], c["pattern"], TRANSACTION_PATTERNS, TRANSACTION_LOOKALIKES, "transaction_id",
        id_prefix("TX", config), TRANSACTION_COLUMNS)


def _runs_after(rng: np.random.Generator, sizes: np.ndarray, last: np.ndarray, room: np.ndarray, width_ms: int,
                max_gap_ms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Runs of `sizes` events, one per customer, each after the customer's last purchase (`last`) and
    inside the stream (`room` left after it): per event its run and whether it is the run's first or
    last; per run the width it may span (`width_ms`, squeezed into the room) and its start, at most
    `max_gap_ms` after the last purchase."""
    n = int(sizes.sum())
    runs = np.repeat(np.arange(len(sizes)), sizes)
    first = np.cumsum(sizes) - sizes
    is_first, is_last = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    is_first[first], is_last[first + sizes - 1] = True, True
    width = np.minimum(width_ms, np.maximum(room - 1_000, 1))
    start = last + rng.integers(1_000, np.maximum(np.minimum(max_gap_ms, room - width), 1_000) + 1)
    return runs, is_first, is_last, width, start


def _travellers(rng: np.random.Generator, pop: Population, wanted: int, span: tuple[int, int],
                world: FraudWorld) -> dict[str, np.ndarray] | None:
    """Look-alike: customers who really fly. Each makes three purchases at home over the hours before
    a flight to a city at least `FraudWorld.traveller_min_km` away, then one to three there after landing
    (those are labelled benign_travel). The flight takes the distance at a door-to-door speed of about
    450 km/h (lognormal, a few faster than the travel rule's plane): some of them do alert. None in a
    stream shorter than TRAVEL_MIN_SPAN_HOURS."""
    hour = 3_600_000
    if span[1] - span[0] < TRAVEL_MIN_SPAN_HOURS * hour:
        return None
    rng = np.random.default_rng(rng.integers(0, 2**63))
    away = _bursts(rng, wanted, 1, 3)
    u = rng.choice(pop.size, len(away), replace=False)
    far = np.array([_far_city(rng, pop, h, world.traveller_min_km) for h in pop.home_city[u]], dtype=np.int64)
    km = haversine_km(pop.city_lat[pop.home_city[u]], pop.city_lon[pop.home_city[u]], pop.city_lat[far],
                      pop.city_lon[far])
    flight = (km / rng.lognormal(np.log(450), 0.35, len(u)) * hour).astype(np.int64)
    trip = 4 * hour + flight + 4 * hour  # three purchases at home, the flight, the purchases there
    ok = trip < span[1] - span[0]
    u, away, far, flight, trip = u[ok], away[ok], far[ok], flight[ok], trip[ok]
    departure = rng.integers(span[0] + 4 * hour, span[1] - trip + 4 * hour)
    home_ts = departure[:, None] - np.sort(rng.integers(0, 4 * hour, (len(u), 3)), axis=1)[:, ::-1]
    cases = np.repeat(np.arange(len(u)), away)
    there = departure[cases] + flight[cases] + rng.integers(0, 4 * hour, len(cases))
    users = np.concatenate([np.repeat(u, 3), u[cases]])
    rows = _transaction_rows(rng, pop, users, np.concatenate([home_ts.ravel(), there]),
                             np.concatenate([np.repeat(pop.home_city[u], 3), far[cases]]), NO_PATTERN)
    rows["amount"] = np.round(pop.usual_spend[users] * rng.lognormal(0, 0.35, len(users)), 2).clip(0.5)
    rows["pattern"][3 * len(u):] = len(TRANSACTION_PATTERNS) + TRANSACTION_LOOKALIKES.index("benign_travel")
    return rows


TRANSACTION_COLUMNS = [
    "schema_version", "transaction_id", "user_id", "amount", "timestamp", "location", "latitude", "longitude",
    "merchant", "merchant_category", "card_type", "device_id", "credit_score", "risk_level", "is_fraud",
    "fraud_pattern",
]


def _far_city(rng: np.random.Generator, pop: Population, home: int, min_km: float) -> int:
    distances = haversine_km(pop.city_lat[home], pop.city_lon[home], pop.city_lat, pop.city_lon)
    return int(rng.choice(np.flatnonzero(distances >= min_km)))


def _transaction_rows(rng: np.random.Generator, pop: Population, users: np.ndarray, ts_ms: np.ndarray,
                      city: np.ndarray, pattern: int) -> dict[str, np.ndarray]:
    n = len(users)
    return {
        "ts_ms": np.asarray(ts_ms, dtype=np.int64),
        "user": np.asarray(users, dtype=np.int64),
        "amount": np.zeros(n),
        "city": np.asarray(city, dtype=np.int64),
        "merchant": rng.integers(0, len(pop.merchants), n),
        "category": rng.integers(0, len(MERCHANT_CATEGORIES), n),
        "device": np.asarray(users, dtype=np.int64),  # index into the device pool: customer i owns device i
        "pattern": np.full(n, pattern, dtype=np.int64),
    }


# ---- loan outcomes ---------------------------------------------------------------------------
# The hidden model of the simulated world (log-odds of default). Scoring never sees it; the credit
# model's benchmark compares against it as the best achievable.
PD_INTERCEPT = -3.2
PD_PURPOSE = {"debt_consolidation": 0.45, "home_improvement": -0.2, "car": -0.1, "education": 0.2, "medical": 0.35,
              "business": 0.5, "other": 0.15}
PD_EMPLOYMENT = {"employed": -0.3, "self_employed": 0.35, "unemployed": 1.1, "retired": 0.0, "student": 0.6}
PD_CHANNEL = {"web": 0.0, "mobile": 0.15, "branch": -0.35, "partner": 0.4}
FRAUD_PD = 0.9  # a fraudulent application's loan is hardly ever repaid


PD_NOISE_SD = 0.6  # the applicant's unobserved log-odds of default


def credit_logit(apps: pl.DataFrame) -> np.ndarray:
    """Log-odds of default from what the application shows (the hidden model's systematic part)."""
    score = apps["credit_score"].to_numpy().astype(np.float64)
    income = np.maximum(apps["annual_income"].to_numpy(), 1.0)
    lti = apps["loan_amount"].to_numpy() / income  # loan amount relative to income
    term = apps["loan_term_months"].to_numpy().astype(np.float64)
    self_employed = (apps["employment_status"] == "self_employed").to_numpy()
    logit = (PD_INTERCEPT - 0.9 * (score - 650) / 100 + 4.6 * (lti - 0.25) + 0.012 * (term - 36)
             - 0.35 * np.log(income / 55_000)
             + apps["loan_purpose"].replace_strict(PD_PURPOSE, return_dtype=pl.Float64).to_numpy()
             + apps["employment_status"].replace_strict(PD_EMPLOYMENT, return_dtype=pl.Float64).to_numpy()
             + apps["channel"].replace_strict(PD_CHANNEL, return_dtype=pl.Float64).to_numpy()
             + 8.0 * np.maximum(lti - 0.35, 0) * self_employed)  # stretched self-employed borrowers
    return logit


def true_pd(apps: pl.DataFrame) -> np.ndarray:
    """The PD each application's characteristics determine: E[sigmoid(logit + noise)] over the
    unobserved noise (Gauss-Hermite quadrature); fraud is not a characteristic."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(24)
    logit = credit_logit(apps)[:, None] + PD_NOISE_SD * nodes[None, :]
    return (1 / (1 + np.exp(-logit))) @ (weights / weights.sum())


def outcomes_of(apps: pl.DataFrame, config: GeneratorConfig, as_of: datetime | None = None) -> pl.DataFrame:
    """The outcome of each of these applications observed by `as_of` (default: now), in time order."""
    rng = np.random.default_rng([config.seed, 4])
    n = apps.height
    drawn = 1 / (1 + np.exp(-(credit_logit(apps) + rng.normal(0, PD_NOISE_SD, n))))
    defaulted = rng.random(n) < np.where(apps["is_fraud"].to_numpy(), np.maximum(drawn, FRAUD_PD), drawn)
    pd_ = true_pd(apps)
    applied_ms = _epoch_ms(apps["timestamp"])
    window_ms = config.performance_window_days * 86_400_000
    observed_ms = applied_ms + np.where(defaulted, rng.uniform(0.1, 1.0, n) * window_ms, window_ms).astype(np.int64)
    limit = int((as_of or datetime.now(UTC)).timestamp() * 1000)
    order = np.argsort(observed_ms, kind="stable")
    order = order[observed_ms[order] <= limit]
    return pl.DataFrame({
        "schema_version": np.full(len(order), SCHEMA_VERSION),
        "application_id": apps["application_id"].gather(order),
        "defaulted": defaulted[order],
        "observed_at": _timestamps(observed_ms[order]),
        "true_pd": np.round(pd_[order], 6),
    })


def outcomes(count: int, config: GeneratorConfig, as_of: datetime | None = None) -> pl.DataFrame:
    """The outcomes of the `count` applications the same config generates, observed by `as_of`."""
    return outcomes_of(applications(count, config), config, as_of)


def chargebacks_of(txs: pl.DataFrame, config: GeneratorConfig, as_of: datetime | None = None) -> pl.DataFrame:
    """The chargebacks of these transactions reported by `as_of` (default: now), in time order: one
    per fraudulent purchase, a drawn delay after it (`FraudWorld.chargeback_delay_*`)."""
    world = config.world
    fraud = txs.filter(pl.col("is_fraud"))
    rng = np.random.default_rng([config.seed, 6])
    delay_days = np.clip(rng.lognormal(np.log(world.chargeback_delay_days), world.chargeback_delay_spread,
                                       fraud.height), 1.0, world.chargeback_max_delay_days)
    reported_ms = _epoch_ms(fraud["timestamp"]) + (delay_days * 86_400_000).astype(np.int64)
    limit = int((as_of or datetime.now(UTC)).timestamp() * 1000)
    order = np.argsort(reported_ms, kind="stable")
    order = order[reported_ms[order] <= limit]
    absent = (fraud["merchant_category"] == "online").to_numpy()[order]
    return pl.DataFrame({
        "schema_version": np.full(len(order), SCHEMA_VERSION),
        "transaction_id": fraud["transaction_id"].gather(order),
        "user_id": fraud["user_id"].gather(order),
        "merchant": fraud["merchant"].gather(order),
        "amount": fraud["amount"].gather(order),
        "reason_code": _strings(CHARGEBACK_REASONS, np.where(absent, 0, 1)),
        "reported_at": _timestamps(reported_ms[order]),
    })


def chargebacks(count: int, config: GeneratorConfig, as_of: datetime | None = None) -> pl.DataFrame:
    """The chargebacks of the `count` transactions the same config generates, reported by `as_of`."""
    return chargebacks_of(transactions(count, config), config, as_of)


def _earlier(count: int, days: int, config: GeneratorConfig) -> GeneratorConfig:
    """The config that spreads about `count` events over the `days` before `config.start`."""
    if days < 1:
        raise ValueError("days must be >= 1")
    return dataclasses.replace(config, start=config.start - timedelta(days=days),
                               rate_per_second=max(count, 1) / (days * 86_400))


def _before(frame: pl.DataFrame, config: GeneratorConfig) -> pl.DataFrame:
    """The events before `config.start` (a Poisson timeline may run a little past the end)."""
    return frame.filter(pl.col("timestamp") < config.start.strftime("%Y-%m-%dT%H:%M:%S.000Z"))


def history(count: int, days: int, config: GeneratorConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    """About `count` applications spread over the `days` before `config.start` (none on or after
    it), and their outcomes observed by `config.start`: what a scorecard learns from."""
    earlier = _earlier(count, days, config)
    apps = _before(applications(count, earlier), config)
    return apps, outcomes_of(apps, earlier, as_of=config.start)


def transaction_history(count: int, days: int, config: GeneratorConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    """About `count` transactions over the `days` before `config.start`, and their chargebacks reported
    by `config.start`: what a fraud model learns from (the last days' fraud mostly not yet reported,
    as on a real book). Each day is a part of its own (its own active customers and fraud, the same
    population), so fraud happens on every day rather than after each customer's last purchase of
    the whole history."""
    if days < 1:
        raise ValueError("days must be >= 1")
    population, per_day, parts = Population(config), -(-count // days), []
    for i in range(days):
        day = dataclasses.replace(config, start=config.start - timedelta(days=days - i),
                                  rate_per_second=max(per_day, 1) / 86_400, part=i + 1)
        parts.append(_before(transactions(per_day, day, population), dataclasses.replace(day, start=day.start
                                                                                        + timedelta(days=1))))
    txs = pl.concat(parts)
    return txs, chargebacks_of(txs, config, as_of=config.start)


# ---- entry points ---------------------------------------------------------------------------
def generate(kind: str, count: int, config: GeneratorConfig) -> pl.DataFrame:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    if count < 0:
        raise ValueError("count must be >= 0")
    if kind == "outcomes":
        return outcomes(count, config)
    if kind == "chargebacks":
        return chargebacks(count, config)
    return applications(count, config) if kind == "applications" else transactions(count, config)


def to_json_lines(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_ndjson(buffer)
    return buffer.getvalue()


def write_json_lines(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    frame.write_ndjson(tmp)
    tmp.replace(path)


# ---- bad input, on purpose: what the validation, the DLQ and data_quality_issues are for -------------
def _corrupt_one(line: bytes, kind: int) -> bytes:
    if kind == 4:
        return line[: len(line) // 2]  # truncated: not JSON
    record = json.loads(line)
    if kind == 0:
        record["credit_score"] = 900
    elif kind == 1:
        record.pop("user_id", None)
    elif kind == 2:
        record["timestamp"] = record["timestamp"].rstrip("Z")  # no time zone
    else:
        money = "loan_amount" if "loan_amount" in record else "amount"
        record[money] = -abs(record[money])
    return json.dumps(record).encode()


def corrupt(lines: list[bytes], count: int) -> list[bytes]:
    """`count` lines, spread evenly, replaced by invalid versions of themselves (score out of range,
    missing user, time without zone, negative amount, truncated JSON, in turn). Deterministic."""
    if count <= 0 or not lines:
        return lines
    out = list(lines)
    positions = np.linspace(0, len(lines) - 1, num=min(count, len(lines)), dtype=int)
    for n, i in enumerate(dict.fromkeys(positions.tolist())):
        out[i] = _corrupt_one(out[i], n % 5)
    return out
