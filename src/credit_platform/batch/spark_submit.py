"""Running the platform's Spark jobs with `spark-submit` from the installed pyspark (or a cluster's
own, via SPARK_HOME), the same way from the CLI, the tests and Airflow's SparkSubmitOperator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from credit_platform.config import REPO_ROOT, Settings

JOBS_DIR = REPO_ROOT / "jobs"
DRIVER_MEMORY = "2g"


def spark_home() -> Path:
    if os.environ.get("SPARK_HOME"):
        return Path(os.environ["SPARK_HOME"])
    import pyspark

    return Path(pyspark.__file__).parent


def spark_env(settings: Settings) -> dict[str, str]:
    """Environment for spark-submit: the venv's Python on driver and workers (else Spark takes
    `python3` from PATH, which lacks the platform's packages) and the platform's state dir."""
    env = dict(os.environ)
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    env["CP_HOME"] = str(settings.home)
    if settings.spark_master.startswith("local"):
        env.setdefault("SPARK_LOCAL_IP", settings.host)  # the driver alone: stay on the loopback
    return env


SPARK_CONF = {
    "spark.driver.memory": DRIVER_MEMORY,
    "spark.ui.enabled": "false",  # no port 4040 to collide with; the history is in the logs
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.extraJavaOptions": "-Dlog4j2.level=WARN",
}


def submit_command(settings: Settings, job: str, args: list[str]) -> list[str]:
    cmd = [str(spark_home() / "bin" / "spark-submit"), "--master", settings.spark_master, "--name", job]
    for key, value in SPARK_CONF.items():
        cmd += ["--conf", f"{key}={value}"]
    return [*cmd, str(JOBS_DIR / f"{job}.py"), *args]


def submit(settings: Settings, job: str, args: list[str]) -> subprocess.CompletedProcess:
    """Run a job to completion; its output streams through, the last stdout line is its summary."""
    return subprocess.run(submit_command(settings, job, args), env=spark_env(settings), check=False,
                          stdout=subprocess.PIPE, text=True)
