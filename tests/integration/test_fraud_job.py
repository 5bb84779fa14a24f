"""The Flink fraud job on the real session cluster, Kafka and Mongo-protocol server: exactly the
alerts the rules define, once each, also across a TaskManager crash, a JobManager crash and a savepoint
restart."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from credit_platform.ingest import generator
from credit_platform.ingest.scenario import GeneratorConfig
from credit_platform.model.fraud_score import FraudModel, fit
from credit_platform.platform import process
from credit_platform.platform.process import wait_until
from credit_platform.platform.services.flink import FlinkJobManager, FlinkTaskManager
from credit_platform.quality import detection_report
from credit_platform.rules.fraud import (
    DEFAULT_FRAUD_RULES,
    SCORE_FIELDS,
    explained,
    reference_alerts,
    score_details,
)
from credit_platform.rules.fraud_features import reference_features
from credit_platform.stream import backtest, flink, fraud_job
from tests.helpers.fraud_runs import by_rule

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("fraud_run", [(3_000, 5)], indirect=True)
def test_alerts_exactly_as_the_rules_define_each_once(fraud_run):
    fraud_run.submit()
    fraud_run.produce(slice(None))
    fraud_run.finish()
    got = fraud_run.wait_for_alerts()
    assert got == fraud_run.expected, (by_rule(fraud_run.expected - got), by_rule(got - fraud_run.expected))
    # every rule fired (the learned score is off until a model is published: see the test of that below)
    assert set(by_rule(got)) == set(detection_report.RULES) - {"fraud_score"}
    assert fraud_run.alerts.count_documents({}) == len(got)

    # every qualifying event of the seed rule alerted, no other event by that rule
    seed_hits = fraud_run.apps.filter((pl.col("loan_amount") > 15000) & (pl.col("credit_score") < 450))
    assert {f"large_loan_low_score:{i}" for i in seed_hits["application_id"]} == {
        i for i in got if i.startswith("large_loan_low_score:")}

    # the detection report of the live alerts: each rule catches its own pattern; the report is the
    # reference's (false positives on look-alikes and normal traffic included)
    truth = detection_report.labels(fraud_run.apps, fraud_run.txs)
    docs = list(fraud_run.alerts.find({}, {"event_id": 1, "rule": 1}))
    alerts = pl.DataFrame({"event_id": [d["event_id"] for d in docs], "rule": [d["rule"] for d in docs]})
    report = detection_report.score(truth, alerts)
    for score in report.rules:
        assert score.rule == "fraud_score" or (score.recall is not None and score.recall >= 0.9), score
    assert report == detection_report.score(truth, detection_report.alerts_frame(fraud_run.expected))
    doc = fraud_run.alerts.find_one({"rule": "impossible_travel"})
    assert doc["severity"] == "high" and " km from " in doc["reason"] and doc["event_id"] and doc["detected_at"]


@pytest.mark.parametrize("fraud_run", [(1_500, 12)], indirect=True)
def test_a_job_wider_than_its_topics_still_alerts_exactly_as_the_rules_define(fraud_run, platform):
    """Parallelism 2 (the TaskManager's two slots) over one-partition topics: a source subtask with no
    partition would never have an event time and would hold every window back for good, so the job
    runs its sources at one subtask a partition and the rules at 2."""
    assert wait_until(lambda: flink._rest(platform, "/overview")["slots-available"] >= 2, timeout=60), \
        "another job holds a slot of the test cluster"
    fraud_run.submit("--parallelism", "2")
    vertices = flink._rest(platform, f"/jobs/{fraud_run.job_id}")["vertices"]
    assert {v["parallelism"] for v in vertices if v["name"].startswith("Source: KafkaSource") and "_in" in v["name"]} \
        == {1}
    assert max(v["parallelism"] for v in vertices) == 2
    fraud_run.produce(slice(None))
    fraud_run.finish()
    got = fraud_run.wait_for_alerts()
    assert got == fraud_run.expected, (by_rule(fraud_run.expected - got), by_rule(got - fraud_run.expected))


def _kill_the_jvm(service):
    """SIGKILL the service's JVM alone, as the kernel's OOM killer or a fatal error ends it, and not its
    keeper; returns a check that the keeper has logged starting it again."""
    keeper, log_size = service.pid(), service.log_path.stat().st_size
    jvm = next(p for p in process.process_tree(keeper) if Path(f"/proc/{p}/comm").read_text().strip() == "java")
    os.kill(jvm, signal.SIGKILL)

    def restarted() -> bool:
        with open(service.log_path, errors="replace") as log:
            log.seek(log_size)
            return f"keeper: {service.name} ended by itself (signal SIGKILL)" in log.read() \
                and not process.pid_alive(jvm) and service.pid() == keeper

    return restarted


@pytest.mark.parametrize("fraud_run", [(12_000, 6)], indirect=True)
def test_taskmanager_killed_mid_stream_recovers_without_loss_or_duplicates(fraud_run, platform):
    fraud_run.submit()
    fraud_run.produce(slice(0, 6_000))
    assert wait_until(lambda: fraud_run.alerts.count_documents({}) > 0 and fraud_run.checkpoints_completed() > 0,
                      timeout=120)
    taskmanager = FlinkTaskManager(platform)
    keeper, restarted = taskmanager.pid(), _kill_the_jvm(taskmanager)
    fraud_run.produce(slice(6_000, None))  # arrives while the job has no TaskManager
    assert wait_until(restarted, timeout=30)  # nobody starts it: its keeper does, the job takes its slots again
    fraud_run.finish()
    got = fraud_run.wait_for_alerts(timeout=300)
    assert got == fraud_run.expected, (by_rule(fraud_run.expected - got), by_rule(got - fraud_run.expected))
    assert fraud_run.alerts.count_documents({}) == len(fraud_run.expected)
    assert taskmanager.pid() == keeper and taskmanager.healthy()


@pytest.mark.parametrize("fraud_run", [(8_000, 13)], indirect=True)
def test_a_jobmanager_killed_mid_stream_comes_back_and_the_job_resumes_from_its_checkpoint(fraud_run, platform):
    first = fraud_run.submit()
    fraud_run.produce(slice(0, 4_000))
    assert wait_until(lambda: fraud_run.alerts.count_documents({}) > 0 and fraud_run.checkpoints_completed() > 0,
                      timeout=120)
    jobmanager = FlinkJobManager(platform)
    restarted = _kill_the_jvm(jobmanager)
    fraud_run.produce(slice(4_000, None))  # arrives while there is no JobManager
    assert wait_until(restarted, timeout=30)
    assert wait_until(lambda: jobmanager.healthy() and FlinkTaskManager(platform).healthy(), timeout=180)
    # no HA: the JobManager came back without the job; the supervisor's step submits it again from its
    # latest retained checkpoint, and the events since are judged once
    assert fraud_run.ensure_running() == "submitted" and fraud_run.job_id != first
    fraud_run.finish()
    got = fraud_run.wait_for_alerts(timeout=300)
    assert got == fraud_run.expected, (by_rule(fraud_run.expected - got), by_rule(got - fraud_run.expected))
    assert fraud_run.alerts.count_documents({}) == len(fraud_run.expected)


@pytest.mark.parametrize("fraud_run", [(8_000, 7)], indirect=True)
def test_resubmitted_from_savepoint_continues_without_duplicates(fraud_run, platform):
    """Stopped with a savepoint, the job catches up on what arrived meanwhile as `fraud-job start
    --align-drift` does it: both event topics read within 5 s of event time of each other."""
    first = fraud_run.submit()
    fraud_run.produce(slice(0, 4_000))
    assert wait_until(lambda: fraud_run.alerts.count_documents({}) > 0, timeout=120)
    savepoint = fraud_job.stop(platform, fraud_run.name)
    assert savepoint and flink.job_state(platform, first) == "FINISHED"
    fraud_run.produce(slice(4_000, None))  # arrives while the job is stopped
    second = fraud_run.submit("--align-drift", "5 s", restore_from=savepoint)
    assert second != first
    fraud_run.finish()
    got = fraud_run.wait_for_alerts()
    assert got == fraud_run.expected, (by_rule(fraud_run.expected - got), by_rule(got - fraud_run.expected))
    assert fraud_run.alerts.count_documents({}) == len(fraud_run.expected)


# Events dated within the next hour (the contract's limit) from when the run is made, so that rule
# changes can take effect among them: a live change applies from its effective time on, never the past.
@pytest.mark.parametrize("fraud_run", [(2_400, 8, {"starts_in": timedelta(minutes=4), "rate_per_second": 1.2})],
                         indirect=True)
def test_governed_rule_changes_apply_live_from_their_effective_time(fraud_run, platform, tmp_path):
    """Rule changes published while the job runs (`rules set`'s path: checked, stored, published to the
    rules topic) alter alerts exactly from their effective event times: the seed rule's thresholds
    lowered and amount spikes switched off from one time, spikes back on from a later one. Same job
    id throughout, each alert once, and each alert names the rule version that raised it. The
    backtest's runner, on the same events and versions, raises the very same alerts."""
    job = fraud_run.submit()
    spiked = fraud_run.txs.filter(pl.col("fraud_pattern") == "amount_spike")["timestamp"].str.to_datetime(
        time_zone="UTC").sort()
    t2, t3 = spiked[len(spiked) // 3], spiked[2 * len(spiked) // 3]  # spikes before, between and after
    fraud_run.produce((None, t2 - timedelta(minutes=1)))
    assert wait_until(lambda: fraud_run.checkpoints_completed() > 0, timeout=120)
    v2 = fraud_run.rules.change({"large_loan_low_score.loan_amount_above": "12000",
                                 "large_loan_low_score.credit_score_below": "520", "amount_spike.enabled": "off"},
                                "test: lower seed thresholds, spikes off", "integration test", t2)
    v3 = fraud_run.rules.change({"amount_spike.enabled": "on"}, "test: spikes back on", "integration test", t3)
    assert (v2.version, v3.version) == (2, 3) and v2.published_at and v3.published_at
    fraud_run.produce((t2 - timedelta(minutes=1), None))
    fraud_run.finish(at=fraud_run.start + timedelta(minutes=45))
    versions = [v.in_force() for v in fraud_run.rules.history()]
    expected = reference_alerts(fraud_run.apps, fraud_run.txs, versions=versions)
    assert expected != fraud_run.expected  # the changes matter on this data
    fraud_run.expected = expected
    got = fraud_run.wait_for_alerts()
    assert got == expected, (by_rule(expected - got), by_rule(got - expected))
    assert fraud_run.alerts.count_documents({}) == len(expected)
    assert fraud_job.status(platform, fraud_run.name).job_id == job  # no restart

    docs = list(fraud_run.alerts.find({}, {"rule": 1, "event_time": 1, "rule_version": 1, "reason": 1}))
    spikes = [d for d in docs if d["rule"] == "amount_spike"]
    at = [d["event_time"].replace(tzinfo=UTC) for d in spikes]
    assert spikes and not any(t2 <= t < t3 for t in at)  # off between the two versions ...
    assert any(t < t2 for t in at) and any(t >= t3 for t in at)  # ... on before and after
    assert {d["rule_version"] for d in spikes if d["event_time"].replace(tzinfo=UTC) >= t3} == {3}
    lowered = [d for d in docs if d["rule"] == "large_loan_low_score"
               and t2 <= d["event_time"].replace(tzinfo=UTC) < t3]
    assert lowered and {d["rule_version"] for d in lowered} == {2}
    assert all("> 12000.00 with credit score" in d["reason"] and "< 520" in d["reason"] for d in lowered)

    lines = [generator.to_json_lines(frame).splitlines() for frame in (fraud_run.apps, fraud_run.txs)]
    replayed = backtest.run_rules(tmp_path, *lines, versions=versions)
    assert set(replayed) == got
    assert all(d["rule_version"] in replayed[d["_id"]] for d in docs)


def _model(count: int, seed: int, **scenario) -> FraudModel:
    """A score fitted on the features of a stream generated like the test's, with another seed (the
    generator's labels stand in for chargebacks: training from landed chargebacks is test_fraud_model's)."""
    txs = generator.generate("transactions", count, GeneratorConfig(seed=seed, fraud_share=0.05, **scenario))
    labelled = reference_features(txs).join(txs.select("transaction_id", "is_fraud"), on="transaction_id")
    return fit(labelled, labelled["is_fraud"].to_numpy(), f"fraud-logistic-test-{seed}", alert_share=0.02)


# 150 customers: in the half hour the events span, a customer's purchases have a mean to stand out from
SCORED = {"rate_per_second": 1.2, "customers": 150}


@pytest.mark.parametrize("fraud_run", [(2_400, 31, {"starts_in": timedelta(minutes=4), **SCORED})], indirect=True)
def test_a_published_model_scores_live_from_its_effective_time_with_no_restart(fraud_run, platform, tmp_path):
    """A model published while the job runs (as `train-fraud --publish` and `rules set --model` do: its
    coefficients as the next rules version) raises `fraud_score` alerts from its effective time on; a
    newer model takes over from its own. Same job id throughout; the alerts are exactly the reference's
    (features and score in Python, under the same versions), each saying its score, model and three
    strongest features; purchases at an injected compromised merchant are among them; and the
    backtest's runner, on the same events and versions, raises the same alerts with the same words."""
    job = fraud_run.submit()
    first = _model(2_400, 131, start=fraud_run.start, **SCORED)
    second = dataclasses.replace(_model(2_400, 231, start=fraud_run.start, **SCORED), version="fraud-logistic-test-2")
    at = fraud_run.txs["timestamp"].str.to_datetime(time_zone="UTC").sort()
    t2, t3 = at[len(at) // 4], at[2 * len(at) // 3]
    fraud_run.produce((None, t2 - timedelta(minutes=1)))
    assert wait_until(lambda: fraud_run.checkpoints_completed() > 0, timeout=120)
    v2 = fraud_run.rules.change(first.settings(), "test: first model", "integration test", t2)
    v3 = fraud_run.rules.change(second.settings(), "test: newer model", "integration test", t3)
    assert (v2.version, v3.version) == (2, 3)
    fraud_run.produce((t2 - timedelta(minutes=1), None))
    fraud_run.finish(at=fraud_run.start + timedelta(minutes=45))
    versions = [v.in_force() for v in fraud_run.rules.history()]
    fraud_run.expected = reference_alerts(fraud_run.apps, fraud_run.txs, versions=versions)
    got = fraud_run.wait_for_alerts()
    assert got == fraud_run.expected, (by_rule(fraud_run.expected - got), by_rule(got - fraud_run.expected))
    assert fraud_job.status(platform, fraud_run.name).job_id == job  # no restart

    docs = {d["_id"]: d for d in fraud_run.alerts.find({"rule": "fraud_score"})}
    assert len(docs) >= 10, by_rule(got)
    for d in docs.values():
        when = d["event_time"].replace(tzinfo=UTC)
        assert when >= t2 and d["rule_version"] == (2 if when < t3 else 3)
        model = first if d["rule_version"] == 2 else second
        assert f"by model {model.version}; raised most by " in d["reason"] and d["reason"].count("; ") == 3
        # and as fields of their own, for an analyst to filter and sort on
        assert d["model_version"] == model.version and abs(d["score_threshold"] - model.threshold) <= 5e-4
        assert d["score"] >= d["score_threshold"] and d["reason"].endswith("; ".join(d["top_features"]))
        assert len(set(d["top_features"])) == 3
    pattern = dict(zip(fraud_run.txs["transaction_id"], fraud_run.txs["fraud_pattern"], strict=True))
    assert any(pattern[d["event_id"]] == "compromised_merchant" for d in docs.values()), by_rule(got)

    lines = generator.to_json_lines(fraud_run.txs).splitlines()
    rows = backtest.run_rule_rows(tmp_path, [], lines, {"": (DEFAULT_FRAUD_RULES, versions)})[""]
    batch = {r[0]: (explained(r[1], r[3]), score_details(r[1], r[3]), r[-1]) for r in rows if r[1] == "fraud_score"}
    assert batch == {i: (d["reason"], {k: d[k] for k in SCORE_FIELDS}, d["rule_version"]) for i, d in docs.items()}


@pytest.mark.parametrize("fraud_run", [(1_000, 9)], indirect=True)
def test_late_events_are_reported_and_the_same_sql_recovers_their_alerts(fraud_run, tmp_path):
    """A burst dated an hour back, sent after the stream's event time has passed it: every event of it is
    reported late with the watermark (fraud_stream.late), no windowed alert is raised live, and the same
    rule SQL over the same events (the nightly replay's runner) alerts the whole burst, as live traffic
    would have been alerted."""
    import json as jsonlib

    from credit_platform.ingest import producer

    fraud_run.submit()
    fraud_run.produce(slice(None))
    fraud_run.finish()
    assert fraud_run.wait_for_alerts() == fraud_run.expected
    late_at = datetime.now(UTC) - timedelta(hours=1)
    template = jsonlib.loads(generator.to_json_lines(fraud_run.apps[:1]))
    burst = [{**template, "application_id": f"LATE-{k}", "user_id": "U-late", "device_id": "D-late",
              "credit_score": 720, "loan_amount": 900.0,
              "timestamp": (late_at + timedelta(minutes=k)).isoformat(timespec="milliseconds").replace("+00:00", "Z")}
             for k in range(5)]
    lines = [jsonlib.dumps(b).encode() for b in burst]
    assert producer.produce(fraud_run.settings, "credit_applications", lines, destination=fraud_run.apps_topic,
                            progress=False).complete
    late = fraud_run.refused(5, topic=fraud_run.late_topic)
    assert sorted(e["record_id"] for e in late) == [f"LATE-{k}" for k in range(5)]
    assert all(e["reason"].startswith("late: event time ") and "watermark" in e["reason"] and e["stream_watermark"]
               and e["source_topic"] == fraud_run.apps_topic and e["offset"] is not None for e in late)
    assert not fraud_run.alerts.find_one({"user_id": "U-late"})  # the windows had closed

    apps = [*generator.to_json_lines(fraud_run.apps).splitlines(), *lines]
    replayed = backtest.run_rules(tmp_path, apps, generator.to_json_lines(fraud_run.txs).splitlines())
    assert {a for a in replayed if "LATE-" in a} == {f"application_velocity:LATE-{k}" for k in range(5)}


@pytest.mark.parametrize("fraud_run", [(1_500, 11, {"partitions": 3, "rate_per_second": 1_500 / 7_200,
                                                      "starts_in": -timedelta(hours=3)})], indirect=True)
def test_a_file_spanning_hours_after_a_quiet_period_is_alerted_whole(fraud_run):
    """Three partitions, quiet for longer than any idleness allowance, then a file of events spanning
    95 minutes arrives at once: whichever partition is read first must not carry the stream's event
    time past the others' events. Every expected alert is raised live and no event is late."""
    fraud_run.submit()
    head = datetime.now(UTC) - timedelta(hours=3) + timedelta(minutes=25)
    fraud_run.produce((None, head))
    # the first part judged as far as its own events allow, then nothing for 20 s
    assert wait_until(lambda: fraud_run.alerts.count_documents({}) > 0, timeout=120)
    time.sleep(20)
    fraud_run.produce((head, head + timedelta(minutes=95)))
    fraud_run.produce((head + timedelta(minutes=95), None))
    fraud_run.finish()
    got = fraud_run.wait_for_alerts()
    assert got == fraud_run.expected, (by_rule(fraud_run.expected - got), by_rule(got - fraud_run.expected))
    late = fraud_run.refused(1, timeout=5, topic=fraud_run.late_topic)
    assert late == [], late[:3]


@pytest.mark.parametrize("fraud_run", [(1_000, 10)], indirect=True)
def test_a_window_change_is_deployed_from_a_savepoint_without_loss_or_duplicates(fraud_run, platform):
    """A window's length cannot change live: the supervisor's `ensure_running` sees the version in force
    has other windows, stops the job with a savepoint and submits it again from it. The alerts stay
    exactly once, and a burst that only the longer window sees is alerted after the redeploy."""
    import json as jsonlib

    from credit_platform.ingest import producer

    first = fraud_run.submit()
    fraud_run.produce(slice(None))
    fraud_run.finish()
    assert fraud_run.wait_for_alerts() == fraud_run.expected
    assert fraud_run.ensure_running() == "running"  # nothing to do yet
    v2 = fraud_run.rules.change({"application_velocity.window_minutes": "15"}, "test: longer velocity window",
                                "integration test")
    assert fraud_run.ensure_running().startswith("redeployed")
    assert fraud_run.job_id != first and fraud_job.deployed_windows(platform, fraud_run.name)[
        "velocity_window_minutes"] == 15
    assert fraud_run.ensure_running() == "running"

    # 4 applications over 12 minutes: a burst for a 15-minute window, not for a 10-minute one
    start = datetime.now(UTC) + timedelta(minutes=2)
    template = jsonlib.loads(generator.to_json_lines(fraud_run.apps[:1]))
    burst = [jsonlib.dumps({**template, "application_id": f"SLOW-{k}", "user_id": "U-slow", "device_id": f"D-slow{k}",
                            "credit_score": 720, "loan_amount": 900.0, "timestamp": (start + timedelta(minutes=4 * k))
                            .isoformat(timespec="milliseconds").replace("+00:00", "Z")}).encode() for k in range(4)]
    assert producer.produce(platform, "credit_applications", burst, destination=fraud_run.apps_topic,
                            progress=False).complete
    fraud_run.finish(at=start + timedelta(minutes=30))
    fraud_run.expected = fraud_run.expected | {f"application_velocity:SLOW-{k}" for k in range(4)}
    got = fraud_run.wait_for_alerts()
    assert got == fraud_run.expected, (by_rule(fraud_run.expected - got), by_rule(got - fraud_run.expected))
    assert fraud_run.alerts.count_documents({}) == len(fraud_run.expected)
    assert {d["rule_version"] for d in fraud_run.alerts.find({"user_id": "U-slow"})} == {v2.version}
