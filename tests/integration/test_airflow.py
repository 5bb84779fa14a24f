"""Airflow 3 runs with login on: a DAG is parsed, triggered through the REST API and runs green."""

from __future__ import annotations

import os
import signal
import time
import urllib.error
import urllib.request
from collections import Counter

import pytest

from credit_platform.errors import PlatformError
from credit_platform.orchestration.airflow_client import AirflowClient
from credit_platform.platform.process import wait_until
from credit_platform.platform.services import SERVICE_CLASSES
from credit_platform.platform.services.airflow import AirflowScheduler

pytestmark = pytest.mark.integration
DAG_ID = "platform_healthcheck"


def test_rest_api_requires_login(platform):
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{platform.airflow_url}/api/v2/dags", timeout=10)
    assert info.value.code == 401
    with pytest.raises(PlatformError, match="HTTP 401"):
        AirflowClient(platform, password="wrong-password")


def test_healthcheck_dag_runs_green_through_rest_api(platform):
    client = AirflowClient(platform)
    client.wait_for_dag(DAG_ID)
    client.unpause(DAG_ID)
    assert client.dag(DAG_ID)["is_paused"] is False
    run_id = client.trigger(DAG_ID)
    assert client.wait_for_run(DAG_ID, run_id, timeout=600) == "success"

    tis = client.task_instances(DAG_ID, run_id)
    services = {cls.name for cls in SERVICE_CLASSES if not cls.oneshot and not cls.name.startswith("airflow")}
    assert len(tis) == len(services)
    assert {ti["state"] for ti in tis} == {"success"}
    log = client.task_log(DAG_ID, run_id, "check", tis[0]["try_number"], tis[0]["map_index"])
    assert "running at" in log  # the task's own return value, read back through the API


def test_a_dag_run_finishes_after_its_scheduler_is_killed_mid_run(platform):
    """kill -9 of the scheduler while a run has tasks done and tasks to do: the tasks it was running die
    with it (`up` ends a dead service's leftover processes, as a lost host or container would), and once
    it is started again the run finishes: those tasks are failed for want of a heartbeat and retried."""
    client = AirflowClient(platform)
    client.wait_for_dag(DAG_ID)
    client.unpause(DAG_ID)
    run_id = client.trigger(DAG_ID)
    scheduler = AirflowScheduler(platform)

    def midway() -> bool:
        states = [ti["state"] for ti in client.task_instances(DAG_ID, run_id)]
        return "success" in states and any(s != "success" for s in states)

    assert wait_until(midway, timeout=300, interval=0.5), "the run ended before the kill: nothing was tested"
    at_kill = Counter(ti["state"] for ti in client.task_instances(DAG_ID, run_id))
    os.kill(scheduler.pid(), signal.SIGKILL)
    killed_at = time.monotonic()
    assert wait_until(lambda: scheduler.pid() is None, timeout=10)
    print(f"killed airflow-scheduler with task states {dict(at_kill)}")
    scheduler.start()
    assert client.wait_for_run(DAG_ID, run_id, timeout=900) == "success"
    print(f"the run succeeded {time.monotonic() - killed_at:.0f} s after the kill")
    tis = client.task_instances(DAG_ID, run_id)
    assert len(tis) == sum(at_kill.values()) and {ti["state"] for ti in tis} == {"success"}
