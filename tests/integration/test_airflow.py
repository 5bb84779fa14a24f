"""Airflow 3 runs with login on: a DAG is parsed, triggered through the REST API and runs green."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from credit_platform.errors import PlatformError
from credit_platform.orchestration.airflow_client import AirflowClient
from credit_platform.platform.services import SERVICE_CLASSES

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
