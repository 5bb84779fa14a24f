"""Airflow 3 as local processes: db migrate, then api-server, scheduler, dag-processor, triggerer."""

from __future__ import annotations

import json
import os
import signal
import time

from credit_platform.config import REPO_ROOT, Settings, redact
from credit_platform.contracts.names import AIRFLOW_ADMIN, ROLE_AIRFLOW, ROLE_ETL
from credit_platform.errors import run_checked
from credit_platform.platform.services.base import VENV_BIN, Launch, Service, http_json


# ---------------------------------------------------------------------------------------------
# Airflow 3: db migrate, then api-server (UI + REST, login on), scheduler, dag-processor, triggerer
# ---------------------------------------------------------------------------------------------
def airflow_env(settings: Settings) -> dict[str, str]:
    s = settings
    sec = s.secrets
    url = s.airflow_url
    db_uri = s.postgres_uri(ROLE_AIRFLOW, "airflow").replace("postgresql://", "postgresql+psycopg2://", 1)
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "CP_HOME": str(s.home),
        "CP_CACHE_DIR": str(s.cache_dir),
        "CP_DATA_DOCS_DIR": str(s.data_docs_dir),  # served by plugins/data_docs.py, with the
        "CP_DATA_DOCS_VENDOR_DIR": str(s.datadocs_vendor_dir),  # scripts it loads (no CDN needed)
        "CP_MODEL_REPORTS_DIR": str(s.model_reports_dir),  # the credit model reports, served the same way
        "CP_SUPERSET_PUBLIC_URL": s.superset_public_url,  # the UI's Browse > Business Dashboards link
        "AIRFLOW_HOME": str(s.airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # 2 cores: the scheduler forks one worker per parallelism slot
        "AIRFLOW__CORE__PARALLELISM": str(s.airflow_parallelism),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(s.airflow_parallelism),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__FERNET_KEY": sec["airflow_fernet_key"],
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{AIRFLOW_ADMIN}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(s.airflow_passwords_file),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_uri,
        "AIRFLOW__API__HOST": s.host,
        "AIRFLOW__API__PORT": str(s.ports["airflow"]),
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": sec["airflow_api_secret_key"],
        "AIRFLOW__API_AUTH__JWT_SECRET": sec["airflow_jwt_secret"],
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(s.airflow_home / "logs"),
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "20",
        "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR": "True",
        # after a scheduler died (kill -9, a lost host), its restarted successor looks for the tasks the dead
        # one had queued or was running every minute, not every 5, and fails and retries those without a
        # heartbeat for 2 minutes, not 5 (a task's supervisor heartbeats every few seconds)
        "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "60",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "120",
        # connections for the DAGs, from the environment; nothing secret is stored in git
        "AIRFLOW_CONN_POSTGRES_CREDIT": s.postgres_uri(ROLE_ETL).replace("postgresql://", "postgres://", 1),
        # the Spark master the nightly jobs run on (local[2], or the cluster topology's standalone master),
        # for a user's own SparkSubmitOperator tasks; the platform's DAGs submit through batch.spark_submit
        "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps({"conn_type": "spark", "host": s.spark_master}),
        # scheduler, dag-processor, triggerer and api-server metrics, to Prometheus via the exporter
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": s.statsd_address[0],
        "AIRFLOW__METRICS__STATSD_PORT": str(s.statsd_address[1]),
        "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
    }
    # a deployment's own Airflow options win (e.g. docker-compose's base URL for browsers)
    env.update({k: v for k, v in os.environ.items() if k.startswith("AIRFLOW__")})
    return env


class AirflowDatabase(Service):
    """`airflow db migrate` (idempotent) before any Airflow component starts."""

    name = "airflow-db"
    requires = ("postgres", "statsd-exporter")
    oneshot = True

    def uri(self) -> str:
        return redact(self.settings.postgres_uri(ROLE_AIRFLOW, "airflow"))

    def start(self) -> str:
        self.settings.airflow_home.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        run_checked([str(VENV_BIN / "airflow"), "db", "migrate"], step="airflow: db migrate",
                            env=airflow_env(self.settings), log_path=self.log_path, timeout=600, private=True)
        return f"migrated in {time.monotonic() - started:.0f}s"

    def stop(self) -> str:
        return "nothing to stop"

    def state(self) -> str:
        return "done"


class AirflowComponent(Service):
    component = ""
    stop_signal = signal.SIGINT  # SIGTERM would orphan the LocalExecutor's workers
    start_timeout = 180.0
    health_key = ""

    def uri(self) -> str:
        return self.settings.airflow_url

    def launch(self) -> Launch:
        return Launch(argv=[str(VENV_BIN / "airflow"), *self.component.split()], env=airflow_env(self.settings),
                      cwd=self.settings.airflow_home)

    def healthy(self) -> bool:
        health = http_json(f"{self.settings.airflow_url}/api/v2/monitor/health")
        return health.get(self.health_key, {}).get("status") == "healthy"


class AirflowApiServer(AirflowComponent):
    name = "airflow-api-server"
    component = "api-server"
    requires = ("airflow-db",)
    ports = ("airflow",)
    health_key = "metadatabase"

    def launch(self) -> Launch:
        s = self.settings
        spec = super().launch()
        spec.argv += ["--host", s.host, "--port", str(s.ports["airflow"]), "--workers", "1"]
        return spec


# The scheduler's and triggerer's log servers bind every interface and exist for workers on other
# hosts; here every component shares one log folder, which the api-server reads directly.
class AirflowScheduler(AirflowComponent):
    name = "airflow-scheduler"
    component = "scheduler --skip-serve-logs"
    requires = ("airflow-api-server",)
    health_key = "scheduler"


class AirflowDagProcessor(AirflowComponent):
    name = "airflow-dag-processor"
    component = "dag-processor"
    requires = ("airflow-api-server",)
    health_key = "dag_processor"


class AirflowTriggerer(AirflowComponent):
    name = "airflow-triggerer"
    component = "triggerer --skip-serve-logs"
    requires = ("airflow-api-server",)
    health_key = "triggerer"


