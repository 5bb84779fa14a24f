"""The commands docker-compose runs in each platform container, against the real local services:
`migrate` (the init step), `health` (every healthcheck) and `serve` (every container's command)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from credit_platform import config
from credit_platform.contracts import names

from .conftest import cli

COMPOSE_HEALTHCHECKS = ("flink-jobmanager", "flink-taskmanager", "airflow-api-server", "airflow-scheduler",
                        "airflow-dag-processor", "airflow-triggerer", "lag-exporter")


def test_migrate_applies_every_store_again_without_harm(platform: config.Settings) -> None:
    import psycopg

    first = cli("migrate", timeout=600)
    for step in ("warehouse", "airflow database", "airflow db migrate", "kafka topics", "mongodb collections"):
        assert f"[ ok ] {step}" in first.stdout, first.stdout
    assert "created none (all present)" in first.stdout  # `up` made the topics: nothing new
    for role in (names.ROLE_ETL, names.ROLE_BI):  # the role passwords it set again still log in
        with psycopg.connect(platform.postgres_uri(role)) as conn:
            assert conn.execute("SELECT current_user").fetchone()[0] == role
    second = cli("migrate", timeout=600)
    assert "created none (all present)" in second.stdout


def test_every_compose_healthcheck_passes_on_the_running_platform(platform: config.Settings) -> None:
    for name in COMPOSE_HEALTHCHECKS:
        result = cli("health", name, check=False, timeout=60)
        assert result.returncode == 0 and f"{name}: healthy" in result.stdout, result.stdout + result.stderr
    assert cli("health", "no-such-service", check=False).returncode != 0


def test_serve_runs_a_service_in_the_foreground(platform: config.Settings) -> None:
    with socket.socket() as s:  # a free port, so the platform's own lag exporter keeps running
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "CP_LAG_EXPORTER_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "credit_platform", "serve", "lag-exporter"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        body = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and b"kafka_exporter_up 1.0" not in body:
            time.sleep(1)
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
        assert b"kafka_exporter_up 1.0" in body
        assert b"kafka_consumergroup_lag" in body or b"kafka_topic_end_offset" in body
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
