"""Flink's client and cluster configuration over the apache-flink wheel's distribution: where the
distribution is, the conf/ and lib/ dirs of this process, and the environment Flink's scripts and
CLI need. Shared by job submission (any host, e.g. an Airflow container) and the local session
cluster's services; it starts nothing."""

from __future__ import annotations

import hashlib
import importlib.util
import ipaddress
import os
import shutil
import sys
from pathlib import Path

import yaml

from credit_platform.config import REPO_ROOT, Settings, environment_without_secrets
from credit_platform.errors import PlatformError


def pyflink_home() -> Path:
    spec = importlib.util.find_spec("pyflink")
    if spec is None or spec.origin is None:
        raise PlatformError("apache-flink is not installed in this Python; run `make setup`")
    return Path(spec.origin).parent


def flink_runtime_dir(settings: Settings) -> Path:
    """conf/, lib/, run/ and tmp/ of this Flink process. One per container in a deployment
    (`CP_FLINK_RUNTIME_DIR`), while checkpoints and savepoints stay in the shared state dir."""
    return Path(os.environ.get("CP_FLINK_RUNTIME_DIR") or settings.service_dir("flink"))


def flink_env(settings: Settings) -> dict[str, str]:
    """Environment for Flink's scripts and CLI: our conf and lib dirs over the wheel's distribution.
    Nothing secret: the Flink client logs its environment, and a job submitted from an Airflow task
    would otherwise carry the task's connections and keys into that log."""
    root = flink_runtime_dir(settings)
    home = pyflink_home()
    return {
        **environment_without_secrets(),
        "FLINK_HOME": str(home),
        "FLINK_CONF_DIR": str(root / "conf"),
        "FLINK_LIB_DIR": str(root / "lib"),
        "FLINK_LOG_DIR": str(settings.logs_dir / "flink"),
        "FLINK_PID_DIR": str(root / "run"),
        **_loopback_only(settings),
        # the Prometheus reporter with JAXB beside it when the Pushgateway asks for a password
        **({"FLINK_PLUGINS_DIR": str(root / "plugins")} if settings.pushgateway_credentials else {}),
        "PYFLINK_CLIENT_EXECUTABLE": sys.executable,
    }


LOOPBACK_BIND_SOURCE = REPO_ROOT / "deps" / "native" / "loopback_bind.c"
CONTRACT_FORMAT_DIR = REPO_ROOT / "deps" / "flink"  # the `contract-json` format (Java sources)


def _contract_format_sources() -> list[Path]:
    return sorted(p for p in CONTRACT_FORMAT_DIR.rglob("*") if p.is_file())


def contract_format_jar(settings: Settings) -> Path:
    """deps/flink built by `setup` (javac against the wheel's Flink jars), per source version."""
    digest = hashlib.sha256()
    for path in _contract_format_sources():
        digest.update(path.relative_to(CONTRACT_FORMAT_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    return settings.jars_dir / "contract-format" / f"credit-platform-contract-json-{digest.hexdigest()[:12]}.jar"


def build_contract_format(settings: Settings) -> tuple[Path, bool]:
    """The format's jar, compiled now unless this source version is built already; (jar, built now)."""
    import tempfile

    from credit_platform.errors import run_checked

    jar = contract_format_jar(settings)
    if jar.exists():
        return jar, False
    jar.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".contract-format-", dir=jar.parent) as work:
        classes = Path(work) / "classes"
        sources = [str(p) for p in _contract_format_sources() if p.suffix == ".java"]
        run_checked(["javac", "--release", "17", "-nowarn", "-cp", f"{pyflink_home() / 'lib'}/*", "-d",
                     str(classes), *sources], step="build the contract-json Flink format", timeout=300)
        shutil.copytree(CONTRACT_FORMAT_DIR / "resources", classes, dirs_exist_ok=True)
        staged = Path(work) / jar.name
        run_checked(["jar", "--create", "--file", str(staged), "-C", str(classes), "."],
                    step="package the contract-json Flink format", timeout=120)
        for old in jar.parent.glob("*.jar"):  # earlier source versions
            old.unlink()
        staged.replace(jar)
    return jar, True


def loopback_bind_library(settings: Settings) -> Path:
    """deps/native/loopback_bind.c built by `setup`, per source version (a changed source builds anew)."""
    digest = hashlib.sha256(LOOPBACK_BIND_SOURCE.read_bytes()).hexdigest()[:12]
    return settings.bin_dir / f"loopback_bind-{digest}.so"


def _loopback_only(settings: Settings) -> dict[str, str]:
    """On a loopback-only host (the embedded default), Flink's processes and the Python workers they
    start bind nothing beyond the loopback: PyFlink's Beam gRPC servers would otherwise listen on
    every interface (Flink 2.3 has no setting for their address)."""
    try:
        loopback = ipaddress.ip_address(settings.host).is_loopback
    except ValueError:  # a host name: a deployment, where other machines must reach Flink
        loopback = False
    if not loopback:
        return {}
    library = loopback_bind_library(settings)
    if not library.exists():
        raise PlatformError(f"{library.name} missing in {library.parent}; run `make setup`")
    # the cluster's own copy (prepare_flink): its processes may run as a user the cache is closed to
    local = flink_runtime_dir(settings) / "native" / library.name
    return {"LD_PRELOAD": str(local if local.exists() else library)}


# Flink's Kafka connector shades the Kafka client: its login modules live under this package.
KAFKA_SHADED = "org.apache.flink.kafka.shaded."


def flink_duration(text: str) -> str:
    """`text` if it is a Flink duration such as '5 s', '500 ms' or '2 min' (it is written into SQL
    table options, so nothing else may pass); argparse's `type` for such options."""
    import argparse
    import re

    if not re.fullmatch(r"[1-9][0-9]* ?(ms|s|min|h)", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an interval such as '5 s', '500 ms' or '2 min'")
    return text


def kafka_sql_options(settings: Settings, user: str) -> str:
    """`'properties.…'` options of a Kafka SQL table that log in as one of the platform's Kafka users
    (empty when the cluster needs no login)."""
    options = settings.kafka_java(user, KAFKA_SHADED)
    return "".join(f", 'properties.{key}' = '{value}'" for key, value in options.items())


def _set_dotted(tree: dict, dotted: str, value: object) -> None:
    parts = dotted.split(".")
    node = tree
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def _prepare_plugins(settings: Settings, root: Path) -> None:
    """The Prometheus reporter plugin with JAXB beside it: its basic auth encodes with
    javax.xml.bind, which Java 17 no longer ships (NoClassDefFoundError, and the reporter is off)."""
    plugin = root / "plugins" / "metrics-prometheus"
    plugin.mkdir(parents=True, exist_ok=True)
    jaxb = sorted((settings.jars_dir / "kafka").glob("jaxb-api-*.jar"))
    if not jaxb:
        raise PlatformError(f"jaxb-api jar missing in {settings.jars_dir / 'kafka'}; run `make setup`")
    wanted = {p.name: p for p in [*(pyflink_home() / "plugins" / "metrics-prometheus").glob("*.jar"), jaxb[-1]]}
    _install(plugin, wanted)


def _install(directory: Path, wanted: dict[str, Path]) -> None:
    """`directory` holds exactly these files: the wheel's as symlinks, others (from the cache, which
    the cluster's user may not be able to open) as copies."""
    home = pyflink_home()
    for existing in directory.iterdir():
        target = wanted.get(existing.name)
        if target is None or (existing.is_symlink() and existing.resolve() != target.resolve()):
            existing.unlink()
    for name, target in wanted.items():
        path = directory / name
        if target.is_relative_to(home):
            if not path.exists():
                path.symlink_to(target)
        elif path.is_symlink() or not path.exists() or path.stat().st_size != target.stat().st_size:
            path.unlink(missing_ok=True)
            shutil.copyfile(target, path)


def _cluster_settings(settings: Settings, root: Path, state: Path) -> dict[str, object]:
    """The platform's settings over the wheel's config.yaml: addresses (loopback here), memory,
    checkpoints, Python, and the metrics reporter."""
    p = settings.ports
    overrides: dict[str, object] = {
        "jobmanager.rpc.address": settings.host,
        "jobmanager.rpc.port": p["flink_rpc"],
        "jobmanager.bind-host": settings.host,
        "taskmanager.bind-host": settings.host,
        "taskmanager.host": settings.host,
        "taskmanager.numberOfTaskSlots": settings.flink_task_slots,
        # the wheel's 1728m is too little for an hour of applications at high rates (heap state ran out
        # of memory in the shared-device window)
        "taskmanager.memory.process.size": settings.flink_taskmanager_memory,
        # Managed memory serves RocksDB (the fraud job's state, CP_FLINK_STATE_BACKEND) and batch
        # operators: 0.4 as Flink ships it. With the state on the heap (hashmap), 0.1 leaves the heap
        # room for it (CP_FLINK_MANAGED_FRACTION); at 0.4 it filled under load.
        "taskmanager.memory.managed.fraction": settings.flink_managed_fraction,
        "rest.address": settings.host,
        "rest.bind-address": settings.host,
        "rest.port": p["flink_rest"],
        # no jar upload or run through the web UI (`flink run` submits through the REST job API);
        # the REST API has no authentication of its own, so it listens on the loopback only
        "web.submit.enable": False,
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
    if settings.cluster:  # two TaskManagers: a job's slots spread over both, so losing one loses half a job
        overrides["taskmanager.load-balance.mode"] = "SLOTS"
    credentials = settings.pushgateway_credentials
    if credentials:  # Flink hides keys named *password* in its REST API and UI
        overrides["metrics.reporter.promgateway.username"], overrides["metrics.reporter.promgateway.password"] = (
            credentials)
        _prepare_plugins(settings, root)
    return overrides


def prepare_flink(settings: Settings) -> None:
    """Write the session cluster's conf/ and lib/ (the wheel's jars as symlinks; the connectors, the
    contract format and the loopback-bind library copied beside them)."""
    root = flink_runtime_dir(settings)
    state = settings.service_dir("flink")
    home = pyflink_home()
    conf, lib = root / "conf", root / "lib"
    for d in (conf, lib, root / "run", root / "tmp", root / "home", settings.logs_dir / "flink"):
        d.mkdir(parents=True, exist_ok=True)
    connectors = sorted((settings.jars_dir / "flink").glob("*.jar"))
    if not connectors:
        raise PlatformError(f"Flink connector jars missing in {settings.jars_dir / 'flink'}; run `make setup`")
    contract_format = contract_format_jar(settings)
    if not contract_format.exists():
        raise PlatformError(f"{contract_format.name} missing in {contract_format.parent}; run `make setup`")
    connectors.append(contract_format)
    # flink-python in lib/ as well: without it a second thread-mode Python job on a TaskManager fails
    jars = [*sorted((home / "lib").glob("*.jar")), *sorted((home / "opt").glob("flink-python-*.jar")), *connectors]
    _install(lib, {p.name: p for p in jars})
    library = loopback_bind_library(settings)
    if library.exists():
        (root / "native").mkdir(exist_ok=True)
        _install(root / "native", {library.name: library})
    for f in (home / "conf").iterdir():
        if f.name != "config.yaml":
            shutil.copyfile(f, conf / f.name)
    config = yaml.safe_load((home / "conf" / "config.yaml").read_text()) or {}
    overrides = _cluster_settings(settings, root, state)
    # A deployment's own settings last (docker-compose: addresses of the JobManager and this host),
    # as YAML `key: value` lines like the official image's FLINK_PROPERTIES.
    extra = yaml.safe_load(os.environ.get("CP_FLINK_PROPERTIES") or "") or {}
    if not isinstance(extra, dict):
        raise PlatformError("CP_FLINK_PROPERTIES must be YAML `key: value` lines")
    for key, value in {**overrides, **extra}.items():
        _set_dotted(config, key, value)
    # it may hold the Pushgateway's password: readable by its owner only
    config_file = conf / "config.yaml"
    os.close(os.open(config_file, os.O_CREAT | os.O_WRONLY, 0o600))
    config_file.chmod(0o600)
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
