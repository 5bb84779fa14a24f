"""Prometheus, the Pushgateway, the Kafka lag exporter and the StatsD exporter."""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from pathlib import Path

import yaml

from credit_platform.config import REPO_ROOT, Settings
from credit_platform.errors import PlatformError
from credit_platform.platform.process import private_file
from credit_platform.platform.services.base import VENV_BIN, Launch, Service


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
        write_local_prometheus_config(self.settings, self.root)

    def launch(self) -> Launch:
        binary = shutil.which("prometheus")
        if binary is None:
            raise PlatformError("prometheus binary not found; run `make setup` (installs Debian's prometheus)")
        return Launch(argv=[
            binary, f"--config.file={self.root / 'prometheus.yml'}", f"--storage.tsdb.path={self.root / 'data'}",
            f"--web.listen-address={self.settings.host}:{self.settings.ports['prometheus']}",
            "--storage.tsdb.retention.time=7d",  # no --web.enable-lifecycle: no remote shutdown or reload
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
            raise PlatformError("prometheus-pushgateway not found; run `make setup` (Debian's prometheus-pushgateway)")
        root = self.settings.service_dir("pushgateway")
        root.mkdir(parents=True, exist_ok=True)
        user, password = self.settings.pushgateway_credentials or (None, None)
        # basic auth (Prometheus' web config): nobody pushes, deletes or reads series without the password
        private_file(root / "web.yml").write_text(yaml.safe_dump({"basic_auth_users": {user: _bcrypt(password)}}))
        return Launch(argv=[binary, f"--web.listen-address={self.settings.host}:{self.settings.ports['pushgateway']}",
                            f"--web.config.file={root / 'web.yml'}",
                            f"--persistence.file={root / 'metrics.data'}", "--persistence.interval=1m"])

    def healthy(self) -> bool:
        from credit_platform.metrics import read_pushgateway

        read_pushgateway(self.settings, "/-/ready", timeout=2)
        return True


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
        from credit_platform.platform.setup import statsd_exporter_binary

        binary = statsd_exporter_binary(self.settings)
        if not binary.exists():
            raise PlatformError(f"{binary} not found; run `make setup` (builds statsd_exporter with Go)")
        s = self.settings
        return Launch(argv=[
            str(binary), f"--web.listen-address={s.host}:{s.ports['statsd_exporter']}",
            f"--statsd.listen-udp={s.host}:{s.ports['statsd']}", "--statsd.listen-tcp=",
            f"--statsd.mapping-config={REPO_ROOT / 'monitoring' / 'statsd_mapping.yml'}",
        ])

    def healthy(self) -> bool:
        with urllib.request.urlopen(self.uri(), timeout=5) as response:
            return response.status == 200


def _bcrypt(password: str) -> str:
    """The bcrypt hash Prometheus' web config wants (the C library's; no extra package needed)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # crypt goes in Python 3.13; we pin 3.11
        import crypt

    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 10))


# ---- Prometheus configuration: the shared monitoring/prometheus.yml plus file-discovery targets
MONITORING_DIR = REPO_ROOT / "monitoring"


def local_targets(settings: Settings) -> dict[str, list[dict[str, object]]]:
    host, p = settings.host, settings.ports
    return {
        "prometheus": [{"targets": [f"{host}:{p['prometheus']}"], "labels": {"service": "prometheus"}}],
        "pushgateway": [{"targets": [f"{host}:{p['pushgateway']}"], "labels": {"service": "pushgateway"}}],
        "producer": [{"targets": [f"{host}:{p['producer_metrics']}"], "labels": {"service": "producer"}}],
        "kafka_lag": [{"targets": [f"{host}:{p['lag_exporter']}"], "labels": {"service": "lag-exporter"}}],
        "airflow": [{"targets": [f"{host}:{p['statsd_exporter']}"], "labels": {"service": "statsd-exporter"}}],
        "mongo": [] if settings.external_mongo_uri else [
            {"targets": [f"{host}:{p['ferretdb_debug']}"], "labels": {"service": "ferretdb"}}],
    }


def write_local_prometheus_config(settings: Settings, root: Path) -> None:
    targets_dir = root / "targets"
    targets_dir.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load((MONITORING_DIR / "prometheus.yml").read_text())
    credentials = settings.pushgateway_credentials
    if credentials:  # the local Pushgateway asks who scrapes it too
        private_file(root / "pushgateway.password").write_text(credentials[1])
        for job in config["scrape_configs"]:
            if job["job_name"] == "pushgateway":
                job["basic_auth"] = {"username": credentials[0], "password_file": str(root / "pushgateway.password")}
    (root / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    shutil.copytree(MONITORING_DIR / "rules", root / "rules", dirs_exist_ok=True)
    for name, groups in local_targets(settings).items():
        tmp = targets_dir / f".{name}.json.tmp"
        tmp.write_text(json.dumps(groups, indent=2))
        tmp.replace(targets_dir / f"{name}.json")
