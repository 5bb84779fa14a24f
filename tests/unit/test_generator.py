"""The generator: reproducible, contract-valid, and every injected pattern present, labelled and
distinguishable from normal traffic by the rule it is meant to break; the benign look-alikes present,
labelled, and like the patterns they resemble."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from credit_platform.contracts.events import Chargeback, LoanApplication, LoanOutcome, Transaction
from credit_platform.ingest import generator
from credit_platform.ingest.generator import (
    APPLICATION_LOOKALIKES,
    APPLICATION_PATTERNS,
    TRANSACTION_LOOKALIKES,
    TRANSACTION_PATTERNS,
)
from credit_platform.ingest.scenario import DEFAULT_FRAUD_WORLD as WORLD
from credit_platform.ingest.scenario import GeneratorConfig
from credit_platform.rules.fraud import DEFAULT_FRAUD_RULES as RULES
from credit_platform.rules.fraud import haversine_km, is_large_loan_low_score
from credit_platform.rules.lending import DEFAULT_POLICY as POLICY
from credit_platform.rules.lending import risk_level

COUNT = 40_000
CONFIG = GeneratorConfig(seed=11, fraud_share=0.03)


@pytest.fixture(scope="module")
def apps() -> pl.DataFrame:
    return generator.generate("applications", COUNT, CONFIG)


@pytest.fixture(scope="module")
def txs() -> pl.DataFrame:
    return generator.generate("transactions", COUNT, CONFIG)


@pytest.mark.parametrize("kind", generator.KINDS)
def test_same_seed_same_bytes_other_seed_other_bytes(kind, tmp_path):
    paths = [tmp_path / f"{i}.jsonl" for i in range(3)]
    for path, seed in zip(paths, (5, 5, 6), strict=True):
        generator.write_json_lines(generator.generate(kind, 5_000, GeneratorConfig(seed=seed)), path)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()


@pytest.mark.parametrize(("kind", "model"), [("applications", LoanApplication), ("transactions", Transaction),
                                             ("outcomes", LoanOutcome)])
def test_every_event_satisfies_the_contract(kind, model):
    data = generator.to_json_lines(generator.generate(kind, 3_000, CONFIG))
    lines = data.splitlines()
    assert len(lines) == 3_000  # (outcomes: every window of 2026-01-01's applications has closed)
    for line in lines:
        model.model_validate_json(line)


@pytest.mark.parametrize(("fixture", "patterns", "lookalikes"), [("apps", APPLICATION_PATTERNS, APPLICATION_LOOKALIKES),
                                                                ("txs", TRANSACTION_PATTERNS, TRANSACTION_LOOKALIKES)])
def test_patterns_present_in_expected_share_with_labels(fixture, patterns, lookalikes, request):
    frame = request.getfixturevalue(fixture)
    assert frame.height == COUNT
    counts = dict(frame["fraud_pattern"].drop_nulls().value_counts().rows())
    expected = generator._pattern_counts(round(COUNT * CONFIG.fraud_share), patterns)
    assert {p: counts.get(p) for p in patterns} == expected
    # the look-alikes: their share in all (a stream of minutes has no travellers: big tickets instead)
    assert sum(counts.get(p, 0) for p in lookalikes) == round(COUNT * CONFIG.lookalike_share)
    assert set(counts) <= set(patterns) | set(lookalikes)
    assert (frame["is_fraud"] == frame["fraud_pattern"].is_in(list(patterns)).fill_null(False)).all()
    ids = frame[frame.columns[1]]
    assert ids.n_unique() == COUNT
    assert frame["timestamp"].is_sorted()
    # one order of each customer's events in every engine: never two in the same millisecond
    assert frame.select("user_id", "timestamp").n_unique() == COUNT


def test_seed_rule_fires_on_its_pattern_only(apps):
    hits = np.array([is_large_loan_low_score(a, s) for a, s in zip(apps["loan_amount"], apps["credit_score"],
                                                                   strict=True)])
    pattern = (apps["fraud_pattern"] == "large_loan_low_score").fill_null(False).to_numpy()
    assert hits[pattern].all()
    assert not hits[~pattern].any()


def _max_in_window(frame: pl.DataFrame, group: str, window_min: int, distinct: str | None = None) -> pl.DataFrame:
    """Per group: the most events (or distinct values) within any window starting at an event."""
    ts = pl.col("timestamp").str.to_datetime("%Y-%m-%dT%H:%M:%S%.3fZ")
    rolled = frame.with_columns(ts.alias("ts")).sort("ts").rolling("ts", period=f"{window_min}m", group_by=group)
    agg = pl.col(distinct).n_unique() if distinct else pl.len()
    return rolled.agg(agg.alias("n")).group_by(group).agg(pl.col("n").max())


def test_velocity_bursts_exceed_threshold_and_normal_users_never_do(apps):
    normal = _max_in_window(apps.filter(pl.col("fraud_pattern").is_null()), "user_id", RULES.velocity_window_minutes)
    assert normal["n"].max() < RULES.velocity_min_applications
    burst = _max_in_window(apps.filter(pl.col("fraud_pattern") == "application_velocity"), "user_id",
                           RULES.velocity_window_minutes)
    assert burst["n"].min() >= RULES.velocity_min_applications


def test_shared_devices_have_many_users_and_normal_devices_one(apps):
    normal = apps.filter(pl.col("fraud_pattern").is_null()).group_by("device_id").agg(pl.col("user_id").n_unique())
    assert normal["user_id"].max() == 1
    # households: two to four people of one city on one device, within the hour, mostly two
    homes = apps.filter(pl.col("fraud_pattern") == "benign_household").group_by("device_id").agg(
        pl.col("user_id").n_unique().alias("people"), pl.col("city").n_unique().alias("cities"))
    assert homes["people"].is_between(2, 4).all() and (homes["cities"] == 1).all()
    assert (homes["people"] == 2).mean() > 0.5 and (homes["people"] == 4).any()
    shared = _max_in_window(apps.filter(pl.col("fraud_pattern") == "shared_device"), "device_id",
                            RULES.device_window_minutes, distinct="user_id")
    assert shared["n"].min() >= RULES.device_min_users


def _previous_per_user(txs: pl.DataFrame) -> pl.DataFrame:
    return txs.sort("timestamp").with_columns(
        pl.col("latitude").shift().over("user_id").alias("prev_lat"),
        pl.col("longitude").shift().over("user_id").alias("prev_lon"),
        pl.col("timestamp").str.to_datetime("%Y-%m-%dT%H:%M:%S%.3fZ").diff().over("user_id").alias("gap"),
        pl.col("amount").rolling_mean(RULES.spike_history).shift().over("user_id").alias("recent_mean"),
    )


def test_impossible_travel_is_faster_than_a_plane_and_normal_purchases_stay_home(txs):
    prev = _previous_per_user(txs).filter(pl.col("prev_lat").is_not_null())
    km = haversine_km(prev["prev_lat"].to_numpy(), prev["prev_lon"].to_numpy(),
                                prev["latitude"].to_numpy(), prev["longitude"].to_numpy())
    hours = prev["gap"].dt.total_milliseconds().to_numpy() / 3_600_000
    speed = km / np.maximum(hours, 1e-9)
    pattern = prev["fraud_pattern"].fill_null("").to_numpy()
    travel = pattern == "impossible_travel"
    assert travel.sum() == (txs["fraud_pattern"] == "impossible_travel").sum()
    assert (km[travel] >= RULES.travel_min_distance_km).all()
    assert (speed[travel] > RULES.travel_max_speed_kmh).all()
    assert (km[pattern == ""] == 0).all()


def test_amount_spikes_dwarf_recent_spend_and_normal_purchases_do_not(txs):
    prev = _previous_per_user(txs).filter(pl.col("recent_mean").is_not_null())
    ratio = (prev["amount"] / prev["recent_mean"]).to_numpy()
    pattern = prev["fraud_pattern"].fill_null("").to_numpy()
    # the world's spikes, 15-30x the usual spend, against the recent purchases' mean (which varies
    # around the usual spend): what the deployed factor sees
    assert (ratio[pattern == "amount_spike"] >= WORLD.spike_multiple[0] / 3).all()
    assert (ratio[pattern == "amount_spike"] >= RULES.spike_factor).mean() > 0.9
    assert (prev.filter(pl.col("fraud_pattern") == "amount_spike")["amount"] >= WORLD.spike_min_amount).all()
    assert WORLD.spike_min_amount >= RULES.spike_min_amount
    assert (ratio[pattern == ""] < RULES.spike_factor).mean() > 0.999


def test_the_generated_fraud_follows_its_own_world_and_not_the_rules_settings():
    """A rule change must move the rule's alerts, never the fraud it is judged on."""
    import dataclasses as dc
    import inspect

    fields = {f.name: f.type for f in dc.fields(GeneratorConfig)}
    assert fields["world"] == "FraudWorld" and "FraudRules" not in fields.values()
    source = inspect.getsource(generator)
    assert "FraudRules" not in source and "DEFAULT_FRAUD_RULES" not in source
    faster = GeneratorConfig(seed=3, world=dc.replace(WORLD, spike_multiple=(40.0, 50.0)))
    spikes = generator.transactions(5_000, faster).filter(pl.col("fraud_pattern") == "amount_spike")
    same = generator.transactions(5_000, GeneratorConfig(seed=3)).filter(pl.col("fraud_pattern") == "amount_spike")
    assert spikes["transaction_id"].to_list() == same["transaction_id"].to_list()
    assert (spikes["amount"] >= same["amount"]).all() and (spikes["amount"] > same["amount"]).mean() > 0.5


def test_customers_are_consistent_across_events(txs):
    per_user = txs.group_by("user_id").agg(pl.col("card_type").n_unique(), pl.col("credit_score").n_unique())
    assert (per_user["card_type"] == 1).all() and (per_user["credit_score"] == 1).all()
    # a customer's own device on every purchase but the fraudsters' (card testing, account takeover)
    own = txs.filter(~pl.col("fraud_pattern").is_in(["card_testing", "account_takeover"]).fill_null(False))
    assert (own.group_by("user_id").agg(pl.col("device_id").n_unique())["device_id"] == 1).all()
    levels = [risk_level(s, POLICY) for s in txs["credit_score"].to_list()]
    assert levels == txs["risk_level"].to_list()


def test_rate_and_start_shape_event_times():
    start = GeneratorConfig(seed=1).start
    frame = generator.generate("transactions", 20_000, GeneratorConfig(seed=1, rate_per_second=100))
    first, last = (pl.Series([frame["timestamp"][i]]).str.to_datetime("%Y-%m-%dT%H:%M:%S%.3fZ")[0] for i in (0, -1))
    assert first >= start.replace(tzinfo=None)
    assert 180 <= (last - first).total_seconds() <= 220  # 20k events at 100/s: ~200 s


def test_bad_configuration_is_refused():
    with pytest.raises(ValueError, match="fraud_share"):
        GeneratorConfig(fraud_share=0.9)
    with pytest.raises(ValueError, match="lower the fraud share"):
        generator.generate("transactions", 1_000, GeneratorConfig(fraud_share=0.5, customers=500))


def test_corrupt_breaks_exactly_the_asked_records_each_refused_by_the_contract():
    import pydantic

    from credit_platform.contracts.events import LoanApplication
    from credit_platform.ingest.generator import corrupt

    lines = generator.to_json_lines(generator.generate("applications", 100, GeneratorConfig(seed=5))).splitlines()
    broken = corrupt(lines, 10)
    changed = [b for a, b in zip(lines, broken, strict=True) if a != b]
    assert len(changed) == 10 and corrupt(lines, 10) == broken
    for line in changed:
        with pytest.raises(pydantic.ValidationError):
            LoanApplication.model_validate_json(line)


# ---- loan outcomes ---------------------------------------------------------------------------------
def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    positives = labels.sum()
    return (ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * (len(labels) - positives))


@pytest.fixture(scope="module")
def outcomes(apps) -> pl.DataFrame:
    return apps.join(generator.outcomes_of(apps, CONFIG), on="application_id")


def test_outcomes_are_learnable_but_not_from_the_bureau_score_alone(outcomes):
    defaulted = outcomes["defaulted"].to_numpy()
    assert 0.05 < defaulted.mean() < 0.15
    true_auc = _auc(defaulted, outcomes["true_pd"].to_numpy())
    bureau_auc = _auc(defaulted, -outcomes["credit_score"].to_numpy())
    assert true_auc > 0.72 and bureau_auc < true_auc - 0.05, (true_auc, bureau_auc)
    assert outcomes.filter(pl.col("is_fraud"))["defaulted"].mean() > 0.8


def test_outcomes_are_observed_within_their_window_and_only_once_it_is_seen():
    from datetime import UTC, datetime, timedelta

    config = GeneratorConfig(seed=4, start=datetime(2026, 1, 1, tzinfo=UTC), rate_per_second=0.01,
                             performance_window_days=30)
    apps = generator.applications(2_000, config)  # two and a half days of applications
    every = generator.outcomes_of(apps, config, as_of=datetime(2030, 1, 1, tzinfo=UTC))
    assert every.height == apps.height and every["application_id"].n_unique() == apps.height
    joined = apps.join(every, on="application_id").with_columns(
        (pl.col("observed_at").str.to_datetime(time_zone="UTC")
         - pl.col("timestamp").str.to_datetime(time_zone="UTC")).alias("after"))
    window = timedelta(days=30)
    assert (joined.filter(~pl.col("defaulted"))["after"] == window).all()  # repaid: when the window closed
    assert ((joined.filter(pl.col("defaulted"))["after"] > timedelta(0))
            & (joined.filter(pl.col("defaulted"))["after"] <= window)).all()
    as_of = datetime(2026, 1, 31, 12, tzinfo=UTC)
    seen = generator.outcomes_of(apps, config, as_of=as_of)
    assert 0 < seen.height < apps.height
    assert (seen["observed_at"].str.to_datetime(time_zone="UTC") <= as_of).all()
    assert seen["observed_at"].is_sorted()


def test_every_fraudulent_purchase_and_nothing_else_is_charged_back_days_later(txs):
    from datetime import UTC, datetime, timedelta

    every = generator.chargebacks_of(txs, CONFIG, as_of=datetime(2030, 1, 1, tzinfo=UTC))
    fraud = txs.filter(pl.col("is_fraud"))
    assert sorted(every["transaction_id"]) == sorted(fraud["transaction_id"])  # look-alikes never disputed
    for line in generator.to_json_lines(every).splitlines():
        Chargeback.model_validate_json(line)
    joined = fraud.join(every, on="transaction_id", suffix="_cb")
    assert (joined["user_id"] == joined["user_id_cb"]).all() and (joined["amount"] == joined["amount_cb"]).all()
    assert (joined["merchant"] == joined["merchant_cb"]).all()
    assert ((joined["merchant_category"] == "online") == (joined["reason_code"] == "fraud_card_absent")).all()
    delay = (joined["reported_at"].str.to_datetime(time_zone="UTC")
             - joined["timestamp"].str.to_datetime(time_zone="UTC"))
    assert delay.min() >= timedelta(days=1) and delay.max() <= timedelta(days=WORLD.chargeback_max_delay_days)
    median_days = delay.dt.total_seconds().median() / 86_400
    assert abs(median_days - WORLD.chargeback_delay_days) < 1, median_days
    assert 0.03 < (delay > timedelta(days=14)).mean() < 0.25  # a tail that arrives weeks later
    # only what was reported by `as_of` exists, in the order it was reported
    as_of = datetime.fromisoformat(txs["timestamp"][-1].replace("Z", "+00:00")) + timedelta(days=5)
    seen = generator.chargebacks_of(txs, CONFIG, as_of=as_of)
    assert 0 < seen.height < every.height
    assert (seen["reported_at"].str.to_datetime(time_zone="UTC") <= as_of).all() and seen["reported_at"].is_sorted()


def test_a_transaction_history_has_fraud_on_every_day_and_only_the_chargebacks_reported_by_its_end():
    from datetime import UTC, datetime, timedelta

    start = datetime(2026, 3, 1, tzinfo=UTC)
    config = GeneratorConfig(seed=7, start=start)
    txs, chargebacks = generator.transaction_history(56_000, 28, config)
    day = pl.col("timestamp").str.slice(0, 10)
    days = txs.group_by(day).agg(pl.len().alias("n"), pl.col("is_fraud").sum().alias("fraud")).sort("timestamp")
    assert days.height == 28 and days["timestamp"][0] == "2026-02-01"
    assert (days["n"] > 1_800).all() and (days["fraud"] > 20).all()  # not all at the history's end
    assert txs["transaction_id"].n_unique() == txs.height and txs["timestamp"].max() < "2026-03-01"
    # customers are the same people on every day (one population): a user's home city never changes
    normal = txs.filter(pl.col("fraud_pattern").is_null())
    assert normal.group_by("user_id").agg(pl.col("location").n_unique())["location"].max() == 1
    assert normal.group_by("user_id").agg(pl.col("timestamp").str.slice(0, 10).n_unique())["timestamp"].max() > 1
    reported = set(chargebacks["transaction_id"])
    assert reported <= set(txs.filter(pl.col("is_fraud"))["transaction_id"])
    assert (chargebacks["reported_at"].str.to_datetime(time_zone="UTC") <= start).all()
    fraud = txs.filter(pl.col("is_fraud")).with_columns(
        pl.col("transaction_id").is_in(list(reported)).alias("reported"),
        (start - pl.col("timestamp").str.to_datetime(time_zone="UTC")).alias("age"))
    assert fraud.filter(pl.col("age") > timedelta(days=21))["reported"].mean() > 0.93  # ~4% take longer
    assert fraud.filter(pl.col("age") < timedelta(days=2))["reported"].mean() < 0.1  # not yet disputed


def test_true_pd_falls_with_the_score_and_rises_with_the_loan(apps):
    sample = apps.head(2_000)
    base = generator.true_pd(sample)
    better = generator.true_pd(sample.with_columns(pl.col("credit_score") + 50))
    larger = generator.true_pd(sample.with_columns(pl.col("loan_amount") * 1.5))
    normal = ~sample["is_fraud"].to_numpy()
    assert (better[normal] < base[normal]).all() and (larger[normal] > base[normal]).all()


def test_drift_shifts_the_applicants_after_its_date_only():
    from datetime import UTC, datetime

    start = datetime(2026, 1, 1, tzinfo=UTC)
    plain = GeneratorConfig(seed=9, start=start, rate_per_second=0.05)
    drift_from = datetime(2026, 1, 3, tzinfo=UTC)
    drifted = generator.applications(20_000, GeneratorConfig(seed=9, start=start, rate_per_second=0.05,
                                                              drift_from=drift_from))
    base = generator.applications(20_000, plain)
    after = pl.col("timestamp").str.to_datetime(time_zone="UTC") >= drift_from
    for frame in (base, drifted):
        assert frame.filter(after).height > 5_000 and frame.filter(~after).height > 5_000
    assert drifted.filter(~after).equals(base.filter(~after))
    shift = drifted.filter(after)["credit_score"].mean() - base.filter(after)["credit_score"].mean()
    ratio = drifted.filter(after)["loan_amount"].mean() / base.filter(after)["loan_amount"].mean()
    assert -55 < shift < -35 and 1.4 < ratio < 1.6
    normal = drifted.filter(~pl.col("is_fraud"))  # still off the seed rule's pattern
    assert not any(is_large_loan_low_score(a, s)
                   for a, s in normal.select("loan_amount", "credit_score").rows())


def test_inflated_purchases_stay_under_every_rule_and_show_only_at_their_merchant(txs):
    from credit_platform.rules.fraud import reference_alerts

    billed = txs.filter(pl.col("fraud_pattern") == "inflated_purchases")
    pop = generator.Population(CONFIG)
    users = billed["user_id"].str.slice(1).cast(pl.Int64).to_numpy()
    multiple = billed["amount"].to_numpy() / pop.usual_spend[users]
    low, high = WORLD.inflation_multiple
    assert billed.height > 100 and ((multiple > low - 0.01) & (multiple < high + 0.01)).all()
    # at home, on the customer's own device: nothing but the amount and the merchant is unusual
    assert (billed["location"] == pop.city_names.gather(pop.home_city[users])).all()
    assert (billed["device_id"] == pop.device_ids.gather(users)).all()
    campaigns = billed.group_by("merchant").len()["len"]
    assert campaigns.min() >= WORLD.inflation_cards[0] and campaigns.max() < sum(WORLD.inflation_cards)  # + a tail
    caught = {a.split(":", 1)[1] for a in reference_alerts(generator.applications(0, CONFIG), txs)}
    assert billed["transaction_id"].is_in(list(caught)).mean() < 0.02  # what no threshold sees


def test_card_testing_is_a_run_of_tiny_purchases_then_a_large_one_on_another_device(txs):
    runs = txs.filter(pl.col("fraud_pattern") == "card_testing").sort("timestamp").group_by("user_id").agg(
        pl.col("amount"), pl.col("device_id").n_unique().alias("devices"), pl.col("timestamp").first().alias("t0"),
        pl.col("timestamp").last().alias("t1"))
    small = RULES.testing_max_amount
    for amounts in runs["amount"]:
        assert len(amounts) >= RULES.testing_min_small + 1
        assert all(a <= small for a in amounts[:-1]) and amounts[-1] > 10 * small
    ts = [pl.col(c).str.to_datetime("%Y-%m-%dT%H:%M:%S%.3fZ") for c in ("t1", "t0")]
    minutes = runs.select((ts[0] - ts[1]).dt.total_minutes().alias("m"))["m"]
    assert (minutes <= RULES.testing_window_minutes).all()
    owners = txs.filter(pl.col("fraud_pattern").is_null()).group_by("user_id").agg(pl.col("device_id").first())
    assert runs.join(owners, on="user_id").filter(pl.col("devices") == 1).height == runs.height
    # normal purchases are never that small
    assert (txs.filter(pl.col("fraud_pattern").is_null())["amount"] > small).all()


def test_account_takeover_comes_from_a_new_device_in_another_city_far_above_the_usual(txs):
    prev = _previous_per_user(txs).with_columns(pl.col("device_id").shift().over("user_id").alias("prev_device"),
                                                pl.col("location").shift().over("user_id").alias("prev_location"))
    first = prev.filter((pl.col("fraud_pattern") == "account_takeover")
                        & (pl.col("prev_device") != pl.col("device_id")))
    assert first.height == first["user_id"].n_unique() > 0
    assert (first["location"] != first["prev_location"]).all()
    assert ((first["amount"] / first["recent_mean"]) >= RULES.takeover_factor).mean() > 0.9
    normal = prev.filter(pl.col("fraud_pattern").is_null() & pl.col("prev_device").is_not_null())
    assert (normal["device_id"] == normal["prev_device"]).all()


def test_a_compromised_merchant_sees_many_cards_with_unusual_purchases_then_none(txs):
    fraud = txs.filter(pl.col("fraud_pattern") == "compromised_merchant")
    per_merchant = fraud.group_by("merchant").agg(pl.col("user_id").n_unique().alias("cards"), pl.len())
    assert (per_merchant["cards"] == per_merchant["len"]).all()  # one defrauded purchase per card
    assert (per_merchant["cards"] > RULES.merchant_min_cards).all()
    unusual = _previous_per_user(txs).filter(pl.col("fraud_pattern") == "compromised_merchant")
    assert ((unusual["amount"] / unusual["recent_mean"]) >= RULES.merchant_unusual_factor).mean() > 0.95


def test_travellers_fly_at_a_planes_speed_and_big_tickets_are_big():
    day = generator.transactions(60_000, GeneratorConfig(seed=8, rate_per_second=60_000 / 86_400,
                                                         lookalike_share=0.01))
    prev = _previous_per_user(day).filter(pl.col("prev_lat").is_not_null())
    km = haversine_km(prev["prev_lat"].to_numpy(), prev["prev_lon"].to_numpy(), prev["latitude"].to_numpy(),
                      prev["longitude"].to_numpy())
    hours = prev["gap"].dt.total_milliseconds().to_numpy() / 3_600_000
    flights = (prev["fraud_pattern"] == "benign_travel").fill_null(False).to_numpy() & (km > 0)
    assert flights.sum() > 50 and (km[flights] >= RULES.travel_min_distance_km).all()
    speed = km[flights] / hours[flights]
    assert 150 < np.median(speed) < 600 and (speed > RULES.travel_max_speed_kmh).mean() < 0.1
    big = prev.filter(pl.col("fraud_pattern") == "benign_big_ticket")
    # some big tickets are as large, against recent spend, as the deployed factor flags: real false positives
    passing = (big["amount"] / big["recent_mean"] >= RULES.spike_factor).mean()
    assert big.height > 100 and 0.05 < passing < 0.9, passing
    assert not big["is_fraud"].any() and not day.filter(pl.col("fraud_pattern") == "benign_travel")["is_fraud"].any()


def test_household_sizes_add_up_for_any_total():
    rng = np.random.default_rng(1)
    for total in range(0, 40):
        sizes = generator._household_sizes(rng, total)
        assert sizes.sum() == total and (sizes <= 5).all() and (total < 2 or (sizes >= 2).all())
