"""Prometheus, Alertmanager, the Pushgateway, the Kafka lag exporter and the StatsD exporter."""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from credit_platform.config import REPO_ROOT, Settings
from credit_platform.errors import PlatformError
from credit_platform.platform.process import private_dir, private_file
from credit_platform.platform.services.base import VENV_BIN, Launch, Service


# ---------------------------------------------------------------------------------------------
# Alertmanager and Prometheus (Debian's packages), configured as in the compose deployment
# ---------------------------------------------------------------------------------------------
class Alertmanager(Service):
    """Prometheus' alerts, grouped, deduplicated and sent to the CP_ALERT_* receivers (Debian's
    prometheus-alertmanager; configuration: credit_platform.alerting)."""

    name = "alertmanager"
    ports = ("alertmanager",)
    start_timeout = 60.0

    @property
    def root(self) -> Path:
        return self.settings.service_dir("alertmanager")

    def uri(self) -> str:
        return self.settings.alertmanager_url

    def prepare(self) -> None:
        from credit_platform.alerting import local_config_path, receiver_summary, render_alertmanager_config

        (self.root / "data").mkdir(parents=True, exist_ok=True)
        text = render_alertmanager_config(os.environ, "local")
        # receivers' URLs and passwords: private, like the login below
        private_file(local_config_path(self.settings)).write_text(text)
        user, password = self.settings.alertmanager_credentials or (None, None)
        private_file(self.root / "web.yml").write_text(yaml.safe_dump({"basic_auth_users": {user: _bcrypt(password)}}))
        self.receivers = receiver_summary(yaml.safe_load(text))  # no URL or password in it
        private_dir(self.log_path.parent, 0o711)
        with open(private_file(self.log_path), "a") as log:
            log.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} alerts go to {self.receivers}\n")

    def launch(self) -> Launch:
        binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
        if binary is None:
            raise PlatformError("prometheus-alertmanager not found; run `make setup` (Debian's package)")
        s = self.settings
        return Launch(argv=[
            binary, f"--config.file={self.root / 'alertmanager.yml'}", f"--storage.path={self.root / 'data'}",
            f"--web.listen-address={s.host}:{s.ports['alertmanager']}", f"--web.config.file={self.root / 'web.yml'}",
            f"--web.external-url={s.alertmanager_url}",
            "--cluster.listen-address=",  # one instance: no gossip port
        ])

    def start(self) -> str:
        note = super().start()
        receivers = getattr(self, "receivers", None)
        if receivers is None:  # adopted, not started: what its rendered file says
            from credit_platform.alerting import local_receiver_summary

            receivers = local_receiver_summary(self.settings)
        return f"{note}; alerts go to {receivers}" if receivers else note

    def healthy(self) -> bool:
        from credit_platform.alerting import read_alertmanager

        read_alertmanager(self.settings, "/-/ready", timeout=2)
        return True


class Prometheus(Service):
    name = "prometheus"
    requires = ("alertmanager",)  # alerts have somewhere to go from the first evaluation
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
        # where Prometheus sends its alerts (alerting.alertmanagers, not a scrape job)
        "alertmanager": [{"targets": [urlsplit(settings.alertmanager_url).netloc],
                          "labels": {"service": "alertmanager"}}],
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
    alertmanager = urlsplit(settings.alertmanager_url)
    for target in config["alerting"]["alertmanagers"]:
        target.update(scheme=alertmanager.scheme, **({"path_prefix": alertmanager.path} if alertmanager.path else {}))
        if settings.alertmanager_credentials:  # the local Alertmanager takes alerts from its user only
            private_file(root / "alertmanager.password").write_text(settings.alertmanager_credentials[1])
            target["basic_auth"] = {"username": settings.alertmanager_credentials[0],
                                    "password_file": str(root / "alertmanager.password")}
    (root / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    shutil.copytree(MONITORING_DIR / "rules", root / "rules", dirs_exist_ok=True)
    for name, groups in local_targets(settings).items():
        tmp = targets_dir / f".{name}.json.tmp"
        tmp.write_text(json.dumps(groups, indent=2))
        tmp.replace(targets_dir / f"{name}.json")
