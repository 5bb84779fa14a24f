"""The local services of the embedded default, each a supervised process under the state dir.

A service knows how to prepare its state (idempotently), the command that runs it in the
foreground, how to tell it is healthy, what to do once it is up (schema, topics), and how to stop
it without losing data. `credit_platform.runtime.manager` starts them in dependency order.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from credit_platform.config import REPO_ROOT, ROLE_AIRFLOW, ROLE_ETL, ROLE_SUPERUSER, Settings, redact
from credit_platform.runtime import process
from credit_platform.runtime.process import ServiceError

VENV_BIN = Path(sys.executable).parent


def http_json(url: str, timeout: float = 3.0) -> object:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (local URLs)
        return json.loads(response.read())


@dataclass
class Launch:
    argv: list[str]
    env: dict[str, str] | None = None
    cwd: Path | None = None
    user: str | None = None


class Service:
    """One local service. Subclasses fill in the hooks."""

    name: str = ""
    requires: tuple[str, ...] = ()
    ports: tuple[str, ...] = ()  # keys of Settings.ports this service binds
    stop_signal: int = signal.SIGTERM
    start_timeout: float = 120.0
    stop_timeout: float = 60.0
    oneshot: bool = False  # a step run by `up` (e.g. a migration), not a process

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # -- hooks ---------------------------------------------------------------------------
    def external(self) -> bool:
        """True when the user points the platform at a server it does not manage."""
        return False

    def uri(self) -> str:
        raise NotImplementedError

    def prepare(self) -> None:
        """Create state and config; idempotent, runs before every start."""

    def launch(self) -> Launch:
        raise NotImplementedError

    def healthy(self) -> bool:
        raise NotImplementedError

    def after_start(self) -> None:
        """Idempotent set-up that needs the running service (schema, topics, indexes)."""

    def stop_hook(self, pid: int) -> None:
        """Extra work before the signal (e.g. ask a server to shut down cleanly)."""

    # -- common behaviour ----------------------------------------------------------------
    @property
    def log_path(self) -> Path:
        return self.settings.logs_dir / f"{self.name}.log"

    @property
    def pid_path(self) -> Path:
        return self.settings.run_dir / f"{self.name}.pid"

    def pid(self) -> int | None:
        pid = process.read_pid(self.pid_path)
        return pid if process.pid_alive(pid) else None

    def state(self) -> str:
        if self.external():
            return "external" if self._probe() else "unreachable"
        if self.pid() is None:
            return "stopped"
        return "running" if self._probe() else "unhealthy"

    def _probe(self) -> bool:
        try:
            return bool(self.healthy())
        except Exception:
            return False

    def start(self) -> str:
        """Start (or adopt) the service; returns a short note of what happened."""
        if self.external():
            if not process.wait_until(self.healthy, timeout=self.start_timeout):
                raise ServiceError(f"{self.name}: external server at {self.uri()} is not reachable")
            self.after_start()
            return "external, reachable"
        pid = self.pid()
        if pid is not None:
            if not process.wait_until(self.healthy, timeout=self.start_timeout,
                                      alive=lambda: process.pid_alive(pid)):
                raise ServiceError(
                    f"{self.name}: already running (pid {pid}) but not healthy; "
                    f"see {self.log_path}, or run `credit-platform down` and `up` again"
                )
            self.after_start()
            return f"already running (pid {pid})"
        self._reap_orphans()
        for key in self.ports:
            port = self.settings.ports[key]
            if process.port_in_use(self.settings.host, port):
                raise ServiceError(
                    f"{self.name}: port {port} ({key}) is already in use by another process. Stop that "
                    f"process, or choose other ports with CP_{key.upper()}_PORT or CP_PORT_OFFSET."
                )
        self.prepare()
        spec = self.launch()
        pid = process.spawn(spec.argv, log_path=self.log_path, pid_path=self.pid_path, env=spec.env,
                            cwd=spec.cwd, user=spec.user)
        if not process.wait_until(self.healthy, timeout=self.start_timeout,
                                  alive=lambda: process.pid_alive(pid)):
            died = not process.pid_alive(pid)
            tail = self.log_tail()
            if not died:
                process.stop_tree(pid, self.stop_signal, timeout=self.stop_timeout)
            self.pid_path.unlink(missing_ok=True)
            why = "exited during start-up" if died else f"not healthy after {self.start_timeout:.0f}s"
            raise ServiceError(f"{self.name} {why}; last lines of {self.log_path}:\n{tail}")
        self.after_start()
        return f"started (pid {pid})"

    def _reap_orphans(self) -> None:
        """A service that died hard (kill -9, OOM) can leave children behind in its session, e.g. a
        TaskManager's Python workers. Its pid file is about to be overwritten, so end them now."""
        stale = process.read_pid(self.pid_path)
        if stale and not process.pid_alive(stale) and process.process_tree(stale):
            process.stop_tree(stale, signal.SIGTERM, timeout=10)

    def stop(self) -> str:
        if self.external():
            return "external, left running"
        pid = process.read_pid(self.pid_path)
        if pid is None or not process.process_tree(pid):
            self.pid_path.unlink(missing_ok=True)
            return "not running"
        self.stop_hook(pid)
        clean = process.stop_tree(pid, self.stop_signal, timeout=self.stop_timeout)
        self.pid_path.unlink(missing_ok=True)
        return "stopped" if clean else f"killed after {self.stop_timeout:.0f}s"

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------
def postgres_bin_dir() -> Path:
    candidates = [os.environ.get("CP_PG_BIN", ""), "/usr/lib/postgresql/15/bin"]
    on_path = shutil.which("postgres")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    raise ServiceError("PostgreSQL 15 server binaries not found (initdb, postgres); run `make setup`")


class Postgres(Service):
    name = "postgres"
    ports = ("postgres",)
    stop_signal = signal.SIGINT  # "fast" shutdown: rolls back clients, checkpoints, exits cleanly

    @property
    def root(self) -> Path:
        return self.settings.service_dir("postgres")

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def os_user(self) -> str | None:
        # initdb and postgres refuse to run as root; run them as an unprivileged system user.
        return process.unprivileged_user(os.environ.get("CP_POSTGRES_OS_USER"))

    def uri(self) -> str:
        return redact(self.settings.postgres_uri(ROLE_ETL))

    def prepare(self) -> None:
        user = self.os_user
        (self.root / "run").mkdir(parents=True, exist_ok=True)
        if not (self.data_dir / "PG_VERSION").exists():
            pwfile = self.root / "initdb.pw"
            pwfile.write_text(self.settings.secrets["postgres_password"] + "\n")
            pwfile.chmod(0o600)
            process.chown_tree(self.root, user)
            try:
                process.run_checked(
                    [str(postgres_bin_dir() / "initdb"), "-D", str(self.data_dir), "-U", ROLE_SUPERUSER,
                     f"--pwfile={pwfile}", "--auth-local=scram-sha-256", "--auth-host=scram-sha-256",
                     "--encoding=UTF8", "--locale=C.UTF-8"],
                    step="postgres: initdb", user=user, log_path=self.log_path, timeout=120,
                )
            finally:
                pwfile.unlink(missing_ok=True)
        process.chown_tree(self.root, user)

    def launch(self) -> Launch:
        s = self.settings
        return Launch(
            argv=[str(postgres_bin_dir() / "postgres"), "-D", str(self.data_dir),
                  "-c", f"listen_addresses={s.host}", "-c", f"port={s.ports['postgres']}",
                  "-c", f"unix_socket_directories={self.root / 'run'}",
                  "-c", "max_connections=200", "-c", "shared_buffers=256MB",
                  # the nightly load writes ~0.5 GB of WAL per million rows: fewer forced checkpoints
                  "-c", "max_wal_size=4GB", "-c", "checkpoint_timeout=15min", "-c", "wal_buffers=32MB",
                  "-c", "wal_compression=lz4", "-c", "maintenance_work_mem=256MB",
                  "-c", "logging_collector=off", "-c", "log_min_messages=warning"],
            user=self.os_user,
        )

    def healthy(self) -> bool:
        import psycopg

        with psycopg.connect(self.settings.postgres_uri(ROLE_SUPERUSER, "postgres"), connect_timeout=2) as conn:
            return conn.execute("select 1").fetchone() == (1,)

    def after_start(self) -> None:
        from credit_platform.runtime import schema

        schema.apply_warehouse(self.settings)
        schema.ensure_airflow_database(self.settings)


# ---------------------------------------------------------------------------------------------
# Kafka (KRaft, one combined broker + controller)
# ---------------------------------------------------------------------------------------------
LOG4J2_CONSOLE = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


class Kafka(Service):
    name = "kafka"
    ports = ("kafka", "kafka_controller")
    start_timeout = 90.0

    @property
    def root(self) -> Path:
        return self.settings.service_dir("kafka")

    def uri(self) -> str:
        return f"kafka://{self.settings.kafka_bootstrap}"

    def _classpath(self) -> str:
        jars = self.settings.jars_dir / "kafka"
        if not any(jars.glob("kafka_2.13-*.jar")):
            raise ServiceError(f"Kafka broker jars missing in {jars}; run `make setup`")
        return f"{jars}/*"

    def prepare(self) -> None:
        s = self.settings
        self.root.mkdir(parents=True, exist_ok=True)
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{s.host}:{s.ports['kafka_controller']}",
            "listeners": f"PLAINTEXT://{s.host}:{s.ports['kafka']},CONTROLLER://{s.host}:{s.ports['kafka_controller']}",
            "advertised.listeners": f"PLAINTEXT://{s.host}:{s.ports['kafka']}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.root / "data"),
            "num.partitions": str(s.kafka_partitions),
            # unknown topics are refused, never silently created
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "log.retention.hours": "168",
            "num.io.threads": "2",
            "num.network.threads": "2",
        }
        (self.root / "server.properties").write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.root / "log4j2.properties").write_text(LOG4J2_CONSOLE)
        if not (self.root / "data" / "meta.properties").exists():
            cluster_id_file = self.root / "cluster.id"
            if not cluster_id_file.exists():
                import base64
                import uuid

                cluster_id_file.write_text(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))
            process.run_checked(
                # `--cluster-id=` form: a random id may start with "-", which the parser takes for a flag
                [*self._java(), "kafka.tools.StorageTool", "format",
                 f"--cluster-id={cluster_id_file.read_text().strip()}", f"--config={self.root / 'server.properties'}"],
                step="kafka: format storage", log_path=self.log_path, timeout=120,
            )

    def _java(self) -> list[str]:
        return ["java", "-Xms256m", "-Xmx1g", "-XX:+UseG1GC", "-XX:+ExitOnOutOfMemoryError",
                f"-Dlog4j2.configurationFile={self.root / 'log4j2.properties'}", "-cp", self._classpath()]

    def launch(self) -> Launch:
        return Launch(argv=[*self._java(), "kafka.Kafka", str(self.root / "server.properties")])

    def healthy(self) -> bool:
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap, request_timeout_ms=3000,
                                 client_id="credit-platform-health")
        try:
            admin.list_topics()
            return True
        finally:
            admin.close()

    def after_start(self) -> None:
        from credit_platform.runtime import schema

        schema.ensure_kafka_topics(self.settings)


# ---------------------------------------------------------------------------------------------
# MongoDB wire protocol: MONGO_URI, else a mongod on PATH, else FerretDB (SQLite backend)
# ---------------------------------------------------------------------------------------------
class Mongo(Service):
    name = "mongo"
    start_timeout = 60.0

    @property
    def root(self) -> Path:
        return self.settings.service_dir("mongo")

    def external(self) -> bool:
        return self.settings.external_mongo_uri is not None

    @property
    def backend(self) -> str:
        if self.external():
            return "external"
        return "mongod" if shutil.which("mongod") else "ferretdb"

    @property
    def ports(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("mongo", "ferretdb_debug") if self.backend == "ferretdb" else ("mongo",)

    def uri(self) -> str:
        return self.settings.mongo_uri

    def launch(self) -> Launch:
        s = self.settings
        data = self.root / "data"
        data.mkdir(parents=True, exist_ok=True)
        if self.backend == "mongod":
            return Launch(argv=["mongod", "--dbpath", str(data), "--bind_ip", s.host,
                                "--port", str(s.ports["mongo"])])
        binary = s.bin_dir / "ferretdb"
        if not binary.exists():
            raise ServiceError(f"FerretDB binary missing at {binary}; run `make setup`")
        return Launch(argv=[
            str(binary), "--handler=sqlite", f"--sqlite-url=file:{data}/",
            f"--listen-addr={s.host}:{s.ports['mongo']}", f"--debug-addr={s.host}:{s.ports['ferretdb_debug']}",
            f"--state-dir={self.root}", "--telemetry=disable", "--log-level=warn",
        ])

    def healthy(self) -> bool:
        from pymongo import MongoClient

        with MongoClient(self.uri(), serverSelectionTimeoutMS=2000) as client:
            return client.admin.command("ping").get("ok") == 1.0

    def after_start(self) -> None:
        from credit_platform.runtime import schema

        schema.ensure_mongo_collections(self.settings)


# ---------------------------------------------------------------------------------------------
# Flink session cluster from the apache-flink wheel's distribution
# ---------------------------------------------------------------------------------------------
def pyflink_home() -> Path:
    spec = importlib.util.find_spec("pyflink")
    if spec is None or spec.origin is None:
        raise ServiceError("apache-flink is not installed in this Python; run `make setup`")
    return Path(spec.origin).parent


def flink_runtime_dir(settings: Settings) -> Path:
    """conf/, lib/, run/ and tmp/ of this Flink process. One per container in a deployment
    (`CP_FLINK_RUNTIME_DIR`), while checkpoints and savepoints stay in the shared state dir."""
    return Path(os.environ.get("CP_FLINK_RUNTIME_DIR") or settings.service_dir("flink"))


def flink_env(settings: Settings) -> dict[str, str]:
    """Environment for Flink's scripts and CLI: our conf and lib dirs over the wheel's distribution."""
    root = flink_runtime_dir(settings)
    home = pyflink_home()
    return {
        **os.environ,
        "FLINK_HOME": str(home),
        "FLINK_CONF_DIR": str(root / "conf"),
        "FLINK_LIB_DIR": str(root / "lib"),
        "FLINK_LOG_DIR": str(settings.logs_dir / "flink"),
        "FLINK_PID_DIR": str(root / "run"),
        "PYFLINK_CLIENT_EXECUTABLE": sys.executable,
    }


def _set_dotted(tree: dict, dotted: str, value: object) -> None:
    parts = dotted.split(".")
    node = tree
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def prepare_flink(settings: Settings) -> None:
    """Write the session cluster's conf/ and lib/ (symlinks: the wheel's jars + connectors)."""
    root = flink_runtime_dir(settings)
    state = settings.service_dir("flink")
    home = pyflink_home()
    conf, lib = root / "conf", root / "lib"
    for d in (conf, lib, root / "run", root / "tmp", settings.logs_dir / "flink"):
        d.mkdir(parents=True, exist_ok=True)
    connectors = sorted((settings.jars_dir / "flink").glob("*.jar"))
    if not connectors:
        raise ServiceError(f"Flink connector jars missing in {settings.jars_dir / 'flink'}; run `make setup`")
    # flink-python in lib/ as well: without it a second thread-mode Python job on a TaskManager fails
    jars = [*sorted((home / "lib").glob("*.jar")), *sorted((home / "opt").glob("flink-python-*.jar")), *connectors]
    wanted = {p.name: p for p in jars}
    for existing in lib.iterdir():
        if existing.name not in wanted or existing.resolve() != wanted[existing.name].resolve():
            existing.unlink()
    for name, target in wanted.items():
        if not (lib / name).exists():
            (lib / name).symlink_to(target)
    for f in (home / "conf").iterdir():
        if f.name != "config.yaml":
            shutil.copyfile(f, conf / f.name)
    config = yaml.safe_load((home / "conf" / "config.yaml").read_text()) or {}
    p = settings.ports
    overrides = {
        "jobmanager.rpc.address": settings.host,
        "jobmanager.rpc.port": p["flink_rpc"],
        "jobmanager.bind-host": settings.host,
        "taskmanager.bind-host": settings.host,
        "taskmanager.host": settings.host,
        "taskmanager.numberOfTaskSlots": settings.flink_task_slots,
        # windowed rule state lives on the heap: the wheel's 1728m left ~400 MB of it, too little
        # for an hour of applications at high rates (OutOfMemoryError in the shared-device window)
        "taskmanager.memory.process.size": settings.flink_taskmanager_memory,
        "rest.address": settings.host,
        "rest.bind-address": settings.host,
        "rest.port": p["flink_rest"],
        "io.tmp.dirs": str(root / "tmp"),
        # notice a lost TaskManager in seconds rather than the default 50 s, so jobs recover fast
        "heartbeat.interval": 2000,
        "heartbeat.timeout": 10000,
        "metrics.fetcher.update-interval": 1000,  # REST/UI metrics fresh to the second
        "execution.checkpointing.dir": f"file://{state / 'checkpoints'}",
        "execution.checkpointing.savepoint-dir": f"file://{state / 'savepoints'}",
        "python.executable": sys.executable,
        "python.client.executable": sys.executable,
        # Flink's pull reporter (PrometheusReporter) always binds every interface; pushing to a
        # Pushgateway on 127.0.0.1 keeps the cluster loopback-only. Prometheus scrapes the gateway.
        "metrics.reporter.promgateway.factory.class":
            "org.apache.flink.metrics.prometheus.PrometheusPushGatewayReporterFactory",
        "metrics.reporter.promgateway.hostUrl": settings.pushgateway_url,
        "metrics.reporter.promgateway.jobName": "flink",
        "metrics.reporter.promgateway.randomJobNameSuffix": True,
        "metrics.reporter.promgateway.deleteOnShutdown": True,
        "metrics.reporter.promgateway.interval": "15 SECONDS",
    }
    # A deployment's own settings last (docker-compose: addresses of the JobManager and this host),
    # as YAML `key: value` lines like the official image's FLINK_PROPERTIES.
    extra = yaml.safe_load(os.environ.get("CP_FLINK_PROPERTIES") or "") or {}
    if not isinstance(extra, dict):
        raise ServiceError("CP_FLINK_PROPERTIES must be YAML `key: value` lines")
    for key, value in {**overrides, **extra}.items():
        _set_dotted(config, key, value)
    (conf / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


class FlinkJobManager(Service):
    name = "flink-jobmanager"
    requires = ("pushgateway",)
    ports = ("flink_rest", "flink_rpc")
    start_timeout = 90.0

    def uri(self) -> str:
        return self.settings.flink_rest_url

    def prepare(self) -> None:
        prepare_flink(self.settings)

    def launch(self) -> Launch:
        return Launch(argv=["bash", str(pyflink_home() / "bin" / "jobmanager.sh"), "start-foreground"],
                      env=flink_env(self.settings))

    def healthy(self) -> bool:
        return "flink-version" in http_json(f"{self.settings.flink_rest_url}/config")


class FlinkTaskManager(Service):
    name = "flink-taskmanager"
    requires = ("flink-jobmanager",)
    start_timeout = 90.0

    def uri(self) -> str:
        return f"{self.settings.flink_rest_url}/#/task-manager"

    def prepare(self) -> None:
        prepare_flink(self.settings)

    def launch(self) -> Launch:
        return Launch(argv=["bash", str(pyflink_home() / "bin" / "taskmanager.sh"), "start-foreground"],
                      env=flink_env(self.settings))

    def healthy(self) -> bool:
        managers = http_json(f"{self.settings.flink_rest_url}/taskmanagers")["taskmanagers"]
        return len(managers) >= 1


# ---------------------------------------------------------------------------------------------
# Airflow 3: db migrate, then api-server (UI + REST, login on), scheduler, dag-processor, triggerer
# ---------------------------------------------------------------------------------------------
AIRFLOW_ADMIN = "admin"


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
        # connections for the DAGs, from the environment; nothing secret is stored in git
        "AIRFLOW_CONN_POSTGRES_CREDIT": s.postgres_uri(ROLE_ETL).replace("postgresql://", "postgres://", 1),
        "AIRFLOW_CONN_MONGO_DEFAULT": s.mongo_uri.replace("mongodb://", "mongo://", 1).rstrip("/") + "/credit",
        "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps({"conn_type": "spark",
                                                  "host": os.environ.get("SPARK_MASTER", "local[2]")}),
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
        process.run_checked([str(VENV_BIN / "airflow"), "db", "migrate"], step="airflow: db migrate",
                            env=airflow_env(self.settings), log_path=self.log_path, timeout=600)
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


# ---------------------------------------------------------------------------------------------
# Prometheus (Debian's package), same monitoring/prometheus.yml as the compose deployment
# ---------------------------------------------------------------------------------------------
class Prometheus(Service):
    name = "prometheus"
    ports = ("prometheus",)
    start_timeout = 60.0

    @property
    def root(self) -> Path:
        return self.settings.service_dir("prometheus")

    def uri(self) -> str:
        return self.settings.prometheus_url

    def prepare(self) -> None:
        from credit_platform.runtime import monitoring

        monitoring.write_local_prometheus_config(self.settings, self.root)

    def launch(self) -> Launch:
        binary = shutil.which("prometheus")
        if binary is None:
            raise ServiceError("prometheus binary not found; run `make setup` (installs Debian's prometheus)")
        return Launch(argv=[
            binary, f"--config.file={self.root / 'prometheus.yml'}", f"--storage.tsdb.path={self.root / 'data'}",
            f"--web.listen-address={self.settings.host}:{self.settings.ports['prometheus']}",
            "--storage.tsdb.retention.time=7d", "--web.enable-lifecycle",
        ])

    def healthy(self) -> bool:
        with urllib.request.urlopen(f"{self.settings.prometheus_url}/-/ready", timeout=2) as response:
            return response.status == 200


class Pushgateway(Service):
    """Receives pushed metrics (Flink's reporter, batch jobs) for Prometheus to scrape."""

    name = "pushgateway"
    ports = ("pushgateway",)
    start_timeout = 30.0

    def uri(self) -> str:
        return self.settings.pushgateway_url

    def launch(self) -> Launch:
        binary = shutil.which("prometheus-pushgateway")
        if binary is None:
            raise ServiceError("prometheus-pushgateway not found; run `make setup` (Debian's prometheus-pushgateway)")
        root = self.settings.service_dir("pushgateway")
        root.mkdir(parents=True, exist_ok=True)
        return Launch(argv=[binary, f"--web.listen-address={self.settings.host}:{self.settings.ports['pushgateway']}",
                            f"--persistence.file={root / 'metrics.data'}", "--persistence.interval=1m"])

    def healthy(self) -> bool:
        with urllib.request.urlopen(f"{self.settings.pushgateway_url}/-/ready", timeout=2) as response:
            return response.status == 200


class LagExporter(Service):
    """Kafka consumer lag of the platform's groups, for Prometheus (credit_platform.lag_exporter)."""

    name = "lag-exporter"
    requires = ("kafka",)
    ports = ("lag_exporter",)
    start_timeout = 60.0

    def uri(self) -> str:
        return f"http://{self.settings.host}:{self.settings.ports['lag_exporter']}/metrics"

    def launch(self) -> Launch:
        return Launch(argv=[str(VENV_BIN / "python"), "-m", "credit_platform.lag_exporter"],
                      env={**os.environ, "CP_HOME": str(self.settings.home)})

    def healthy(self) -> bool:
        with urllib.request.urlopen(self.uri(), timeout=5) as response:
            return b"kafka_exporter_up 1.0" in response.read()


class StatsdExporter(Service):
    """Airflow's StatsD metrics (UDP) as Prometheus metrics, named by monitoring/statsd_mapping.yml."""

    name = "statsd-exporter"
    ports = ("statsd_exporter",)
    start_timeout = 30.0

    def uri(self) -> str:
        return f"http://{self.settings.host}:{self.settings.ports['statsd_exporter']}/metrics"

    def launch(self) -> Launch:
        from credit_platform.runtime.bootstrap import statsd_exporter_binary

        binary = statsd_exporter_binary(self.settings)
        if not binary.exists():
            raise ServiceError(f"{binary} not found; run `make setup` (builds statsd_exporter with Go)")
        s = self.settings
        return Launch(argv=[
            str(binary), f"--web.listen-address={s.host}:{s.ports['statsd_exporter']}",
            f"--statsd.listen-udp={s.host}:{s.ports['statsd']}", "--statsd.listen-tcp=",
            f"--statsd.mapping-config={REPO_ROOT / 'monitoring' / 'statsd_mapping.yml'}",
        ])

    def healthy(self) -> bool:
        with urllib.request.urlopen(self.uri(), timeout=5) as response:
            return response.status == 200


SERVICE_CLASSES: tuple[type[Service], ...] = (
    Postgres,
    Kafka,
    Mongo,
    Pushgateway,
    LagExporter,
    StatsdExporter,
    FlinkJobManager,
    FlinkTaskManager,
    Prometheus,
    AirflowDatabase,
    AirflowApiServer,
    AirflowScheduler,
    AirflowDagProcessor,
    AirflowTriggerer,
)


def all_services(settings: Settings) -> list[Service]:
    return [cls(settings) for cls in SERVICE_CLASSES]
