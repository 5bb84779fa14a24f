"""`rules backtest` on the real platform: events through Kafka and the landing, then the stream's
rule SQL over the landed day, under the live rule versions and under a proposal, equal to the
reference; the report is stored in the warehouse and as JSON."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta

import polars as pl
import psycopg
import pytest
from pymongo import MongoClient

from credit_platform.contracts.names import APPLICATIONS_TOPIC, MONGO_DB, TRANSACTIONS_TOPIC
from credit_platform.ingest import generator, landing, producer
from credit_platform.ingest.scenario import GeneratorConfig
from credit_platform.rules.fraud import RULES, reference_alerts, rules_from_settings
from credit_platform.rules.fraud_store import RulesStore
from credit_platform.stream import backtest
from tests.integration.conftest import cli

pytestmark = pytest.mark.integration

# a day no other test sends events for, and none of this test's earlier runs on the same state dir
DAY = date(2023, 1, 1) + timedelta(days=random.randrange(700))


def _by_rule(alerts: set[str]) -> dict[str, int]:
    return {rule: sum(1 for a in alerts if a.startswith(f"{rule}:")) for rule in RULES}


def test_backtest_of_landed_days_equals_the_rules_and_reports_a_proposal(platform, landing_dir):
    config = GeneratorConfig(seed=21, fraud_share=0.05, customers=3_000, rate_per_second=0.08,
                             start=datetime(DAY.year, DAY.month, DAY.day, 1, 0, tzinfo=UTC))
    apps = generator.generate("applications", 3_000, config)
    txs = generator.generate("transactions", 3_000, config)
    for kind, frame in (("credit_applications", apps), ("transactions", txs)):
        summary = producer.produce(platform, kind, generator.to_json_lines(frame).splitlines(), progress=False)
        assert summary.complete
    landing.Lander(platform, [APPLICATIONS_TOPIC, TRANSACTIONS_TOPIC], run_id="backtest-test").run()

    proposal = {"application_velocity.min_applications": "3", "amount_spike.enabled": "false"}
    report = backtest.backtest(platform, DAY, DAY, proposal, warmup_days=1, run_id="backtest-test-1")
    print(report.render())
    live = [v.in_force() for v in RulesStore(platform).history()]
    proposed = [(t, v, rules_from_settings(proposal, r)) for t, v, r in live]
    # what the stream would read: every landed event of the day (an earlier run of this test on the same
    # state dir sent the same events once more), independently of the backtest's own reading
    landed = {table: frame.filter(pl.col("_error").is_null()).with_columns(
        pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")) for table, frame in
        backtest.landed_events(platform, DAY, DAY).items()}
    assert landed["applications"].height >= apps.height and landed["transactions"].height >= txs.height
    want_live = _by_rule(reference_alerts(*landed.values(), versions=live))
    want_proposed = _by_rule(reference_alerts(*landed.values(), versions=proposed))
    got = {o.rule: o for o in report.outcomes}
    assert report.events == landed["applications"].height + landed["transactions"].height
    assert {r: o.live_alerts for r, o in got.items()} == want_live
    assert {r: o.proposed_alerts for r, o in got.items()} == want_proposed
    assert got["amount_spike"].proposed_alerts == 0 < got["amount_spike"].live_alerts
    velocity = got["application_velocity"]
    assert velocity.recall == 1.0 and velocity.pattern_events > 0  # whole bursts caught

    with psycopg.connect(platform.postgres_uri()) as conn:
        rows = conn.execute("SELECT rule, live_alerts, proposed_alerts, proposal FROM fraud_rule_backtests "
                            "WHERE run_id = %s ORDER BY rule", ("backtest-test-1",)).fetchall()
    assert {r[0]: (r[1], r[2]) for r in rows} == {r: (o.live_alerts, o.proposed_alerts) for r, o in got.items()}
    assert rows[0][3] == proposal
    stored = json.loads(report.report_path.read_text())
    assert stored["run_id"] == "backtest-test-1" and len(stored["outcomes"]) == len(RULES)

    # the nightly replay: the day's alerts written as the stream writes them, once
    collection = "alerts_replay_test"
    with MongoClient(platform.mongo_uri) as client:
        client[MONGO_DB][collection].drop()
        replay = backtest.replay_day(platform, DAY, warmup_days=1, collection=collection)
        want = reference_alerts(*landed.values(), versions=live)
        assert (replay.alerts, replay.added, replay.events) == (len(want), len(want), report.events)
        docs = list(client[MONGO_DB][collection].find())
        assert {d["_id"] for d in docs} == want
        assert all(d["detected_by"] == "replay" and d["reason"] for d in docs)
        assert {d["rule_version"] for d in docs} <= {v for _, v, _ in live}
        again = backtest.replay_day(platform, DAY, warmup_days=1, collection=collection)
        assert (again.alerts, again.added) == (len(want), 0)
        assert again.summary()["from_stream"] == len(want)  # a rerun finds every alert there
        client[MONGO_DB][collection].drop()

    # the CLI: the same report, and a proposal it refuses says why
    out = cli("rules", "backtest", "--from", str(DAY), "--to", str(DAY), "--warmup-days", "1",
              "--set", "application_velocity.min_applications=3", "--set", "amount_spike.enabled=false").stdout
    assert f"{velocity.proposed_alerts:>9,}" in out and "precision" in out
    refused = cli("rules", "backtest", "--from", str(DAY), "--to", str(DAY), "--set", "shared_device.min_users=1",
                  check=False)
    assert refused.returncode == 2 and "outside 2..1000" in refused.stderr


def test_rules_cli_shows_the_version_in_force_and_refuses_a_bad_change(platform):
    shown = cli("rules", "show").stdout
    assert "fraud rules version" in shown and "application_velocity.min_applications" in shown
    assert "on redeploy" in shown and "live" in shown
    refused = cli("rules", "set", "application_velocity.min_applications=1", "--reason", "x", "--approved-by", "y",
                  check=False)
    assert refused.returncode == 2 and "outside 2..1000" in refused.stderr
    refused = cli("rules", "set", "shared_device.enabled=off", "--approved-by", "y", check=False)
    assert refused.returncode == 2 and "`reason` is required" in refused.stderr
    assert "v1 " in cli("rules", "history").stdout
