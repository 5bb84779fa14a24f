"""Where the platform keeps its state, which ports it uses and how it reaches each service.

One source of truth for every path, port and connection URI. Everything is read from the
environment (prefix ``CP_``) so the same code runs the embedded default, a second copy for the
test session beside a running demo, and the distributed deployment (real hosts instead of
127.0.0.1).
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from credit_platform.contracts.names import (
    ALERTMANAGER_USER,
    KAFKA_ADMIN,
    KAFKA_GOVERNANCE,
    KAFKA_LANDER,
    KAFKA_MONITOR,
    KAFKA_PRODUCER,
    KAFKA_STREAM,
    MONGO_DB,
    PUSHGATEWAY_USER,
    ROLE_AIRFLOW,
    ROLE_BI,
    ROLE_ETL,
    ROLE_MONGO_APP,
    ROLE_SUPERSET,
    ROLE_SUPERUSER,
    WAREHOUSE_DB,
)

REPO_ROOT = Path(os.environ.get("CP_REPO_ROOT", Path(__file__).resolve().parents[2]))

# Each tool's usual port. `CP_PORT_OFFSET` shifts them all (the test session uses it to run
# beside a demo); `CP_<NAME>_PORT` overrides one.
DEFAULT_PORTS: dict[str, int] = {
    "postgres": 5432,
    "kafka": 9092,
    "kafka_controller": 9093,
    "mongo": 27017,
    "ferretdb_debug": 8088,
    "flink_rest": 8081,
    "superset": 8089,  # Apache Superset, the business dashboards (its usual 8088 is FerretDB's debug port here)
    "flink_rpc": 6123,
    "airflow": 8080,
    "prometheus": 9090,
    "pushgateway": 9091,
    "producer_metrics": 9400,  # the producer's /metrics while it runs
    "lag_exporter": 9308,  # Kafka consumer lag (credit_platform.lag_exporter)
    "statsd": 9125,  # Airflow's StatsD metrics in (UDP), to the statsd exporter
    "statsd_exporter": 9102,  # ... and out as Prometheus metrics
    "alertmanager": 9094,  # Prometheus' alerts, grouped and routed to the CP_ALERT_* receivers (9093 is Kafka's)
    # bound by no service: the integration tests' webhook receiver listens here (tests/conftest.py
    # points CP_ALERT_WEBHOOK_URL at it)
    "alert_webhook": 9095,
    # the cluster topology's other nodes (`up --topology cluster`): Kafka nodes 2 and 3 (broker and
    # controller each), the Spark standalone master (its RPC, its web UI) and its two workers' web UIs
    "kafka_2": 9192,
    "kafka_controller_2": 9193,
    "kafka_3": 9292,
    "kafka_controller_3": 9293,
    "spark_master": 7077,
    "spark_master_ui": 8090,
    "spark_worker_ui": 8091,
    "spark_worker_ui_2": 8092,
}

# How many processes each engine runs as (credit-platform up --topology, CP_TOPOLOGY): `single`, one of
# each, is the default; `cluster` runs each engine as the cluster a deployment would have, on this host.
TOPOLOGIES = ("single", "cluster")
STATE_BACKENDS = ("rocksdb", "hashmap")
TOPOLOGY_FILE = "topology"  # in the state dir: the topology its services were last started with


SECRET_NAMES = (
    "postgres_password",
    "etl_writer_password",
    "bi_reader_password",
    "airflow_db_password",
    "airflow_fernet_key",
    "airflow_jwt_secret",
    "airflow_api_secret_key",
    "mongo_app_password",
    "kafka_admin_password",
    "kafka_producer_password",
    "kafka_stream_password",
    "kafka_lander_password",
    "kafka_monitor_password",
    "kafka_governance_password",
    "pushgateway_password",
    "alertmanager_password",
    "superset_db_password",
    "superset_secret_key",
    "superset_admin_password",
    "spark_auth_secret",  # the cluster topology's Spark master, workers and applications (spark.authenticate)
)
KAFKA_SECRET = {KAFKA_ADMIN: "kafka_admin_password", KAFKA_PRODUCER: "kafka_producer_password",
                KAFKA_STREAM: "kafka_stream_password", KAFKA_LANDER: "kafka_lander_password",
                KAFKA_MONITOR: "kafka_monitor_password", KAFKA_GOVERNANCE: "kafka_governance_password"}


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SystemExit(f"{name}={raw!r} is not an integer; unset it or give a number") from exc


@dataclass(frozen=True)
class Settings:
    """Resolved configuration of one platform instance (one state directory)."""

    home: Path = field(default_factory=lambda: Path(os.environ.get("CP_HOME", REPO_ROOT / ".platform")))
    cache_dir: Path = field(
        default_factory=lambda: Path(
            os.environ.get(
                "CP_CACHE_DIR",
                Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "credit-platform",
            )
        )
    )
    host: str = field(default_factory=lambda: os.environ.get("CP_HOST", "127.0.0.1"))
    kafka_partitions: int = field(default_factory=lambda: _env_int("CP_KAFKA_PARTITIONS", 3))
    airflow_parallelism: int = field(default_factory=lambda: _env_int("CP_AIRFLOW_PARALLELISM", 4))
    flink_task_slots: int = field(default_factory=lambda: _env_int("CP_FLINK_TASK_SLOTS", 2))
    flink_taskmanager_memory: str = field(
        default_factory=lambda: os.environ.get("CP_FLINK_TASKMANAGER_MEMORY", "4096m"))
    # managed memory: RocksDB's block cache and write buffers (the fraud job's state) and batch operators
    flink_managed_fraction: str = field(default_factory=lambda: os.environ.get("CP_FLINK_MANAGED_FRACTION", "0.4"))
    # the codec of the producer's record batches: zstd (6.6x smaller than the JSON in producer_bench), gzip or none
    # (producer.COMPRESSION). The brokers keep batches as produced; Flink's Kafka connector reads zstd
    # with the zstd-jni jar that setup puts beside it.
    kafka_compression: str = field(default_factory=lambda: os.environ.get("CP_KAFKA_COMPRESSION", "zstd"))

    def __post_init__(self) -> None:
        # Paths end up in URIs (file:// checkpoint dirs) and in other processes' working dirs.
        object.__setattr__(self, "home", Path(self.home).expanduser().resolve())
        object.__setattr__(self, "cache_dir", Path(self.cache_dir).expanduser().resolve())

    # ---- topology ------------------------------------------------------------------------
    @cached_property
    def topology(self) -> str:
        """`CP_TOPOLOGY`, else the one this state dir's services were started with, else `single`."""
        raw = os.environ.get("CP_TOPOLOGY") or ""
        if not raw:
            try:
                raw = (self.home / TOPOLOGY_FILE).read_text().strip()
            except OSError:
                raw = "single"
        if raw not in TOPOLOGIES:
            raise SystemExit(f"CP_TOPOLOGY={raw!r} is not a topology; choose one of {', '.join(TOPOLOGIES)}")
        return raw

    @property
    def cluster(self) -> bool:
        return self.topology == "cluster"

    @property
    def kafka_nodes(self) -> int:
        """Kafka nodes, each broker and controller (KRaft): 3 in the cluster topology."""
        return 3 if self.cluster else 1

    @property
    def kafka_replication(self) -> int:
        """Replicas of every topic: one a node, so any one node can be lost."""
        return self.kafka_nodes

    @property
    def kafka_min_insync(self) -> int:
        """Replicas an acks=all write must reach: 2 of 3 in the cluster (a write survives one lost node,
        and writes go on while one is down)."""
        return 2 if self.cluster else 1

    @property
    def flink_taskmanagers(self) -> int:
        return 2 if self.cluster else 1

    @property
    def fraud_parallelism(self) -> int:
        """The fraud job's parallelism (`CP_FRAUD_PARALLELISM`): 2 in the cluster topology, one subtask
        of each operator a TaskManager; 1 in the single one."""
        return _env_int("CP_FRAUD_PARALLELISM", 2 if self.cluster else 1)

    @property
    def flink_state_backend(self) -> str:
        """Where the fraud job keeps its rules' state (`CP_FLINK_STATE_BACKEND`): `rocksdb` (the default:
        off the heap, checkpointed incrementally) or `hashmap` (on the heap, snapshot whole at each
        checkpoint: faster while catching up, but its windows hold an hour of events, and at a steady
        rate that state and its whole snapshots outgrow the heap; docs/capacity.md, "The soak")."""
        raw = os.environ.get("CP_FLINK_STATE_BACKEND") or "rocksdb"
        if raw not in STATE_BACKENDS:
            raise SystemExit(f"CP_FLINK_STATE_BACKEND={raw!r} is not a state backend; choose one of "
                             f"{', '.join(STATE_BACKENDS)}")
        return raw

    @property
    def spark_workers(self) -> int:
        """Spark standalone workers of the cluster topology (0: jobs run in the driver, `local[2]`)."""
        return 2 if self.cluster else 0

    def kafka_address(self, node: int) -> tuple[str, int, int]:
        """Host, broker port and controller port of Kafka node 1, 2 or 3."""
        suffix = "" if node == 1 else f"_{node}"
        return self.host, self.ports[f"kafka{suffix}"], self.ports[f"kafka_controller{suffix}"]

    # ---- ports ---------------------------------------------------------------------------
    @cached_property
    def ports(self) -> dict[str, int]:
        offset = _env_int("CP_PORT_OFFSET", 0)
        return {
            name: _env_int(f"CP_{name.upper()}_PORT", default + offset)
            for name, default in DEFAULT_PORTS.items()
        }

    # ---- directories ---------------------------------------------------------------------
    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def jars_dir(self) -> Path:
        return self.cache_dir / "jars"

    @property
    def bin_dir(self) -> Path:
        return self.cache_dir / "bin"

    def service_dir(self, name: str) -> Path:
        return self.home / name

    # ---- secrets -------------------------------------------------------------------------
    @property
    def secrets_file(self) -> Path:
        return self.home / "secrets.json"

    @cached_property
    def secrets(self) -> dict[str, str]:
        """Passwords and keys, generated once per state dir into a 0600 file (never in git).

        `CP_<NAME>` in the environment wins, so a deployment can inject its own, and a job that may
        not open the file (a Spark job run as its own user) gets the few it needs that way.
        """
        given = {name: os.environ[f"CP_{name.upper()}"] for name in SECRET_NAMES
                 if os.environ.get(f"CP_{name.upper()}")}
        stored: dict[str, str] = {}
        try:
            stored = json.loads(self.secrets_file.read_text())
        except FileNotFoundError:
            pass
        except PermissionError:
            return _GivenSecrets(given, self.secrets_file)
        changed = False
        for name in SECRET_NAMES:
            if name not in stored:
                stored[name] = _new_secret(name)
                changed = True
        if changed:
            self.home.mkdir(parents=True, exist_ok=True)
            tmp = self.secrets_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(stored, indent=2))
            tmp.chmod(0o600)
            tmp.replace(self.secrets_file)
        return {name: given.get(name) or stored[name] for name in SECRET_NAMES}

    # ---- connection URIs -----------------------------------------------------------------
    def postgres_uri(self, role: str = ROLE_ETL, database: str = WAREHOUSE_DB) -> str:
        password = self.secrets[{ROLE_SUPERUSER: "postgres_password", ROLE_ETL: "etl_writer_password",
                                 ROLE_BI: "bi_reader_password", ROLE_AIRFLOW: "airflow_db_password",
                                 ROLE_SUPERSET: "superset_db_password"}[role]]
        return (
            f"postgresql://{role}:{quote(password, safe='')}@{self.postgres_host}:{self.ports['postgres']}/{database}"
        )

    @property
    def postgres_host(self) -> str:
        """`CP_POSTGRES_HOST` when the warehouse runs elsewhere (e.g. `postgres` in docker-compose)."""
        return os.environ.get("CP_POSTGRES_HOST") or self.host

    @property
    def kafka_bootstrap(self) -> str:
        nodes = ",".join(f"{host}:{port}" for host, port, _ in map(self.kafka_address, range(1, self.kafka_nodes + 1)))
        return os.environ.get("KAFKA_BOOTSTRAP_SERVERS", nodes)

    @property
    def kafka_sasl(self) -> bool:
        """Clients log in to Kafka (SASL/SCRAM): always with the platform's own broker; against another
        (`KAFKA_BOOTSTRAP_SERVERS`) when `CP_KAFKA_SASL=1`."""
        raw = os.environ.get("CP_KAFKA_SASL")
        if raw in (None, ""):
            return "KAFKA_BOOTSTRAP_SERVERS" not in os.environ
        return raw.lower() in ("1", "true", "yes")

    def kafka(self, user: str) -> dict[str, object]:
        """kafka-python connection options as one of the platform's Kafka users (contracts.names)."""
        options: dict[str, object] = {"bootstrap_servers": self.kafka_bootstrap}
        if self.kafka_sasl:
            options.update(security_protocol="SASL_PLAINTEXT", sasl_plain_username=user,
                           sasl_mechanism="PLAIN" if user == KAFKA_ADMIN else "SCRAM-SHA-256",
                           sasl_plain_password=self.secrets[KAFKA_SECRET[user]])
        return options

    def kafka_java(self, user: str, login_module_prefix: str = "") -> dict[str, str]:
        """The same for a Java client: `security.protocol`, `sasl.mechanism`, `sasl.jaas.config`.
        `login_module_prefix`: where a client shades Kafka (Flink's connector:
        `org.apache.flink.kafka.shaded.`)."""
        if not self.kafka_sasl:
            return {}
        plain = user == KAFKA_ADMIN
        module = ("org.apache.kafka.common.security.plain.PlainLoginModule" if plain
                  else "org.apache.kafka.common.security.scram.ScramLoginModule")
        return {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN" if plain else "SCRAM-SHA-256",
                "sasl.jaas.config": f'{login_module_prefix}{module} required username="{user}" '
                                    f'password="{self.secrets[KAFKA_SECRET[user]]}";'}

    @property
    def pushgateway_credentials(self) -> tuple[str, str] | None:
        """Who pushes and scrapes: the platform's own Pushgateway always asks (basic auth); another
        (`PUSHGATEWAY_URL`) when `CP_PUSHGATEWAY_AUTH=1`."""
        raw = os.environ.get("CP_PUSHGATEWAY_AUTH")
        on = "PUSHGATEWAY_URL" not in os.environ if raw in (None, "") else raw.lower() in ("1", "true", "yes")
        return (PUSHGATEWAY_USER, self.secrets["pushgateway_password"]) if on else None

    @property
    def alertmanager_url(self) -> str:
        """`CP_ALERTMANAGER_URL` when Alertmanager runs elsewhere (`http://alertmanager:9093` in docker-compose)."""
        return os.environ.get("CP_ALERTMANAGER_URL") or f"http://{self.host}:{self.ports['alertmanager']}"

    @property
    def alertmanager_credentials(self) -> tuple[str, str] | None:
        """Who sends (Prometheus) and reads (`credit-platform alerts`) alerts: the platform's own
        Alertmanager always asks (basic auth); another (`CP_ALERTMANAGER_URL`) when `CP_ALERTMANAGER_AUTH=1`."""
        raw = os.environ.get("CP_ALERTMANAGER_AUTH")
        on = "CP_ALERTMANAGER_URL" not in os.environ if raw in (None, "") else raw.lower() in ("1", "true", "yes")
        return (ALERTMANAGER_USER, self.secrets["alertmanager_password"]) if on else None

    @property
    def external_mongo_uri(self) -> str | None:
        return os.environ.get("MONGO_URI") or None

    @property
    def mongo_uri(self) -> str:
        """`MONGO_URI` when set; else the local FerretDB as the platform's own user. FerretDB checks the
        password with PostgreSQL (its backend), so PLAIN: on the loopback only."""
        if self.external_mongo_uri:
            return self.external_mongo_uri
        password = quote(self.secrets["mongo_app_password"], safe="")
        return (f"mongodb://{ROLE_MONGO_APP}:{password}@{self.host}:{self.ports['mongo']}/{MONGO_DB}"
                "?authMechanism=PLAIN")

    @property
    def flink_rest_url(self) -> str:
        return os.environ.get("FLINK_REST_URL", f"http://{self.host}:{self.ports['flink_rest']}")

    @property
    def airflow_url(self) -> str:
        return os.environ.get("CP_AIRFLOW_URL") or f"http://{self.host}:{self.ports['airflow']}"

    @property
    def superset_url(self) -> str:
        """The business dashboards (`CP_SUPERSET_URL`: how browsers reach Superset in a deployment)."""
        return os.environ.get("CP_SUPERSET_URL") or f"http://{self.host}:{self.ports['superset']}"

    @property
    def superset_public_url(self) -> str:
        """Where browsers reach Superset (`CP_SUPERSET_PUBLIC_URL` when the servers reach it by another
        name, as in docker-compose): the Airflow UI's link and the demo summary."""
        return os.environ.get("CP_SUPERSET_PUBLIC_URL") or self.superset_url

    @property
    def superset_venv(self) -> Path:
        """Superset's own virtualenv (its pins differ from Airflow's), built by `make setup`."""
        return Path(os.environ.get("CP_SUPERSET_VENV") or self.cache_dir / "superset-venv")

    @property
    def prometheus_url(self) -> str:
        return os.environ.get("CP_PROMETHEUS_URL") or f"http://{self.host}:{self.ports['prometheus']}"

    @property
    def statsd_address(self) -> tuple[str, int]:
        """Where Airflow sends StatsD metrics (`CP_STATSD_HOST`: the exporter's host in a deployment)."""
        return os.environ.get("CP_STATSD_HOST") or self.host, self.ports["statsd"]

    @property
    def pushgateway_url(self) -> str:
        return os.environ.get("PUSHGATEWAY_URL", f"http://{self.host}:{self.ports['pushgateway']}")

    @property
    def gx_dir(self) -> Path:
        """Great Expectations state: validation results and the Data Docs site."""
        return self.home / "gx"

    @property
    def data_docs_dir(self) -> Path:
        return self.gx_dir / "data_docs" / "local_site"

    @property
    def model_reports_dir(self) -> Path:
        """The credit model reports (model/report.py), served behind the Airflow login."""
        return self.home / "model_reports"

    @property
    def datadocs_vendor_dir(self) -> Path:
        """The Data Docs' scripts and styles, from npm (see runtime/datadocs_assets.py)."""
        return self.cache_dir / "datadocs-vendor"

    @property
    def spark_master(self) -> str:
        """`local[2]` in the single topology (two cores); the standalone master in the cluster one; a
        cluster URL (spark://…, yarn, k8s://…) in a deployment."""
        default = f"spark://{self.host}:{self.ports['spark_master']}" if self.cluster else "local[2]"
        return os.environ.get("SPARK_MASTER", default)

    @property
    def airflow_home(self) -> Path:
        return self.service_dir("airflow")

    @property
    def airflow_passwords_file(self) -> Path:
        return self.airflow_home / "simple_auth_manager_passwords.json.generated"


def redact(uri: str) -> str:
    """The URI without its password, for status output and logs."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", "@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


# What a process of the platform may inherit from the environment of whoever starts it, when it needs
# none of the platform's secrets: the system basics and the platform's own non-secret settings.
_BASICS = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "JAVA_HOME", "VIRTUAL_ENV",
           "PYTHONPATH", "KAFKA_BOOTSTRAP_SERVERS", "MONGO_URI", "FLINK_REST_URL", "PUSHGATEWAY_URL", "SPARK_MASTER")
# Alertmanager's receivers (credit_platform.alerting): a chat or webhook URL is itself the key to post there
ALERT_SECRET_ENV = ("CP_ALERT_WEBHOOK_URL", "CP_ALERT_SLACK_WEBHOOK_URL", "CP_ALERT_SMTP_PASSWORD")


def environment_without_secrets() -> dict[str, str]:
    """The caller's environment less everything that may carry a secret (an Airflow task's
    connections, keys and passwords; `CP_<SECRET>` overrides): for processes that log their
    environment or command lines, such as Flink's client and cluster processes."""
    secret = {f"CP_{name.upper()}" for name in SECRET_NAMES} | set(ALERT_SECRET_ENV)
    return {k: v for k, v in os.environ.items()
            if k in _BASICS or (k.startswith(("LC_", "CP_")) and k not in secret
                                and not _URI_WITH_PASSWORD.search(v))}  # e.g. CP_GX_POSTGRES_URL of a GX run


_URI_WITH_PASSWORD = re.compile(r"://[^/@\s:]+:[^/@\s]+@")

class _GivenSecrets(dict):
    """The secrets a process was given in its environment, when it may not open the secrets file."""

    def __init__(self, given: dict[str, str], path: Path) -> None:
        super().__init__(given)
        self.path = path

    def __missing__(self, name: str) -> str:
        raise PermissionError(f"secret {name}: not in the environment (CP_{name.upper()}), and {self.path} is not "
                              "readable by this user")


def _new_secret(name: str) -> str:
    if name == "airflow_fernet_key":
        from cryptography.fernet import Fernet

        return Fernet.generate_key().decode()
    return secrets.token_urlsafe(24)


def load() -> Settings:
    return Settings()
