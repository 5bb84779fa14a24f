"""The cluster topology survives losing any one node, against real processes: each test says what it
killed (kill -9), when, and what it compared with.

- a Kafka broker, the leader of a partition, during a produce run with acks=all: every record is in the
  topic exactly once, the producer went on, the partitions it led have other leaders;
- a TaskManager while the fraud job (parallelism 2, a subtask on each) is working through a stream:
  the job restarts on the other TaskManager under the same id, and its alerts are exactly those of an
  undisturbed run (the rules' reference, which the undisturbed job equals: tests/integration);
- a Spark worker while the nightly job runs on it: the job completes on the other worker, and the
  day's warehouse rows equal those of an undisturbed run of the same job.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import polars as pl
import psycopg
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic

from credit_platform.batch import spark_submit
from credit_platform.contracts.names import APPLICATIONS_TOPIC, KAFKA_ADMIN, ROLE_ETL, TRANSACTIONS_TOPIC
from credit_platform.ingest import generator, landing, producer
from credit_platform.ingest.scenario import GeneratorConfig
from credit_platform.platform import services
from credit_platform.platform.process import wait_until
from credit_platform.stream import flink, fraud_job
from tests.helpers.fraud_runs import FraudRun, by_rule, partitions, topics_ready

from .conftest import cli

pytestmark = pytest.mark.cluster


def _service(settings, name: str) -> services.Service:
    return {s.name: s for s in services.all_services(settings)}[name]


def test_every_node_of_the_topology_runs_and_topics_are_replicated(cluster):
    report = json.loads(cli("status", "--json", check=False).stdout)
    assert report["topology"] == "cluster"
    running = {row["name"] for row in report["services"] if row["state"] == "running"}
    assert {"kafka-1", "kafka-2", "kafka-3", "flink-jobmanager", "flink-taskmanager", "flink-taskmanager-2",
            "spark-master", "spark-worker", "spark-worker-2"} <= running
    assert len(cluster.kafka_bootstrap.split(",")) == 3
    admin = KafkaAdminClient(**cluster.kafka(KAFKA_ADMIN))
    try:
        assert {b["broker_id"] for b in admin.describe_cluster()["brokers"]} == {1, 2, 3}
        for partition in partitions(admin, APPLICATIONS_TOPIC):
            assert sorted(partition["replicas"]) == [1, 2, 3], partition
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, APPLICATIONS_TOPIC)])
        assert configs["topic"][APPLICATIONS_TOPIC]["min.insync.replicas"]["value"] == "2"
    finally:
        admin.close()
    managers = {m["id"] for m in flink._rest(cluster, "/taskmanagers")["taskmanagers"]}
    assert managers == {"taskmanager-1", "taskmanager-2"}
    workers = [w for w in services.SparkMaster(cluster).workers() if w["state"] == "ALIVE"]
    assert len(workers) == 2
    assert cluster.spark_master == f"spark://{cluster.host}:{cluster.ports['spark_master']}"


def test_a_kafka_broker_killed_during_a_produce_run_loses_and_duplicates_nothing(cluster):
    topic = f"{TRANSACTIONS_TOPIC}.test-{uuid.uuid4().hex[:8]}"  # a topic the producer may write
    admin = KafkaAdminClient(**cluster.kafka(KAFKA_ADMIN))
    durable = {"min.insync.replicas": "2"}
    admin.create_topics([NewTopic(topic, 3, 3, topic_configs=durable),
                         NewTopic(f"{topic}.dlq", 1, 3, topic_configs=durable)])
    assert wait_until(lambda: topics_ready(admin, {topic: 3, f"{topic}.dlq": 1}, 3), timeout=60)
    led = {p["partition"]: p["leader"] for p in partitions(admin, topic)}
    node = led[0]
    victim = _service(cluster, f"kafka-{node}")
    frame = generator.generate("transactions", 80_000, GeneratorConfig(seed=31))
    lines = generator.to_json_lines(frame).splitlines()
    sent: dict = {}
    run = threading.Thread(target=lambda: sent.update(summary=producer.produce(
        cluster, "transactions", lines, destination=topic, rate=2_000, progress=False)))
    run.start()
    consumer = KafkaConsumer(**cluster.kafka(KAFKA_ADMIN), enable_auto_commit=False)
    parts = [TopicPartition(topic, p) for p in led]
    assert wait_until(lambda: sum(consumer.end_offsets(parts).values()) > 4_000, timeout=60)
    os.kill(victim.pid(), signal.SIGKILL)
    at_kill = sum(consumer.end_offsets(parts).values())
    print(f"killed kafka-{node} (leader of partition 0) after {at_kill} of {len(lines)} records")
    assert at_kill < len(lines), "the run ended before the kill: nothing was tested"
    run.join(timeout=600)
    assert not run.is_alive()
    summary = sent["summary"]
    assert summary.complete, summary.render()

    # the partitions the dead broker led have other leaders
    after = {p["partition"]: p["leader"] for p in partitions(admin, topic)}
    assert node not in after.values(), after
    moved = [p for p, leader in led.items() if leader == node]
    print(f"partitions {moved} moved from node {node} to {[after[p] for p in moved]}")

    # every record once, read back from the two brokers left
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    end = sum(consumer.end_offsets(parts).values())
    ids: Counter = Counter()
    deadline = time.monotonic() + 120
    while sum(ids.values()) < end and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=1000).values():
            ids.update(json.loads(r.value)["transaction_id"] for r in records)
    consumer.close()
    assert sum(ids.values()) == len(lines) and set(ids) == set(frame["transaction_id"]), \
        (sum(ids.values()), len(lines))
    assert max(ids.values()) == 1

    victim.start()  # back in the cluster: its replicas catch up into the in-sync set
    assert wait_until(lambda: [len(p["isr"]) for p in partitions(admin, topic)] == [3, 3, 3], timeout=120)
    admin.delete_topics([topic, f"{topic}.dlq"])
    admin.close()


@pytest.fixture
def fraud_run(cluster):
    run = FraudRun(cluster, 8_000, 21, partitions=2)
    yield run
    run.close()


def test_a_taskmanager_killed_mid_stream_leaves_the_alerts_of_an_undisturbed_run(fraud_run, cluster):
    job_id = fraud_run.submit()  # the topology's parallelism: 2
    placed = set()
    for vertex in flink._rest(cluster, f"/jobs/{job_id}")["vertices"]:
        placed |= {tm["taskmanager-id"] for tm in
                   flink._rest(cluster, f"/jobs/{job_id}/vertices/{vertex['id']}/taskmanagers")["taskmanagers"]}
    assert placed == {"taskmanager-1", "taskmanager-2"}, placed  # one subtask on each
    fraud_run.produce(slice(0, 4_000))
    assert wait_until(lambda: fraud_run.alerts.count_documents({}) > 0 and fraud_run.checkpoints_completed() > 0,
                      timeout=180)
    victim, survivor = _service(cluster, "flink-taskmanager-2"), _service(cluster, "flink-taskmanager")
    survivor_log = survivor.log_path.stat().st_size
    victim.kill()  # the node: the TaskManager, its keeper and its Python workers
    print(f"killed flink-taskmanager-2 after {fraud_run.alerts.count_documents({})} alerts, "
          f"{fraud_run.checkpoints_completed()} checkpoints")
    fraud_run.produce(slice(4_000, None))  # arrives while the job fails over to the other TaskManager
    fraud_run.finish()
    got = fraud_run.wait_for_alerts(timeout=300)
    # PyFlink can end the surviving TaskManager too while the job fails over (a fatal error in a
    # cancelled Python operator's shutdown: credit_platform.platform.keeper); its keeper starts it again
    with open(survivor.log_path, errors="replace") as log:
        log.seek(survivor_log)
        restarted = [line.strip() for line in log if " keeper: " in line]
    print(f"the surviving TaskManager was started again {len(restarted)} time(s) by its keeper", *restarted)
    assert got == fraud_run.expected, (by_rule(fraud_run.expected - got), by_rule(got - fraud_run.expected),
                                       flink.job_state(cluster, job_id), restarted)
    assert fraud_run.alerts.count_documents({}) == len(fraud_run.expected)
    current = fraud_job.status(cluster, fraud_run.name)
    assert current.job_id == job_id and current.running  # restarted in place, not resubmitted
    restarts = flink._rest(cluster, f"/jobs/{job_id}/exceptions")
    assert restarts["exceptionHistory"]["entries"], "the job never noticed the lost TaskManager"
    victim.start()


def test_a_spark_worker_killed_during_the_nightly_job_leaves_the_warehouse_of_an_undisturbed_run(cluster):
    day = date(1900, 1, 1) + timedelta(days=int(time.time()) % 30_000)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    n = 300_000
    frame = generator.generate("applications", n, GeneratorConfig(seed=41, start=start, rate_per_second=n / 80_000))
    frame = frame.with_columns(pl.format("APP-cluster-{}-{}", pl.lit(day.isoformat()), pl.int_range(pl.len()))
                               .alias("application_id"))
    summary = producer.produce(cluster, APPLICATIONS_TOPIC, generator.to_json_lines(frame).splitlines(),
                               progress=False)
    assert summary.complete, summary.render()
    landing.Lander(cluster, [APPLICATIONS_TOPIC], progress=False).run()
    args = ["--date", str(day), "--run-id", f"cluster-{day}"]

    def warehouse() -> tuple:
        with psycopg.connect(cluster.postgres_uri(ROLE_ETL)) as conn:
            return conn.execute(
                "SELECT count(*), md5(string_agg((to_jsonb(t) - 'decided_at' - 'scoring_run_id')::text, '|' "
                "ORDER BY application_id)) FROM credit_scores t WHERE business_date = %s", (day,)).fetchone()

    undisturbed = spark_submit.submit(cluster, "risk_scoring", args)
    assert undisturbed.returncode == 0, undisturbed.stdout
    expected = warehouse()
    assert expected[0] == n

    victim = _service(cluster, "spark-worker-2")
    result: dict = {}
    job = threading.Thread(target=lambda: result.update(run=spark_submit.submit(cluster, "risk_scoring", args)))
    job.start()
    busy = lambda: (victim.registered() or {}).get("coresused", 0) > 0  # noqa: E731
    assert wait_until(busy, timeout=120, interval=0.2), "the job never ran on the worker"
    time.sleep(2)  # well inside the job's first stage
    assert job.is_alive(), "the job ended before the kill: nothing was tested"
    os.kill(victim.pid(), signal.SIGKILL)
    print(f"killed spark-worker-2 while it ran the nightly job's tasks for {day}")
    job.join(timeout=900)
    run = result["run"]
    assert run.returncode == 0, run.stdout
    assert warehouse() == expected
    # the master saw the worker go (spark.worker.timeout, 10 s)
    assert wait_until(lambda: any(w["state"] == "DEAD" for w in services.SparkMaster(cluster).workers()), timeout=60)
    victim.start()
