"""The credit scorecard's twins against the Python reference, its monotonic promises, the decisions at
both PD cut-offs, and the population stability index.

A scorecard is fitted once on a generated history (a few seconds); the Spark twin runs on a local
session, the polars twin in-process; each is compared with `rules.credit.score_application` and
`rules.lending.decide` row by row.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, date, datetime
from decimal import Decimal

import numpy as np
import polars as pl
import pytest

from credit_platform.ingest import generator
from credit_platform.ingest.scenario import GeneratorConfig
from credit_platform.model.fit import fit_scorecard
from credit_platform.rules.credit import (
    MAX_REASONS,
    PSI_ALERT,
    Bin,
    Scorecard,
    ScoredCharacteristic,
    pd_of_points,
    psi,
    risk_grade,
    score_application,
    score_frame,
    scorecard_columns,
)
from credit_platform.rules.lending import DEFAULT_POLICY, decide, decision_and_reason, decision_columns

logging.getLogger("py4j").setLevel(logging.WARNING)

DAY = date(2026, 3, 10)
APP_COLUMNS = ("application_id", "credit_score", "annual_income", "loan_amount", "loan_term_months", "loan_purpose",
               "employment_status", "channel")


def _history(n: int, seed: int, drift_from: datetime | None = None) -> pl.DataFrame:
    config = GeneratorConfig(seed=seed, start=datetime(2025, 1, 1, tzinfo=UTC), rate_per_second=n / (300 * 86400),
                             drift_from=drift_from)
    apps = generator.applications(n, config)
    return apps.join(generator.outcomes_of(apps, config, as_of=datetime(2030, 1, 1, tzinfo=UTC)),
                     on="application_id")


@pytest.fixture(scope="module")
def history() -> pl.DataFrame:
    return _history(40_000, seed=11)


@pytest.fixture(scope="module")
def card(history) -> Scorecard:
    return fit_scorecard(history, DEFAULT_POLICY, DAY)


def _edge_applications(card: Scorecard, base: dict) -> list[dict]:
    """One application per bin edge, and a hair below it, of every numeric characteristic; an unseen
    category; a zero income."""
    rows = []
    for c in card.characteristics:
        for b in c.bins:
            if b.lower is not None and c.name != "loan_to_income":
                for value in (b.lower, np.nextafter(b.lower, -np.inf)):
                    rows.append({**base, c.name: int(value) if c.name in ("credit_score", "loan_term_months")
                                 else round(float(value), 2)})
            if c.name == "loan_to_income" and b.lower is not None:
                income = float(base["annual_income"])
                rows += [{**base, "loan_amount": round(b.lower * income, 2) + d} for d in (-0.01, 0.0, 0.01)]
    rows.append({**base, "loan_purpose": "a purpose no one applied for"})
    rows.append({**base, "annual_income": 0.0})
    return [{**r, "application_id": f"E{i:04d}"} for i, r in enumerate(rows)]


def _applications(history: pl.DataFrame, card: Scorecard) -> list[dict]:
    generated = history.select(APP_COLUMNS).head(2_000).to_dicts()
    return generated + _edge_applications(card, generated[0])


SCHEMA = ("application_id string, credit_score int, annual_income decimal(14,2), loan_amount decimal(14,2), "
          "loan_term_months int, loan_purpose string, employment_status string, channel string")


def _frame(spark, rows: list[dict]):
    return spark.createDataFrame(
        [(r["application_id"], int(r["credit_score"]), Decimal(str(r["annual_income"])).quantize(Decimal("0.01")),
          Decimal(str(r["loan_amount"])).quantize(Decimal("0.01")), int(r["loan_term_months"]), r["loan_purpose"],
          r["employment_status"], r["channel"]) for r in rows], SCHEMA)


def _reference(card: Scorecard, rows: list[dict], policy=DEFAULT_POLICY) -> dict[str, tuple]:
    out = {}
    for r in rows:
        app = {**r, "loan_amount": Decimal(str(r["loan_amount"])).quantize(Decimal("0.01")),
               "annual_income": Decimal(str(r["annual_income"])).quantize(Decimal("0.01"))}
        s = score_application(card, app, policy)
        out[r["application_id"]] = (s.points, s.probability_of_default, s.risk_grade, list(s.reason_codes))
    return out


def test_spark_twin_scores_every_application_as_the_reference(spark, history, card):
    rows = _applications(history, card)
    columns = scorecard_columns(card, DEFAULT_POLICY)
    got = {r.application_id: (r.score_points, r.probability_of_default, r.risk_grade, list(r.reason_codes))
           for r in _frame(spark, rows).select("application_id", *[v.alias(k) for k, v in columns.items()]).collect()}
    want = _reference(card, rows)
    mismatches = [(k, got[k], want[k]) for k in want if got[k] != want[k]]
    assert mismatches == [], f"{len(mismatches)} of {len(rows)} differ, e.g. {mismatches[:3]}"
    grades = {v[2] for v in want.values()}
    assert len(grades) >= 5, grades  # the grid reaches nearly every grade, so the bands are compared
    assert max(len(v[3]) for v in want.values()) == MAX_REASONS


def test_polars_twin_scores_as_the_reference(history, card):
    rows = _applications(history, card)
    frame = pl.DataFrame(rows).with_columns(pl.col("annual_income", "loan_amount").cast(pl.Float64))
    scored = score_frame(card, frame)
    want = _reference(card, rows)
    got_points = dict(zip(frame["application_id"], scored["score_points"], strict=True))
    assert {k: v[0] for k, v in want.items()} == got_points
    got_pd = dict(zip(frame["application_id"], scored["probability_of_default"], strict=True))
    assert all(abs(float(want[k][1]) - got_pd[k]) < 1.5e-6 for k in want)


def test_scorecard_survives_its_warehouse_json(card):
    again = Scorecard.from_json(card.to_json())
    assert again == card and again.to_json() == card.to_json()
    assert card.version.startswith("scorecard-20260310-")


def test_fitting_is_deterministic(history, card):
    assert fit_scorecard(history, DEFAULT_POLICY, DAY).version == card.version


def test_raising_the_score_never_raises_the_pd_and_raising_the_loan_never_lowers_it(history, card):
    for app in history.select(APP_COLUMNS).head(300).to_dicts():
        pds = [score_application(card, {**app, "credit_score": s}, DEFAULT_POLICY).probability_of_default
               for s in range(300, 851, 5)]
        assert pds == sorted(pds, reverse=True), app
        pds = [score_application(card, {**app, "loan_amount": a}, DEFAULT_POLICY).probability_of_default
               for a in np.geomspace(500, 2_000_000, 60)]
        assert pds == sorted(pds), app


def test_every_characteristic_with_a_trend_is_binned_monotonically(card):
    by = {c.name: [b.points for b in c.bins] for c in card.characteristics}
    assert "credit_score" in by and "loan_to_income" in by
    assert by["credit_score"] == sorted(by["credit_score"]) and len(set(by["credit_score"])) > 3
    assert by["loan_to_income"] == sorted(by["loan_to_income"], reverse=True)


def test_the_scorecard_beats_the_bureau_score_out_of_time(card):
    from credit_platform.model import evaluation

    later = _history(20_000, seed=12)  # another population draw, later in time
    scored = score_frame(card, later)
    y = later["defaulted"].cast(int).to_numpy()
    model_auc = evaluation.auc(y, -scored["score_points"].to_numpy())
    bureau_auc = evaluation.auc(y, -later["credit_score"].to_numpy())
    ceiling = evaluation.auc(y, later["true_pd"].to_numpy())
    assert bureau_auc + 0.03 < model_auc <= ceiling + 0.01, (bureau_auc, model_auc, ceiling)


# ---- decisions at the cut-offs ------------------------------------------------------------------
BOUNDARY_POINTS = (509, 510, 511, 589, 590, 591, 700)


def _one_characteristic_card() -> Scorecard:
    """A credit score of p + 100 gives p points, for the points totals the boundary test asks for."""
    offset, factor = Scorecard.scaling(DEFAULT_POLICY)
    bins = tuple(Bin(points=p, lower=float(p + 100), upper=float(p + 101)) for p in BOUNDARY_POINTS)
    return Scorecard("test-card", (ScoredCharacteristic("credit_score", (*bins, Bin(points=0)), unseen_points=0),),
                     offset, factor)


def _boundary_policy(card: Scorecard):
    """The policy's cut-offs set to PDs the card gives exactly (at 510 and 590 points)."""
    return dataclasses.replace(DEFAULT_POLICY, approve_max_pd=pd_of_points(590, card.offset, card.factor),
                               decline_min_pd=pd_of_points(510, card.offset, card.factor))


def test_decisions_at_both_cut_offs_match_between_reference_and_spark(spark):
    card = _one_characteristic_card()
    policy = _boundary_policy(card)
    rows = []
    for points in BOUNDARY_POINTS:
        for amount in ("15000.00", "15000.01"):
            for alert in (False, True):
                rows.append({"application_id": f"B{len(rows):03d}", "credit_score": 100 + points,
                             "annual_income": 50_000, "loan_amount": amount, "loan_term_months": 36,
                             "loan_purpose": "car", "employment_status": "employed", "channel": "web",
                             "fraud_alert": alert})
    want = {}
    for r in rows:
        app = {**r, "loan_amount": Decimal(r["loan_amount"])}
        s = score_application(card, app, policy)
        want[r["application_id"]] = (s.probability_of_default, *decision_and_reason(
            app["loan_amount"], r["credit_score"], r["fraud_alert"], policy, s.probability_of_default))
        decided = decide(app, r["fraud_alert"], DAY, policy, (), s.probability_of_default)
        assert decided[0] == want[r["application_id"]][1]

    from pyspark.sql import functions as F

    frame = (_frame(spark, rows).join(spark.createDataFrame([(r["application_id"], r["fraud_alert"]) for r in rows],
                                                            "application_id string, fraud_alert boolean"),
                                      "application_id")
             .withColumn("fraud_alert_rules", F.when(F.col("fraud_alert"), F.lit("application_velocity")))
             .withColumn("business_date", F.lit(DAY)))
    pd = scorecard_columns(card, policy)["probability_of_default"]
    decision, reason, _ = decision_columns(policy, (), F.col("fraud_alert"), pd)
    got = {r.application_id: (r.pd, r.decision, r.reason)
           for r in frame.select("application_id", pd.alias("pd"), decision.alias("decision"),
                                 reason.alias("reason")).collect()}
    for k, (pd_value, decision_value, reason_value) in want.items():
        assert got[k][:2] == (pd_value, decision_value), (k, got[k], want[k])
        if decision_value != "fraud_review":
            assert got[k][2] == reason_value
    by_points = {(r["credit_score"] - 100, r["loan_amount"]): want[r["application_id"]][1]
                 for r in rows if not r["fraud_alert"]}
    assert by_points[(510, "15000.00")] == "decline" and by_points[(511, "15000.00")] == "manual_review"
    assert by_points[(590, "15000.00")] == "instant_approval" and by_points[(589, "15000.00")] == "manual_review"
    assert by_points[(590, "15000.01")] == "approve" and by_points[(700, "15000.01")] == "approve"
    assert by_points[(509, "15000.01")] == "decline"


def test_every_decline_carries_one_to_four_reasons(history, card):
    for app in history.select(APP_COLUMNS).head(3_000).to_dicts():
        s = score_application(card, app, DEFAULT_POLICY)
        decision, _ = decision_and_reason(Decimal(str(app["loan_amount"])), app["credit_score"], False, DEFAULT_POLICY,
                                          s.probability_of_default)
        if decision == "decline":
            assert 1 <= len(s.reason_codes) <= MAX_REASONS, (app, s)
        assert s.risk_grade == risk_grade(s.probability_of_default, DEFAULT_POLICY)


# ---- population stability ---------------------------------------------------------------------
def test_psi_is_zero_for_the_same_population_and_large_for_a_shifted_one():
    assert psi([0.25] * 4, [0.25] * 4) == 0
    assert psi([0.25] * 4, [0.1, 0.2, 0.3, 0.4]) == pytest.approx(0.2282, abs=1e-3)
    assert psi([0.5, 0.5, 0.0], [0.5, 0.5, 0.0]) == 0  # an empty unseen-category bin costs nothing
    with pytest.raises(ValueError, match="different bins"):
        psi([0.5, 0.5], [1.0])


def test_spark_psi_flags_a_drifted_day_and_not_an_undrifted_one(spark, card):
    from credit_platform.batch import scoring

    def day_psi(drift: bool) -> dict[str, float]:
        every_one = datetime(2025, 1, 1, tzinfo=UTC)  # the sample's first application: all of them drift
        rows = _history(5_000, seed=21, drift_from=every_one if drift else None).select(APP_COLUMNS).to_dicts()
        frame = _frame(spark, rows)
        scored = frame.select("*", scorecard_columns(card, DEFAULT_POLICY)["score_points"].alias("score_points"))
        return scoring.population_stability(card, scoring.population_shares(scored, card)[1])

    calm, drifted = day_psi(False), day_psi(True)
    assert calm["score_points"] < 0.10 and max(calm.values()) < 0.10, calm
    assert drifted["score_points"] >= 0.25 and drifted["credit_score"] >= 0.25, drifted


def test_the_alert_rule_and_the_warehouse_suite_share_the_psi_threshold():
    import yaml

    from credit_platform.config import REPO_ROOT

    rules = yaml.safe_load((REPO_ROOT / "monitoring" / "rules" / "platform.rules.yml").read_text())
    shift = next(r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "CreditModelPopulationShift")
    assert shift["expr"].rstrip().endswith(f">= {PSI_ALERT}"), shift["expr"]


def test_numpy_grades_and_decision_shares_equal_the_reference_at_every_limit():
    """The report's and the bench's numpy twins of `risk_grade` and the PD cut-offs."""
    from credit_platform.model import evaluation
    from credit_platform.rules.credit import grade_limits

    step = Decimal("0.000001")
    edges = [*grade_limits(DEFAULT_POLICY), DEFAULT_POLICY.approve_max_pd, DEFAULT_POLICY.decline_min_pd]
    pds = sorted({max(Decimal(0), e + d) for e in edges for d in (-step, 0, step)} | {Decimal(0), Decimal(1)})
    got = evaluation.grades_of(np.array([float(p) for p in pds]), DEFAULT_POLICY)
    assert list(got) == [risk_grade(p, DEFAULT_POLICY) for p in pds]
    for p in pds:
        decision, _ = decision_and_reason(Decimal("100.00"), 700, False, DEFAULT_POLICY, p)
        shares = evaluation.decision_shares(np.array([float(p)]), DEFAULT_POLICY)
        want = {"instant_approval": "approve", "manual_review": "manual_review", "decline": "decline"}[decision]
        assert shares[want] == 1.0, (p, decision, shares)
