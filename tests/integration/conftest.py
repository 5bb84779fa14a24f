"""Start the real local services once for the integration tests, and prove `down` leaves nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from credit_platform import config
from credit_platform.contracts.names import APPLICATIONS_TOPIC, KAFKA_ADMIN, dlq_topic
from credit_platform.platform import process
from credit_platform.stream import flink, fraud_job
from tests.helpers.fraud_runs import FraudRun

CLI = [sys.executable, "-m", "credit_platform"]


def cli(*args: str, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=os.environ.copy())
    if check and result.returncode != 0:
        raise AssertionError(f"credit-platform {' '.join(args)} exited {result.returncode}:\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def platform() -> config.Settings:
    settings = config.load()
    try:
        result = cli("up")
        sys.stdout.write(result.stdout)
        # a health probe can time out while the just-started Airflow components compete for the
        # two cores; a service that stays unhealthy for a minute is a real failure
        deadline = time.monotonic() + 60
        status = json.loads(cli("status", "--json", check=False).stdout)
        while not status["healthy"] and time.monotonic() < deadline:
            time.sleep(3)
            status = json.loads(cli("status", "--json", check=False).stdout)
        assert status["healthy"], [s for s in status["services"] if s["state"] not in ("running", "done", "external")]
        # An earlier session's demo left the DAGs unpaused in this state dir: their schedules (the
        # fraud supervisor every 5 minutes) would start jobs under the tests. Each test that needs a
        # DAG unpauses it.
        from credit_platform.orchestration.airflow_client import AirflowClient

        client = AirflowClient(settings)
        if client.pause_all():
            # a run their schedules queued before the pause still goes ahead: let it end, then stop
            # the fraud job it may have started on the main topics
            deadline = time.monotonic() + 300
            while client.active_runs() and time.monotonic() < deadline:
                time.sleep(3)
            current = fraud_job.status(settings)
            if current.job_id and current.state in flink.ACTIVE_STATES:
                flink.cancel(settings, current.job_id)
    except BaseException:
        cli("down", check=False)  # a half-started platform must not outlive the session
        raise
    pids = {row["name"]: row["pid"] for row in status["services"]}
    yield settings
    trees = {pid: process.process_tree(pid) for pid in pids.values() if pid}
    down = cli("down", check=False)
    survivors = {pid for tree in trees.values() for pid in tree if process.pid_alive(pid)}
    assert down.returncode == 0, down.stdout + down.stderr
    assert not survivors, f"processes left after `down`: {sorted(survivors)}"


@pytest.fixture(scope="session")
def flink_job_dir() -> Path:
    return Path(__file__).parent / "flink_jobs"


@pytest.fixture(scope="module")
def landing_dir(platform, tmp_path_factory, request):
    """A landing directory of its own, so these tests see exactly what they land."""
    path = tmp_path_factory.mktemp("landing")
    old = os.environ.get("CP_LANDING_DIR")
    os.environ["CP_LANDING_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("CP_LANDING_DIR", None)
    else:
        os.environ["CP_LANDING_DIR"] = old


@pytest.fixture
def fraud_run(platform, request):
    count, seed, *scenario = request.param
    run = FraudRun(platform, count, seed, **(scenario[0] if scenario else {}))
    yield run
    run.close()


@pytest.fixture
def topic(platform):
    """A fresh topic (and its DLQ) per test, so assertions see only this test's records."""
    name = f"{APPLICATIONS_TOPIC}.test-{uuid.uuid4().hex[:8]}"  # the producer may write this family
    admin = KafkaAdminClient(**platform.kafka(KAFKA_ADMIN))
    admin.create_topics([NewTopic(name, 3, 1), NewTopic(dlq_topic(name), 1, 1)])
    yield name
    admin.delete_topics([name, dlq_topic(name)])
    admin.close()
