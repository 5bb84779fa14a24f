"""A platform instance of the cluster topology for the fault tests: three Kafka nodes, a Flink
JobManager with two TaskManagers, a Spark standalone master with two workers, and the stores the jobs
write to. It has its own state dir and ports (offset 20000), runs before the integration suite's
single-topology instance starts (pytest takes tests/cluster first) and is stopped when this package's
last test is done, so the two never hold memory at once.

Run alone: `make test-cluster` (or `pytest -m cluster`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from credit_platform import config
from credit_platform.platform import process

REPO = config.REPO_ROOT
CLUSTER_ENV = {
    "CP_HOME": str(REPO / ".platform-cluster-test"),
    "CP_PORT_OFFSET": "20000",
    "CP_TOPOLOGY": "cluster",
    # two TaskManagers beside three brokers and a Spark cluster on this host
    "CP_FLINK_TASKMANAGER_MEMORY": "2048m",
}
# what the fault tests use: Kafka, Flink and Spark (and what they require), the warehouse and the alerts' store
SERVICES = ("kafka", "flink-taskmanager", "spark-worker", "mongo", "postgres")


def cli(*args: str, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "credit_platform", *args], capture_output=True, text=True,
                            timeout=timeout, env=os.environ.copy())
    if check and result.returncode != 0:
        raise AssertionError(f"credit-platform {' '.join(args)} exited {result.returncode}:\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="package")
def cluster():
    saved = {name: os.environ.get(name) for name in CLUSTER_ENV}
    os.environ.update(CLUSTER_ENV)
    try:
        settings = config.load()
        assert settings.cluster
        try:
            sys.stdout.write(cli("up", "--only", *SERVICES).stdout)
        except BaseException:
            cli("down", check=False)
            raise
        yield settings
        status = json.loads(cli("status", "--json", check=False).stdout)
        pids = [row["pid"] for row in status["services"] if row["pid"]]
        trees = [pid for root in pids for pid in process.process_tree(root)]
        down = cli("down", check=False)
        time.sleep(1)
        assert down.returncode == 0, down.stdout + down.stderr
        assert not [pid for pid in trees if process.pid_alive(pid)], "processes left after `down`"
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
