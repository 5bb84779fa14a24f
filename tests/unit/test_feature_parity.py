"""The learned fraud score's features: the Flink SQL (`feature_query`, run on a local mini-cluster
over bounded files, as the backtest runs it) against the polars reference (`reference_features`),
feature for feature, on generated purchases over more than a week and on purchases placed at every
window's edge. Training sets are built with the SQL over landed history and the stream is to run the
same SQL, so this is what keeps training and serving one computation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from credit_platform.ingest import generator
from credit_platform.ingest.scenario import GeneratorConfig
from credit_platform.model import fraud_score
from credit_platform.rules import fraud_features
from credit_platform.rules.fraud_features import FEATURE_NAMES, reference_features

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _purchase(i: int, user: str, at: datetime, amount: float, merchant: str = "Edge Merchant",
              device: str = "DEDGE1", city: tuple[str, float, float] = ("Springfield", 39.8, -89.6)) -> dict:
    return {"schema_version": 1, "transaction_id": f"TX-EDGE-{i:04d}", "user_id": user, "amount": amount,
            "timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"), "location": city[0],
            "latitude": city[1], "longitude": city[2], "merchant": merchant, "merchant_category": "grocery",
            "card_type": "VISA", "device_id": device, "credit_score": 700, "risk_level": "Low", "is_fraud": False,
            "fraud_pattern": None}


def edge_purchases() -> list[dict]:
    """One customer's purchases exactly at, and a millisecond past, each window's length after the
    first; a new device and a new city; a purchase seconds after one far away; and two customers
    at one merchant in the same millisecond, one of them far above their mean."""
    far = ("Portland", 45.5, -122.7)
    hour, day, week, ms = timedelta(hours=1), timedelta(days=1), timedelta(days=7), timedelta(milliseconds=1)
    rows = [
        _purchase(0, "U-EDGE-A", T0, 40.0),
        _purchase(1, "U-EDGE-A", T0 + hour, 60.0),  # the first is still in its hour
        _purchase(2, "U-EDGE-A", T0 + hour + ms, 20.0),  # ...and no longer
        _purchase(3, "U-EDGE-A", T0 + day, 80.0, device="DEDGE2"),  # a new device
        _purchase(4, "U-EDGE-A", T0 + day + ms, 500.0),  # its own device again, after a day
        _purchase(5, "U-EDGE-A", T0 + day + 30 * ms, 35.0, city=far),  # 2,800 km in 29 ms: the gap floor
        _purchase(6, "U-EDGE-A", T0 + week, 45.0),  # the first is still in its week
        _purchase(7, "U-EDGE-A", T0 + week + ms, 50.0),  # ...and no longer
        _purchase(8, "U-EDGE-B", T0 + week + 5 * ms, 30.0, merchant="Tie Merchant"),
        _purchase(9, "U-EDGE-C", T0 + week + 5 * ms, 30.0, merchant="Tie Merchant", device="DEDGE3"),
        _purchase(10, "U-EDGE-B", T0 + week + hour, 900.0, merchant="Tie Merchant"),  # unusual
        _purchase(11, "U-EDGE-D", T0, 25.0),
        # a week and a millisecond later, on another device, far away: the week before holds nothing
        _purchase(12, "U-EDGE-D", T0 + week + ms, 30.0, device="DEDGE4", city=far),
        _purchase(13, "U-EDGE-E", T0, 25.0),
        _purchase(14, "U-EDGE-E", T0 + week, 25.0),  # exactly a week later: still inside it
    ]
    return rows


@pytest.fixture(scope="module")
def purchases() -> pl.DataFrame:
    config = GeneratorConfig(seed=13, rate_per_second=3_000 / (9 * 86_400), start=T0 - timedelta(days=1))
    generated = generator.generate("transactions", 3_000, config)
    edges = pl.DataFrame(edge_purchases(), schema=generated.schema)
    return pl.concat([generated, edges]).sort("timestamp", maintain_order=True)


@pytest.fixture(scope="module")
def model(purchases) -> fraud_score.FraudModel:
    """A score fitted on the reference's features (the generator's labels stand in for chargebacks)."""
    labelled = reference_features(purchases).join(purchases.select("transaction_id", "is_fraud"), on="transaction_id")
    return fraud_score.fit(labelled, labelled["is_fraud"].to_numpy(), "test-model")


@pytest.fixture(scope="module")
def both(purchases, model, tmp_path_factory) -> pl.DataFrame:
    """The reference's features and the model's Python score, beside the SQL's features and score
    from one run of the features' SQL with the model's score expression over the same purchases."""
    from credit_platform.stream.backtest import run_features

    lines = [json.dumps(r).encode() for r in purchases.iter_rows(named=True)]
    got = run_features(tmp_path_factory.mktemp("features"), lines, model)
    reference = reference_features(purchases).join(purchases.select("transaction_id", "is_fraud"),
                                                   on="transaction_id")
    reference = reference.with_columns(pl.Series("score", model.score(reference)))
    return reference.join(got, on="transaction_id", how="full", suffix="_sql")


def test_every_feature_of_every_purchase_is_equal_in_sql_and_in_the_reference(both, purchases):
    assert both.height == purchases.height and both["transaction_id"].null_count() == 0
    assert both["transaction_id_sql"].null_count() == 0
    for name in FEATURE_NAMES:
        ref, sql = (both[c].cast(pl.Float64).to_numpy() for c in (name, f"{name}_sql"))
        differ = ~np.isclose(ref, sql, rtol=1e-9, atol=1e-9)
        assert not differ.any(), (name, both.filter(pl.Series(differ)).select(
            "transaction_id", name, f"{name}_sql").head(5).to_dicts())


def test_the_edges_fall_where_the_windows_say(both):
    edge = {r["transaction_id"]: r for r in both.filter(pl.col("transaction_id").str.starts_with("TX-EDGE"))
            .to_dicts()}

    def of(i: int) -> dict:
        return edge[f"TX-EDGE-{i:04d}"]

    assert (of(1)["n_hour"], of(2)["n_hour"]) == (2, 2)  # [t - 1h, t]: the first counts at 1h, not 1h + 1ms
    assert of(1)["amount_ratio"] == 60.0 / 40.0 and of(0)["amount_ratio"] == 1.0  # a first purchase: 1
    assert of(3)["new_device"] and not of(4)["new_device"] and not of(0)["new_device"]
    assert of(5)["new_city"] and of(5)["km_from_previous"] > 2_500
    assert of(5)["speed_kmh"] == pytest.approx(of(5)["km_from_previous"] * 3600 / fraud_features.MIN_GAP_SECONDS)
    # a customer's counts are of their previous CUSTOMER_HISTORY purchases at most, and the current one
    assert (of(6)["n_week"], of(7)["n_week"]) == (fraud_features.CUSTOMER_HISTORY + 1,) * 2
    assert of(14)["n_week"] == 2 and of(14)["amount_ratio"] == 1.0  # [t - 1 week, t]
    assert of(8)["m_n_hour"] == of(9)["m_n_hour"] == 1  # one millisecond, two cards: neither counts the other
    assert of(10)["m_unusual_hour"] == 1 and of(10)["m_n_hour"] == 3
    # nothing reaches back further than the week a training set reads before its first day
    assert not of(12)["new_device"] and not of(12)["new_city"] and of(12)["km_from_previous"] == 0.0
    assert of(12)["n_week"] == 1 and of(12)["speed_kmh"] == 0.0


def test_the_score_as_sql_equals_the_score_in_python_and_names_its_strongest_features(both, model):
    ref, sql = both["score"].to_numpy(), both["score_sql"].to_numpy()
    assert np.allclose(ref, sql, rtol=1e-9, atol=1e-12)
    assert 0 < (sql >= model.threshold).sum() < both.height * 0.05  # the training sample's top 1%, give or take
    metrics = fraud_score.day_metrics(both["user_id"].to_numpy(), ref, both["is_fraud"].to_numpy())
    assert metrics["auc"] > 0.9  # fitted on these very purchases: a check of the arithmetic, not a judgment
    top = both.sort("score", descending=True).head(1)
    words = model.strongest(top)[0]
    assert len(words) == 3 and all(w in dict(fraud_features.FEATURES).values() for w in words)
    assert fraud_score.FraudModel.from_json(model.to_json()) == model


def test_the_sql_names_every_feature_and_reads_no_label():
    query = fraud_features.feature_query()
    assert all(name in query for name in FEATURE_NAMES)
    assert "is_fraud" not in query and "fraud_pattern" not in query


def test_a_published_model_scores_from_its_effective_time_in_the_rules_sql_as_in_the_reference(
        purchases, model, tmp_path):
    """The stream's `fraud_score` rule (the features, joined with the rules version in force, scored
    with that version's coefficients) against the Python reference, alert for alert, under three
    versions: the score off, a model from one time, a second model (a higher threshold) from a later
    one, then the second model again but as trained on features of another definition, which
    scores nothing. Each alert says its score, its model and its three strongest features, as Python
    names them."""
    from dataclasses import replace

    from credit_platform.rules.fraud import DEFAULT_FRAUD_RULES, explained, reference_alerts, rules_from_settings
    from credit_platform.stream.backtest import run_rule_rows

    start, end = purchases["timestamp"].min(), purchases["timestamp"].max()
    first = datetime.fromisoformat(start) + (datetime.fromisoformat(end) - datetime.fromisoformat(start)) / 3
    second = first + (datetime.fromisoformat(end) - first) / 2
    third = second + (datetime.fromisoformat(end) - second) * 3 / 4
    newer = replace(model, version="test-model-2", threshold=min(0.999, model.threshold + (1 - model.threshold) / 2))
    outdated = replace(newer, version="test-model-3", features_version="0" * 12)  # after a change of the features
    versions = [(datetime(1970, 1, 1, tzinfo=UTC), 1, DEFAULT_FRAUD_RULES),
                (first, 2, rules_from_settings(model.settings())), (second, 3, rules_from_settings(newer.settings())),
                (third, 4, rules_from_settings(outdated.settings()))]
    lines = [json.dumps(r).encode() for r in purchases.iter_rows(named=True)]
    rows = [r for r in run_rule_rows(tmp_path, [], lines, {"": (DEFAULT_FRAUD_RULES, versions)})[""]
            if r[1] == "fraud_score"]
    no_applications = generator.generate("applications", 1, GeneratorConfig()).clear()
    reference = {a for a in reference_alerts(no_applications, purchases, versions=versions)
                 if a.startswith("fraud_score:")}
    assert {r[0] for r in rows} == reference and len(reference) >= 5
    scored = reference_features(purchases)
    later = scored.filter(pl.col("ts") >= third.replace(tzinfo=None))
    assert (newer.score(later) >= newer.threshold).sum() > 0  # what the outdated model does not alert
    for _, rule, _, reason, _, _, event_id, event_time, version in rows:
        reason = explained(rule, reason)
        at = event_time.replace(tzinfo=UTC)
        assert version == (2 if at < second else 3) and first <= at < third
        used = model if version == 2 else newer
        row = scored.filter(pl.col("transaction_id") == event_id)
        assert f"by model {used.version}; raised most by {'; '.join(used.strongest(row)[0])}" in reason, reason
        assert float(reason.split()[1]) == pytest.approx(float(used.score(row)[0]), abs=5e-4)
