"""Running the platform's Spark jobs with `spark-submit` from the installed pyspark (or a cluster's
own, via SPARK_HOME), the same way from the CLI, the tests and the nightly Airflow DAG.

A job gets the few secrets it needs as `CP_<NAME>` variables and nothing else of its caller's
environment that may hold one (an Airflow task's connections and keys). Started by root, it runs as
its own system user (`CP_SPARK_OS_USER`, default credit-spark): that user may read the landing
(an ACL, inherited by what is landed later), write the staging and model reports directories, and open nothing else of
the platform's, not the secrets file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from credit_platform.config import REPO_ROOT, Settings, environment_without_secrets
from credit_platform.contracts.names import OS_USER_SPARK
from credit_platform.errors import as_user

JOBS_DIR = REPO_ROOT / "jobs"
DRIVER_MEMORY = "2g"


def spark_home() -> Path:
    if os.environ.get("SPARK_HOME"):
        return Path(os.environ["SPARK_HOME"])
    import pyspark

    return Path(pyspark.__file__).parent


# The secrets each job reads (config.SECRET_NAMES): the warehouse writer, the document store's
# application user (policy and alerts), the Pushgateway (the nightly job's metrics; training pushes none).
JOB_SECRETS = {"risk_scoring": ("etl_writer_password", "mongo_app_password", "pushgateway_password"),
               "train_credit_model": ("etl_writer_password", "mongo_app_password")}


def spark_env(settings: Settings, job: str) -> dict[str, str]:
    """Environment for spark-submit: the venv's Python on driver and workers (else Spark takes
    `python3` from PATH, which lacks the platform's packages), the platform's state dir, and the
    job's own secrets; nothing else that may carry a secret."""
    env = environment_without_secrets()
    env["PYSPARK_PYTHON"] = os.environ.get("PYSPARK_PYTHON") or sys.executable
    env["PYSPARK_DRIVER_PYTHON"] = os.environ.get("PYSPARK_DRIVER_PYTHON") or sys.executable
    env["CP_HOME"] = str(settings.home)
    env.update({f"CP_{name.upper()}": settings.secrets[name] for name in JOB_SECRETS.get(job, ())})
    if settings.spark_master.startswith("local"):
        env.setdefault("SPARK_LOCAL_IP", settings.host)  # the driver alone: stay on the loopback
    elif settings.cluster:
        from credit_platform.platform.services.spark import spark_conf_dir

        # the cluster topology's own master: its shared secret (spark.authenticate), and the driver on the
        # address its executors reach it at
        env["SPARK_CONF_DIR"] = str(spark_conf_dir(settings))
        env.setdefault("SPARK_LOCAL_IP", settings.host)
    return env


def job_user(settings: Settings) -> str | None:
    """The OS user Spark jobs run as (None: the caller's own, when it is not root), with what it must
    reach: the Python interpreter, the landing (read), its staging and working directories."""
    from credit_platform.ingest.landing import landing_root
    from credit_platform.platform import process

    user = process.unprivileged_user(os.environ.get("CP_SPARK_OS_USER") or OS_USER_SPARK)
    if user is None:
        return None
    process.grant_python(user)
    process.grant_read_tree(user, landing_root(settings))
    for directory in (settings.home / "staging", settings.service_dir("spark"), settings.model_reports_dir):
        process.private_dir(directory)
        process.chown_tree(directory, user)
    return user


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
    """Run a job to completion; its output streams through, the last stdout line is its summary.
    Interrupted (an Airflow task's timeout, Ctrl-C), it stops the job's whole process group."""
    command = submit_command(settings, job, args)
    user = job_user(settings)
    env = spark_env(settings, job)
    workdir = settings.service_dir("spark")
    workdir.mkdir(parents=True, exist_ok=True)
    if user is not None:
        env["HOME"] = str(workdir)
    proc = subprocess.Popen(command, env=env, cwd=workdir, stdout=subprocess.PIPE, text=True,
                            start_new_session=True, **as_user(user))
    try:
        stdout, _ = proc.communicate()
    except BaseException:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        raise
    return subprocess.CompletedProcess(command, proc.returncode, stdout, None)


def run_task(settings: Settings, job: str, args: list[str]) -> dict:
    """`submit` for an Airflow task: the command and the job's output into the task log, a failure as
    an exception, the job's summary (its last stdout line, JSON) as the task's return value."""
    import json

    result = submit(settings, job, args)
    print(" ".join(result.args))
    print(result.stdout, end="")
    if result.returncode != 0:
        raise RuntimeError(f"{job} exited with {result.returncode}; its output is above")
    return json.loads(result.stdout.strip().splitlines()[-1])
