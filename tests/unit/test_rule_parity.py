"""Every engine twin of a business rule against its Python reference, row by row, with no platform.

Lending: the Spark column expressions (`risk_level_column`, `decision_columns`) run on a local
Spark session, the numpy risk level in-process, each compared with `risk_level` / `decide` on a grid
of boundary values (scores 449/450/451, 499/500/501, 699/700/701; amounts 15,000.00/15,000.01;
exceptions inside and outside their dates) and on a generated day.

Fraud: the Flink SQL the stream runs (`rule_queries`) runs on a local Flink mini-cluster over bounded
JSON files, compared alert id for alert id with the polars/numpy reference (`reference_alerts`) and
the seed rule's Python reference, on events placed at every rule's edges and on a generated day.
(Flink 2.3's batch mode cannot run the rules' event-time RANGE windows: "Unsupported temporal
arithmetic" on TIMESTAMP_LTZ, and a code-generation failure of the range comparator on TIMESTAMP.
Streaming mode over a bounded source runs the very SQL of the job, watermarks included, and ends
with a final watermark that closes every window.)

The boundary grids are tight: moving any one threshold by one unit in one twin alone changes the
result on them (`test_*_grid_catches_a_one_sided_change`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import polars as pl
import pytest

from credit_platform.ingest import generator
from credit_platform.ingest.scenario import GeneratorConfig
from credit_platform.rules.fraud import (
    DEFAULT_FRAUD_RULES,
    RULES,
    FraudRules,
    is_large_loan_low_score,
    reference_alerts,
)
from credit_platform.rules.lending import (
    DECISIONS,
    DEFAULT_POLICY,
    RISK_LEVELS,
    LendingPolicy,
    PolicyException,
    decide,
    decision_and_reason,
    decision_columns,
    risk_level,
    risk_level_codes,
    risk_level_column,
)
from credit_platform.stream.backtest import bounded_tables, run_rules

# py4j reports at INFO, at interpreter exit, that the JVMs it talked to are gone
logging.getLogger("py4j").setLevel(logging.WARNING)

# The scorecard's PD beside each application: none (no champion model: the seed's rule), and both
# cut-offs, a step either side of each (7 is prime to the grid's other sizes: every combination occurs)
PDS = (None, Decimal("0.099999"), Decimal("0.100000"), Decimal("0.100001"), Decimal("0.199999"),
       Decimal("0.200000"), Decimal("0.200001"))
SCORES = (300, 449, 450, 451, 499, 500, 501, 699, 700, 701, 850)
AMOUNTS = ("100.00", "14999.99", "15000.00", "15000.01", "20000.00", "25000.00", "25000.01")
DAY = date(2026, 3, 10)
EXCEPTIONS = tuple(PolicyException.from_document(doc, DEFAULT_POLICY) for doc in (
    {"id": "expired", "reason": "pilot over", "approved_by": "risk-committee", "match": {"channel": "mobile"},
     "decision": "instant_approval", "valid_to": "2026-03-01"},
    {"id": "branch", "reason": "in person", "approved_by": "head-of-lending", "match": {"channel": "branch"},
     "decision": "manual_review"},
    {"id": "education-25k", "reason": "study loans", "approved_by": "risk-committee",
     "match": {"loan_purpose": ["education", "home_improvement"]},
     "thresholds": {"instant_approval_max_amount": 25000, "low_risk_min_score": 650}, "valid_from": "2026-03-10"},
))


# ---- lending: numpy and Spark twins ---------------------------------------------------------------
def test_numpy_risk_level_equals_the_reference_for_every_score():
    scores = np.arange(250, 900)
    for policy in (DEFAULT_POLICY, LendingPolicy(low_risk_min_score=680, medium_risk_min_score=520)):
        got = [RISK_LEVELS[c] for c in risk_level_codes(scores, policy)]
        assert got == [risk_level(int(s), policy) for s in scores]


def _boundary_applications() -> list[dict]:
    rows = []
    for i, (score, amount, alert, channel, purpose, day) in enumerate(
            (s, a, f, c, p, d) for s in SCORES for a in AMOUNTS for f in (False, True)
            for c, p in (("web", "car"), ("branch", "car"), ("mobile", "education"), ("web", "home_improvement"))
            for d in (DAY - timedelta(days=12), DAY, DAY + timedelta(days=1))):
        rows.append({"application_id": f"A{i:05d}", "user_id": f"U{i % 97}", "credit_score": score,
                     "loan_amount": Decimal(amount), "fraud_alert": alert, "channel": channel, "loan_purpose": purpose,
                     "employment_status": "employed", "city": "Berlin", "business_date": day,
                     "pd": PDS[i % len(PDS)]})
    return rows


def _generated_day(n: int = 3000) -> list[dict]:
    frame = generator.applications(n, GeneratorConfig(seed=7, customers=2000))
    rng = np.random.default_rng(7)
    alerts = rng.random(frame.height) < 0.05
    days = [DAY - timedelta(days=int(d)) for d in rng.integers(0, 2, frame.height)]
    return [{"application_id": r["application_id"], "user_id": r["user_id"], "credit_score": r["credit_score"],
             "loan_amount": Decimal(str(r["loan_amount"])).quantize(Decimal("0.01")), "fraud_alert": bool(a),
             "channel": r["channel"], "loan_purpose": r["loan_purpose"], "employment_status": r["employment_status"],
             "city": r["city"], "business_date": d, "pd": PDS[i % len(PDS)]}
            for i, (r, a, d) in enumerate(zip(frame.iter_rows(named=True), alerts, days, strict=True))]


SCHEMA = ("application_id string, user_id string, credit_score int, loan_amount decimal(14,2), fraud_alert boolean, "
          "channel string, loan_purpose string, employment_status string, city string, business_date date, "
          "pd decimal(7,6)")


def _spark_decisions(spark, rows: list[dict], policy: LendingPolicy,
                     exceptions: tuple[PolicyException, ...]) -> dict[str, tuple]:
    from pyspark.sql import functions as F

    frame = (spark.createDataFrame([tuple(r[c.split()[0]] for c in SCHEMA.split(", ")) for r in rows], SCHEMA)
             .withColumn("fraud_alert_rules", F.when(F.col("fraud_alert"), F.lit("large_loan_low_score"))))
    decision, reason, exception = decision_columns(policy, exceptions, F.col("fraud_alert"), F.col("pd"))
    out = frame.select("application_id", risk_level_column(F.col("credit_score"), policy).alias("risk_level"),
                       decision.alias("decision"), exception.alias("exception"), reason.alias("reason"))
    return {r.application_id: (r.risk_level, r.decision, r.exception, r.reason) for r in out.collect()}


def _reference_decisions(rows: list[dict], policy: LendingPolicy,
                         exceptions: tuple[PolicyException, ...]) -> dict[str, tuple]:
    return {r["application_id"]: (risk_level(r["credit_score"], policy),
                                  *decide(r, r["fraud_alert"], r["business_date"], policy, exceptions, r["pd"]))
            for r in rows}


@pytest.mark.parametrize("rows", [_boundary_applications, _generated_day], ids=["boundaries", "generated-day"])
def test_spark_risk_level_and_decision_equal_the_reference(spark, rows):
    rows = rows()
    got = _spark_decisions(spark, rows, DEFAULT_POLICY, EXCEPTIONS)
    want = _reference_decisions(rows, DEFAULT_POLICY, EXCEPTIONS)
    assert len(got) == len(rows)
    mismatches = [(k, got[k][:3], want[k]) for k in want if got[k][:3] != want[k]]
    assert mismatches == [], f"{len(mismatches)} of {len(rows)} rows differ, e.g. {mismatches[:5]}"
    # the reason, word for word, wherever the policy itself decided
    for r in rows:
        _, decision, exception, reason = got[r["application_id"]]
        if exception is None and decision != "fraud_review":
            assert reason == decision_and_reason(r["loan_amount"], r["credit_score"], False, DEFAULT_POLICY, r["pd"])[1]
    # every branch is exercised, so a twin cannot agree by never taking one
    assert {v[1] for v in want.values()} == set(DECISIONS)
    if len(rows) < 3000:
        assert {v[2] for v in want.values()} == {None, "expired", "branch", "education-25k"}
    # the reason names the exception that applied, and a fraud alert's reason names its rules
    for _, decision, exception, reason in got.values():
        if exception:
            assert reason.startswith(f"policy exception {exception} ("), reason
        if decision == "fraud_review":
            assert reason == "fraud alert: large_loan_low_score"


LENDING_THRESHOLDS = ("low_risk_min_score", "medium_risk_min_score", "instant_approval_max_amount", "approve_max_pd",
                      "decline_min_pd")


@pytest.mark.parametrize("threshold", LENDING_THRESHOLDS)
def test_lending_grid_catches_a_one_sided_change(spark, threshold):
    """Moving one threshold in the Spark twin alone (by one point, or one cent) breaks parity on the grid."""
    rows = _boundary_applications()
    step = Decimal("0.01") if "amount" in threshold else Decimal("0.000001") if threshold.endswith("_pd") else 1
    shifted = dataclasses.replace(DEFAULT_POLICY, **{threshold: getattr(DEFAULT_POLICY, threshold) + step})
    assert _spark_decisions(spark, rows, shifted, ()) != _spark_decisions(spark, rows, DEFAULT_POLICY, ())
    got = {k: v[:2] for k, v in _spark_decisions(spark, rows, shifted, ()).items()}
    want = {k: v[:2] for k, v in _reference_decisions(rows, DEFAULT_POLICY, ()).items()}
    assert got != want


# ---- fraud: Flink SQL twin --------------------------------------------------------------------------
T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _edge_events(rules: FraudRules = DEFAULT_FRAUD_RULES) -> tuple[list[dict], list[dict]]:
    """Events at each rule's edges, every group on its own users and devices, hours apart."""
    apps: list[dict] = []
    txs: list[dict] = []

    def app(t: datetime, user: str, device: str, score: int = 720, amount: str = "5000.00",
            city: str = "Berlin") -> None:
        apps.append({"application_id": f"A{len(apps):04d}", "user_id": user, "credit_score": score,
                     "loan_amount": float(amount), "timestamp": _iso(t), "device_id": device, "city": city})

    # seed rule: amount 15,000.00/15,000.01 x score 449/450/451
    for i, (amount, score) in enumerate((a, s) for a in ("15000.00", "15000.01", "15001.00") for s in (449, 450, 451)):
        app(T0 + timedelta(hours=i), f"S{i}", f"DS{i}", score, amount)
    base = T0 + timedelta(days=1)
    window = timedelta(minutes=rules.velocity_window_minutes)
    need = rules.velocity_min_applications
    # velocity: `need` applications spanning exactly the window (inclusive: alerts), and spanning 1 ms more
    for g, span in enumerate((window, window + timedelta(milliseconds=1))):
        for k in range(need):
            app(base + timedelta(hours=g) + span * k / (need - 1), f"V{g}", f"DV{g}-{k}")
    # shared device: `need` distinct users (of two cities) within the window (inclusive), and the last
    # 1 ms outside
    device_window = timedelta(minutes=rules.device_window_minutes)
    need = rules.device_min_users
    for g, span in enumerate((device_window, device_window + timedelta(milliseconds=1))):
        for k in range(need):
            app(base + timedelta(hours=4 + 2 * g) + span * k / (need - 1), f"D{g}-{k}", f"DD{g}",
                city="Potsdam" if k == 0 else "Berlin")
    # ... one user repeating on a device does not count twice
    for k in range(need + 1):
        app(base + timedelta(hours=10, minutes=k), f"D9-{k % (need - 1)}", "DD9", city=("Potsdam", "Berlin")[k % 2])
    # ... customers of one city: a household up to `household_max` of them (not alerted), one more is alerted
    for g, size in enumerate((rules.device_household_max, rules.device_household_max + 1)):
        for k in range(size):
            app(base + timedelta(hours=12 + 2 * g, minutes=k), f"DH{g}-{k}", f"DH{g}")

    def tx(t: datetime, user: str, amount: float, lat: float = 52.52, lon: float = 13.40,
           where: str = "Berlin", device: str | None = None, merchant: str = "Corner Shop") -> None:
        txs.append({"transaction_id": f"T{len(txs):04d}", "user_id": user, "amount": amount, "timestamp": _iso(t),
                    "location": where, "latitude": lat, "longitude": lon, "device_id": device or f"TD-{user}",
                    "merchant": merchant})

    # impossible travel: Berlin -> Madrid (~1,870 km) in 2 h (935 km/h: too fast) and in 3 h (a plane could);
    # 506 km and 490 km due south within a minute (only the first is far enough to count)
    tbase = T0 + timedelta(days=2)
    legs = ((2, 40.42, -3.70, "Madrid"), (3, 40.42, -3.70, "Madrid"), (0.01, 47.97, 13.40, "South-506"),
            (0.01, 48.11, 13.40, "South-490"))
    for g, (hours, lat, lon, where) in enumerate(legs):
        tx(tbase + timedelta(hours=3 * g), f"TR{g}", 50.0)
        tx(tbase + timedelta(hours=3 * g + hours), f"TR{g}", 50.0, lat, lon, where)
    # amount spike: history of `spike_history` purchases of 100, then exactly factor x (alerts), just under,
    # and a spike under the minimum amount (twice the factor above a small history: only the minimum stops it)
    h = rules.spike_history
    cases = ((100.0, 100.0 * rules.spike_factor), (100.0, 100.0 * rules.spike_factor - 0.01),
             (round((rules.spike_min_amount - 0.01) / (2 * rules.spike_factor), 2), rules.spike_min_amount - 0.01))
    for g, (history, last) in enumerate(cases):
        for k in range(h):
            tx(tbase + timedelta(days=1, hours=g, minutes=k), f"SP{g}", history)
        tx(tbase + timedelta(days=1, hours=g, minutes=h), f"SP{g}", last)
    # card testing: tests of exactly the maximum amount, the third exactly at the window's end (alerted,
    # a purchase between them is not), then a purchase whose window has lost the first test; a run with one
    # purchase just above the maximum; a run of three tests and the large purchase right after (all alerted)
    cbase = tbase + timedelta(days=2)
    small, window = rules.testing_max_amount, timedelta(minutes=rules.testing_window_minutes)
    for offset, amount in ((timedelta(0), small), (window / 6, 50.0), (window / 3, 1.0), (window, 0.5),
                           (window + timedelta(milliseconds=500), 400.0)):
        tx(cbase + offset, "CT0", amount)
    for k, amount in enumerate((small + 0.01, 1.0, 1.0, 300.0)):
        tx(cbase + timedelta(hours=2, minutes=k), "CT1", amount)
    for k, amount in enumerate((1.0, 1.0, 1.0, 250.0)):
        tx(cbase + timedelta(hours=4, minutes=k), "CT2", amount)
    # account takeover: after `spike_history` purchases of 100 at home, one of exactly factor x on a new
    # device in another city (alerted, and that device's purchases up to the window's end, not 1 ms later);
    # just under the factor; a new device in the home city
    abase = tbase + timedelta(days=3)
    after = timedelta(minutes=rules.takeover_window_minutes)
    for g, (amount, where) in enumerate(((100.0 * rules.takeover_factor, "Potsdam"),
                                         (100.0 * rules.takeover_factor - 0.01, "Potsdam"), (400.0, "Berlin"))):
        start = abase + timedelta(hours=6 * g)
        for k in range(h):
            tx(start + timedelta(minutes=k), f"AT{g}", 100.0)
        taken = start + timedelta(minutes=h)
        tx(taken, f"AT{g}", amount, 52.39, 13.06, where, device=f"NEW{g}")
        tx(taken + after, f"AT{g}", 80.0, 52.39, 13.06, where, device=f"NEW{g}")
        tx(taken + after + timedelta(milliseconds=1), f"AT{g}", 80.0, 52.39, 13.06, where, device=f"NEW{g}")
    # compromised merchant: `min_cards` cards, each after a history of 100s elsewhere, with a purchase of
    # exactly the unusual factor x at one merchant, spanning exactly the window (alerted); one of them just
    # under the factor; spanning 1 ms more; and one card twice, which counts once
    mbase = tbase + timedelta(days=4)
    need, window = rules.merchant_min_cards, timedelta(minutes=rules.merchant_window_minutes)
    unusual = 100.0 * rules.merchant_unusual_factor
    groups = (("M0", window, [unusual] * need), ("M1", window, [unusual] * (need - 1) + [unusual - 0.01]),
              ("M2", window + timedelta(milliseconds=1), [unusual] * need))
    for g, (merchant, span, amounts) in enumerate(groups):
        for k, amount in enumerate(amounts):
            user, at = f"MC{g}-{k}", mbase + timedelta(days=3 * g) + span * k / (need - 1)
            for j in range(h):
                tx(at - timedelta(hours=1) + timedelta(minutes=j), user, 100.0, merchant="Elsewhere")
            tx(at, user, amount, merchant=merchant)
    for k in range(need):
        user = f"MC9-{k % (need - 1)}"
        for j in range(h):
            tx(mbase + timedelta(days=9, hours=k, minutes=j), user, 100.0, merchant="Elsewhere")
        tx(mbase + timedelta(days=9, hours=k, minutes=30), user, unusual, merchant="M9")
    return apps, txs


@pytest.fixture(scope="module")
def edge_run(tmp_path_factory) -> tuple[list[dict], list[dict], set[str]]:
    apps, txs = _edge_events()
    return apps, txs, set(run_rules(tmp_path_factory.mktemp("edges"), apps, txs))


def test_flink_rules_equal_the_reference_at_every_edge(edge_run):
    apps, txs, flink = edge_run
    reference = reference_alerts(pl.DataFrame(apps), pl.DataFrame(txs))
    assert flink == reference
    # each edge lands on the side the rule says (so both twins are right, not only equal)
    seed = {f"large_loan_low_score:{a['application_id']}" for a in apps
            if is_large_loan_low_score(Decimal(str(a["loan_amount"])), a["credit_score"])}
    assert {a for a in flink if a.startswith("large_loan_low_score")} == seed and len(seed) == 2
    by_user = {a["application_id"]: a["user_id"] for a in apps} | {t["transaction_id"]: t["user_id"] for t in txs}
    fired = {(alert.split(":")[0], by_user[alert.split(":")[1]]) for alert in flink}
    assert ("application_velocity", "V0") in fired and ("application_velocity", "V1") not in fired
    assert ("shared_device", "D0-3") in fired and not any(u.startswith(("D1-", "D9-", "DH0-")) for r, u in fired
                                                           if r == "shared_device")
    household = DEFAULT_FRAUD_RULES.device_household_max
    assert {u for r, u in fired if r == "shared_device" and u.startswith("DH1-")} == {
        f"DH1-{k}" for k in range(household + 1)}
    # whole bursts: every application of the burst, not only those from the threshold on
    for rule, users in (("application_velocity", ("V0",)), ("shared_device", tuple(f"D0-{k}" for k in range(4)))):
        burst = {f"{rule}:{a['application_id']}" for a in apps if a["user_id"] in users}
        assert len(burst) == 4 and burst <= flink, rule
    assert {u for r, u in fired if r == "impossible_travel"} == {"TR0", "TR2"}
    assert {u for r, u in fired if r == "amount_spike"} == {"SP0"}
    by_id = {t["transaction_id"]: t for t in txs}
    alerted = {rule: sorted((by_id[i]["user_id"], by_id[i]["amount"]) for r, i in (a.split(":") for a in flink)
                            if r == rule and i in by_id) for rule in ("card_testing", "account_takeover")}
    small = DEFAULT_FRAUD_RULES.testing_max_amount
    assert alerted["card_testing"] == [("CT0", 0.5), ("CT0", 1.0), ("CT0", small), ("CT2", 1.0), ("CT2", 1.0),
                                       ("CT2", 1.0), ("CT2", 250.0)]
    assert alerted["account_takeover"] == [("AT0", 80.0), ("AT0", 100.0 * DEFAULT_FRAUD_RULES.takeover_factor)]
    merchants = {by_id[i]["merchant"] for r, i in (a.split(":") for a in flink) if r == "compromised_merchant"}
    assert merchants == {"M0"}
    assert sum(1 for a in flink if a.startswith("compromised_merchant")) == DEFAULT_FRAUD_RULES.merchant_min_cards


def test_flink_rules_equal_the_reference_on_a_generated_day(tmp_path):
    config = GeneratorConfig(seed=11, customers=400, fraud_share=0.05, rate_per_second=2.0)
    apps = generator.applications(1500, config)
    txs = generator.transactions(1500, config)
    reference = reference_alerts(apps, txs)
    flink = set(run_rules(tmp_path, apps.to_dicts(), txs.to_dicts()))
    assert flink == reference
    # every rule fires; the learned score is off until a model is published (test_feature_parity runs it)
    assert {a.split(":")[0] for a in reference} == set(RULES) - {"fraud_score"}


FRAUD_SHIFTS = (
    ("large_loan_amount", Decimal("0.01")), ("low_credit_score", 1),
    ("velocity_window_minutes", -1), ("velocity_min_applications", 1),
    ("device_window_minutes", -1), ("device_min_users", 1), ("device_household_max", 1),
    ("travel_max_speed_kmh", 400.0), ("travel_min_distance_km", -30.0),
    ("spike_factor", 0.01), ("spike_min_amount", -0.02), ("spike_history", 1),
    ("testing_window_minutes", -1), ("testing_max_amount", -0.01), ("testing_min_small", 1),
    ("takeover_factor", 0.01), ("takeover_window_minutes", -1),
    ("merchant_window_minutes", -1), ("merchant_unusual_factor", 0.01), ("merchant_min_cards", 1),
)


@pytest.mark.parametrize(("threshold", "step"), FRAUD_SHIFTS, ids=[s[0] for s in FRAUD_SHIFTS])
def test_fraud_grid_catches_a_one_sided_change(edge_run, threshold, step):
    """The Flink run stays as it is; the reference alone gets one threshold moved: the edges tell."""
    apps, txs, flink = edge_run
    rules = dataclasses.replace(DEFAULT_FRAUD_RULES, **{threshold: getattr(DEFAULT_FRAUD_RULES, threshold) + step})
    assert reference_alerts(pl.DataFrame(apps), pl.DataFrame(txs), rules) != flink


def test_each_event_is_judged_by_the_rule_version_in_force_at_its_time(tmp_path):
    """Versions published as data: the seed rule's threshold lowered from one event's time on, then
    velocity switched off, then on again with a lower threshold; each event is judged by the version
    in force at its event time (a version's effective time included), in Flink as in the reference."""
    base = T0
    apps: list[dict] = []

    def app(minutes: float, user: str, score: int = 720, amount: float = 5000.0) -> None:
        apps.append({"application_id": f"A{len(apps):04d}", "user_id": user, "credit_score": score,
                     "loan_amount": amount, "timestamp": _iso(base + timedelta(minutes=minutes)),
                     "device_id": f"DEV-{len(apps)}", "city": "Berlin"})

    # seed rule: 12,000 with score 500, before and exactly at version 2 (threshold 10,000 / 520)
    app(0, "S1", 500, 12_000.0)
    app(60, "S2", 500, 12_000.0)
    # velocity bursts of 4 at v2 (threshold 4: alerted), 4 at v3 (switched off), 3 at v4 (threshold 3: alerted)
    for start, user, n in ((70, "V2", 4), (130, "V3", 4), (190, "V4", 3)):
        for k in range(n):
            app(start + k, user)
    v2 = dataclasses.replace(DEFAULT_FRAUD_RULES, large_loan_amount=Decimal("10000.00"), low_credit_score=520)
    v3 = dataclasses.replace(v2, application_velocity_enabled=False)
    v4 = dataclasses.replace(v3, application_velocity_enabled=True, velocity_min_applications=3)
    versions = ((base - timedelta(days=1), 1, DEFAULT_FRAUD_RULES), (base + timedelta(minutes=60), 2, v2),
                (base + timedelta(minutes=120), 3, v3), (base + timedelta(minutes=180), 4, v4))
    flink = run_rules(tmp_path, apps, [], versions=versions)
    reference = reference_alerts(pl.DataFrame(apps), pl.DataFrame(schema=_TX_SCHEMA), versions=versions)
    assert set(flink) == reference
    by_user = {a["application_id"]: a["user_id"] for a in apps}
    fired = {(alert.split(":")[0], by_user[alert.split(":")[1]]): v for alert, v in flink.items()}
    assert fired == {("large_loan_low_score", "S2"): {2}, ("application_velocity", "V2"): {2},
                     ("application_velocity", "V4"): {4}}
    assert sum(1 for a in flink if a.startswith("application_velocity")) == 4 + 3  # both whole bursts


_TX_SCHEMA = {"transaction_id": pl.String, "user_id": pl.String, "amount": pl.Float64, "timestamp": pl.String,
              "location": pl.String, "latitude": pl.Float64, "longitude": pl.Float64, "device_id": pl.String,
              "merchant": pl.String}


# ---- the event contract: the stream's contract-json format against the producer's validation ---------
def _hostile_applications() -> list[tuple[str, bytes, str | None]]:
    """(case, JSON line, what the stream says: a piece of its reason, or None if it judges the record)."""
    base = generator.applications(1, GeneratorConfig(seed=5)).to_dicts()[0]
    base["timestamp"] = "2020-03-01T10:00:00.000Z"

    def app(n: int, **changes: object) -> dict:
        row = {**base, "application_id": f"H{n:03d}", **changes}
        return {k: v for k, v in row.items() if v is not ...}

    def line(row: dict) -> bytes:
        return json.dumps(row).encode()

    return [
        ("valid", line(app(0)), None),
        ("offset time zone", line(app(1, timestamp="2020-03-01T12:00:00.000+02:00")), None),
        ("smuggled _error", line(app(2, _error="ignore me", _raw="x")), None),
        ("not JSON", line(app(3))[:40], "not JSON"),
        ("JSON array", b"[1, 2]", "not a JSON object"),
        ("Infinity", line(app(4)).replace(b'"annual_income": ', b'"annual_income": Infinity, "x": '), "not JSON"),
        ("NaN credit score", line(app(5)).replace(b'"credit_score": ', b'"credit_score": NaN, "x": '), "not JSON"),
        ("score as a word", line(app(6, credit_score="high")), "wrong type"),
        ("score below the range", line(app(7, credit_score=200)), "credit_score: 200 must be >= 300"),
        ("negative amount", line(app(8, loan_amount=-5.0)), "loan_amount: -5 must be > 0"),
        ("amount 1e400", line(app(9)).replace(b'"loan_amount": ', b'"loan_amount": 1e400, "x": '),
         "loan_amount: 1E+400 is out of range"),
        ("NUL in the city", line(app(10, city="Ber\u0000lin")), "city: contains a control character"),
        ("city of 200 characters", line(app(11, city="x" * 200)), "city: longer than 128"),
        ("no customer", line(app(12, user_id=...)), "user_id: missing"),
        ("empty device", line(app(13, device_id="")), "device_id: empty"),
        ("no time", line(app(14, timestamp=...)), "timestamp: missing"),
        ("time without a zone", line(app(15, timestamp="2020-03-01T10:00:00")), "timestamp"),
        ("time as words", line(app(16, timestamp="yesterday")), "timestamp: yesterday is not an ISO-8601 time"),
    ]


def test_the_stream_judges_exactly_the_records_that_keep_the_contract(tmp_path):
    """Every record the stream reads comes out of its source: judged by the rules if it keeps the event
    contract, else with the reason (the job sends those to its dead-letter topic). The producer's
    validation refuses every hostile case too; the stream checks the fields it reads."""
    from credit_platform.contracts.events import LoanApplication

    cases = _hostile_applications()
    t_env = bounded_tables(tmp_path, [line for _, line, _ in cases], [])
    query = "SELECT application_id, `_error`, `_raw`, CAST(event_time AS STRING) FROM applications_in"
    with t_env.execute_sql(query).collect() as rows:
        out = [tuple(row) for row in rows]
    assert len(out) == len(cases)  # nothing dropped
    for (case, line, expected), (_, error, raw, _) in zip(cases, out, strict=True):
        if expected is None:
            assert error is None and raw is None, case
            LoanApplication.model_validate_json(line.replace(b', "_error": "ignore me", "_raw": "x"', b""))
        else:
            assert error is not None and expected in error, (case, error)
            assert raw == line.decode(), case  # the payload as it came, for the dead-letter envelope
            with pytest.raises(ValueError):
                LoanApplication.model_validate_json(line)
    # "+02:00" is the same instant as 10:00Z, not dropped and not shifted
    assert out[1][3] == out[0][3] == "2020-03-01 10:00:00.000"
    with t_env.execute_sql("SELECT application_id FROM applications").collect() as rows:
        assert sorted(row[0] for row in rows) == ["H000", "H001", "H002"]


def test_the_contract_format_judges_numbers_as_the_contract_at_its_bounds(tmp_path):
    """Each numeric bound of the stream's fields, on both sides, in the format and in pydantic."""
    from credit_platform.contracts.events import Transaction

    base = generator.transactions(1, GeneratorConfig(seed=5)).to_dicts()[0]
    base["timestamp"] = "2020-03-01T10:00:00.000Z"
    edges = [("amount", 0.0), ("amount", 0.01), ("amount", 10_000_000.0), ("amount", 10_000_000.01),
             ("latitude", -90.0), ("latitude", -90.0001), ("latitude", 90.0), ("latitude", 90.5),
             ("longitude", -180.0), ("longitude", -180.5), ("longitude", 180.0), ("longitude", 181.0)]
    lines = [json.dumps({**base, "transaction_id": f"T{i}", field: value}).encode()
             for i, (field, value) in enumerate(edges)]
    t_env = bounded_tables(tmp_path, [], lines)
    with t_env.execute_sql("SELECT transaction_id, `_error` FROM transactions_in").collect() as rows:
        flink = {row[0]: row[1] for row in rows}
    for i, line in enumerate(lines):
        try:
            Transaction.model_validate_json(line)
            valid = True
        except ValueError:
            valid = False
        assert (flink[f"T{i}"] is None) == valid, (edges[i], flink[f"T{i}"])
