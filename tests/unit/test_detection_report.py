"""The detection report's arithmetic (pure logic, on hand-made alerts and on a generated day judged
by the rules' reference): per rule, per pattern, card precision@100."""

from __future__ import annotations

import dataclasses
from datetime import date

import polars as pl

from credit_platform.ingest import generator
from credit_platform.ingest.scenario import GeneratorConfig
from credit_platform.quality import detection_report
from credit_platform.quality.detection_report import CARDS_AT, score
from credit_platform.rules.fraud import DEFAULT_FRAUD_RULES, RULES, reference_alerts


def _truth(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={**detection_report.TRUTH_SCHEMA, "day": pl.Date}, orient="row")


def test_precision_recall_false_positives_and_lookalikes_per_rule_and_pattern():
    day = date(2026, 3, 1)
    truth = _truth([
        ("T1", "transaction", "U1", True, "amount_spike", day), ("T2", "transaction", "U2", True, "card_testing", day),
        ("T3", "transaction", "U3", False, "benign_big_ticket", day), ("T4", "transaction", "U4", False, None, day),
        ("T5", "transaction", "U5", True, "amount_spike", day), ("A1", "application", "U1", False, None, day)])
    alerts = pl.DataFrame({"event_id": ["T1", "T2", "T3", "T4", "T1", "X9"],
                           "rule": ["amount_spike", "amount_spike", "amount_spike", "amount_spike", "amount_spike",
                                    "amount_spike"]})
    report = score(truth, alerts)
    spike = next(s for s in report.rules if s.rule == "amount_spike")
    # T1 twice is one alerted event; X9 is no event of these; T2 is another pattern's fraud: right
    assert (spike.alerts, spike.on_fraud, spike.false_positives, spike.on_lookalikes) == (4, 2, 2, 1)
    assert (spike.pattern_events, spike.pattern_caught, spike.recall, spike.precision) == (2, 1, 0.5, 0.5)
    assert spike.events == 5 and spike.per_1000 == 800.0
    patterns = {p.pattern: p for p in report.patterns}
    assert patterns["benign_big_ticket"].share == 1.0 and not patterns["benign_big_ticket"].fraud
    assert patterns["card_testing"].share == 1.0 and patterns["amount_spike"].share == 0.5
    assert patterns["shared_device"].share is None
    # cards: four alerted, two with fraud: 2 of the top 100
    (cards,) = report.cards
    assert (cards.cards_alerted, cards.fraud_cards, cards.hits) == (4, 3, 2)
    assert cards.precision == 2 / CARDS_AT and cards.best == 3 / CARDS_AT


def test_card_precision_ranks_by_distinct_rules_then_alerts():
    day = date(2026, 3, 2)
    rows, alert_rows = [], []
    for i in range(150):  # 150 normal cards with one alert each, 60 fraud cards with two rules each
        rows.append((f"N{i}", "transaction", f"N{i:03d}", False, None, day))
        alert_rows.append((f"N{i}", "amount_spike"))
    for i in range(60):
        rows.append((f"F{i}", "transaction", f"F{i:03d}", True, "card_testing", day))
        alert_rows += [(f"F{i}", "card_testing"), (f"F{i}", "impossible_travel")]
    report = score(_truth(rows), pl.DataFrame(alert_rows, schema=["event_id", "rule"], orient="row"))
    (cards,) = report.cards
    assert cards.cards_alerted == 210 and cards.hits == 60 and cards.precision == 0.6 and cards.best == 0.6


def test_lookalikes_cause_the_false_positives_the_report_counts():
    config = GeneratorConfig(seed=5, rate_per_second=40_000 / 86_400, lookalike_share=0.01)
    apps, txs = generator.applications(40_000, config), generator.transactions(40_000, config)
    alerts = reference_alerts(apps, txs)
    labels = detection_report.labels(apps, txs)
    report = score(labels, detection_report.alerts_frame(alerts))
    by_rule = {s.rule: s for s in report.rules}
    assert set(by_rule) == set(RULES)
    spikes = by_rule["amount_spike"]  # big tickets
    assert spikes.on_lookalikes > 0 and spikes.precision < 1.0, spikes
    lookalikes = {p.pattern: p for p in report.patterns if not p.fraud}
    # households: spared by shared_device's household exception, alerted (and counted) without it
    assert lookalikes["benign_household"].events > 0 and lookalikes["benign_household"].alerted == 0
    without = reference_alerts(apps, txs, dataclasses.replace(DEFAULT_FRAUD_RULES, device_household_max=0))
    shared = {s.rule: s for s in score(labels, detection_report.alerts_frame(without)).rules}["shared_device"]
    assert shared.on_lookalikes > 0 and shared.precision < 1.0, shared
    assert set(lookalikes) == {"benign_household", "benign_travel", "benign_big_ticket"}
    assert all(p.events > 0 for p in lookalikes.values())
    assert sum(s.on_lookalikes for s in report.rules) >= sum(p.alerted for p in lookalikes.values())
    assert report.cards and all(0 <= c.precision <= c.best for c in report.cards)
    assert "card precision@100" in report.render()
