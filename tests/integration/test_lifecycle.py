"""`up`/`status`/`down` behave as a user expects."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from credit_platform.platform.services import SERVICE_CLASSES

from .conftest import cli

pytestmark = pytest.mark.integration


def test_status_json_lists_every_service_running_with_uri(platform):
    report = json.loads(cli("status", "--json").stdout)
    names = [row["name"] for row in report["services"]]
    assert names == [cls.name for cls in SERVICE_CLASSES if not cls.oneshot]
    for row in report["services"]:
        assert row["state"] == "running", row
        assert row["pid"] and row["uri"]
        assert platform.secrets["etl_writer_password"] not in row["uri"]  # no password in output
    assert report["total_rss_mb"] > 0


def test_up_twice_is_harmless(platform):
    before = {r["name"]: r["pid"] for r in json.loads(cli("status", "--json").stdout)["services"]}
    again = cli("up")
    assert "already running" in again.stdout
    after = {r["name"]: r["pid"] for r in json.loads(cli("status", "--json").stdout)["services"]}
    assert after == before


def test_services_listen_on_loopback_only(platform):
    """Every port the platform binds answers on 127.0.0.1 and on no other local address."""
    other = [a for a in _local_addresses() if not a.startswith("127.")]
    if not other:
        pytest.skip("this machine has no non-loopback address to probe")
    for port in platform.ports.values():
        for address in other:
            with socket.socket() as sock:
                sock.settimeout(0.5)
                assert sock.connect_ex((address, port)) != 0, f"port {port} reachable on {address}"


def _local_addresses() -> list[str]:
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    return [a for a in out if ":" not in a]


def test_taken_port_gives_clear_error(tmp_path):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        env = {**os.environ, "CP_HOME": str(tmp_path), "CP_PUSHGATEWAY_PORT": str(port)}
        result = subprocess.run([sys.executable, "-m", "credit_platform", "up", "--only", "pushgateway"],
                                capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1
    assert f"port {port} (pushgateway) is already in use" in result.stderr
    assert "CP_PUSHGATEWAY_PORT" in result.stderr
