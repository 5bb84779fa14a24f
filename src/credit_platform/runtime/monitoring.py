"""Prometheus configuration for the embedded default: the shared monitoring/prometheus.yml plus
file-discovery targets pointing at the local processes' ports."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from credit_platform.config import REPO_ROOT, Settings

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
    shutil.copyfile(MONITORING_DIR / "prometheus.yml", root / "prometheus.yml")
    shutil.copytree(MONITORING_DIR / "rules", root / "rules", dirs_exist_ok=True)
    for name, groups in local_targets(settings).items():
        tmp = targets_dir / f".{name}.json.tmp"
        tmp.write_text(json.dumps(groups, indent=2))
        tmp.replace(targets_dir / f"{name}.json")
