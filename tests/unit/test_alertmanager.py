"""Alertmanager's configuration: one render (credit_platform.alerting) for the embedded default and
the committed monitoring/alertmanager.yml of docker-compose, valid for Alertmanager itself (`amtool
check-config`; Debian's prometheus-alertmanager ships amtool) with no receiver, a webhook, and a
webhook with e-mail and chat; and the local Prometheus sends its alerts there, logged in."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from credit_platform import alerting
from credit_platform.config import Settings
from credit_platform.errors import PlatformError

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "monitoring" / "alertmanager.yml"
amtool = shutil.which("amtool")
needs_amtool = pytest.mark.skipif(amtool is None, reason="amtool is installed by `make setup` "
                                                         "(Debian's prometheus-alertmanager)")
WEBHOOK = {"CP_ALERT_WEBHOOK_URL": "http://127.0.0.1:9095/alerts"}
EVERYTHING = {**WEBHOOK, "CP_ALERT_EMAIL_TO": "oncall@example.com", "CP_ALERT_SMTP_SMARTHOST": "smtp.example.com:587",
              "CP_ALERT_SMTP_FROM": "credit-platform@example.com", "CP_ALERT_SMTP_USER": "mailer",
              "CP_ALERT_SMTP_PASSWORD": "smtp-s3cret", "CP_ALERT_SLACK_CHANNEL": "#credit-platform",
              "CP_ALERT_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/chat-s3cret"}
CASES = {"no receiver": {}, "webhook": WEBHOOK, "webhook, e-mail and chat": EVERYTHING}


def _amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([amtool, *args], capture_output=True, text=True, timeout=30)


def test_the_committed_compose_file_is_the_render_with_no_receiver():
    assert COMMITTED.read_text() == alerting.render_alertmanager_config({}, "compose"), (
        "monitoring/alertmanager.yml is stale: credit-platform alertmanager-config --compose --defaults "
        "--out monitoring/alertmanager.yml")
    # the header documents every variable the render reads
    assert all(name in COMMITTED.read_text() for name in alerting.ENV)


@needs_amtool
@pytest.mark.parametrize("case", CASES)
def test_amtool_accepts_the_render(case, tmp_path):
    path = tmp_path / "alertmanager.yml"
    path.write_text(alerting.render_alertmanager_config(CASES[case], "local"))
    result = _amtool("check-config", str(path))
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr
    want = "platform" if CASES[case] else "nowhere"
    for severity in ("critical", "warning"):  # both routes end at the one receiver
        routed = _amtool("config", "routes", "test", f"--config.file={path}", "alertname=X", f"severity={severity}")
        assert routed.stdout.strip() == want, routed.stdout + routed.stderr


@needs_amtool
def test_amtool_accepts_the_committed_file():
    result = _amtool("check-config", str(COMMITTED))
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr


def test_routes_by_severity_inhibits_and_receivers_from_the_environment():
    config = alerting.alertmanager_config(EVERYTHING)
    route = config["route"]
    assert {"alertname", "group", "topic", "suite", "dag_id"} <= set(route["group_by"])
    critical, warning = route["routes"]
    assert critical["matchers"] == ['severity="critical"'] and critical["repeat_interval"] == "1h"
    assert warning["matchers"] == ['severity="warning"'] and warning["repeat_interval"] == "4h"
    assert (critical["group_wait"], warning["group_wait"]) == ("10s", "1m")
    assert config["inhibit_rules"] == [{"source_matchers": ['severity="critical"'],
                                        "target_matchers": ['severity="warning"'], "equal": ["alertname"]}]
    receiver = config["receivers"][0]
    assert receiver["webhook_configs"][0]["url"] == WEBHOOK["CP_ALERT_WEBHOOK_URL"]
    assert receiver["email_configs"][0]["to"] == "oncall@example.com"
    assert config["global"]["smtp_auth_password"] == "smtp-s3cret"
    assert receiver["slack_configs"][0]["channel"] == "#credit-platform"
    # what `up` prints and logs names the channels, never a URL's key or a password
    summary = alerting.receiver_summary(config)
    assert "webhook" in summary and "oncall@example.com" in summary and "#credit-platform" in summary
    assert "s3cret" not in summary and "/alerts" not in summary
    assert alerting.receiver_summary(alerting.alertmanager_config({})).startswith("nowhere")


def test_incomplete_receivers_are_refused_without_echoing_them():
    with pytest.raises(PlatformError, match="CP_ALERT_SMTP_SMARTHOST and CP_ALERT_SMTP_FROM"):
        alerting.alertmanager_config({"CP_ALERT_EMAIL_TO": "oncall@example.com"})
    with pytest.raises(PlatformError, match="CP_ALERT_SLACK_WEBHOOK_URL is not an http") as error:
        alerting.alertmanager_config({"CP_ALERT_SLACK_WEBHOOK_URL": "hooks.slack.com/T0/key-s3cret"})
    assert "s3cret" not in str(error.value)
    assert alerting.alertmanager_config({"CP_ALERT_WEBHOOK_URL": "  "})["receivers"] == [{"name": "nowhere"}]


def test_local_alertmanager_files_are_private_and_prometheus_logs_in(tmp_path, monkeypatch):
    from credit_platform.platform.services.monitoring import Alertmanager, write_local_prometheus_config

    monkeypatch.delenv("CP_ALERTMANAGER_URL", raising=False)
    for name, value in WEBHOOK.items():
        monkeypatch.setenv(name, value)
    settings = Settings(home=tmp_path / "home")
    service = Alertmanager(settings)
    service.prepare()
    for name in ("alertmanager.yml", "web.yml"):
        assert stat.S_IMODE((service.root / name).stat().st_mode) == 0o600, name
    assert yaml.safe_load((service.root / "alertmanager.yml").read_text())["receivers"][0]["name"] == "platform"
    user, password = settings.alertmanager_credentials
    web = yaml.safe_load((service.root / "web.yml").read_text())
    assert list(web["basic_auth_users"]) == [user] and password not in (service.root / "web.yml").read_text()
    argv = service.launch().argv if shutil.which("prometheus-alertmanager") else []
    if argv:
        assert f"--web.listen-address=127.0.0.1:{settings.ports['alertmanager']}" in argv
        assert "--cluster.listen-address=" in argv
    assert "webhook on 127.0.0.1" in service.log_path.read_text()

    root = tmp_path / "prometheus"
    write_local_prometheus_config(settings, root)
    target = yaml.safe_load((root / "prometheus.yml").read_text())["alerting"]["alertmanagers"][0]
    assert target["basic_auth"]["username"] == user
    password_file = Path(target["basic_auth"]["password_file"])
    assert password_file.read_text() == password and stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert json.loads((root / "targets" / "alertmanager.json").read_text())[0]["targets"] == [
        f"127.0.0.1:{settings.ports['alertmanager']}"]
    promtool = shutil.which("promtool")
    if promtool:
        result = subprocess.run([promtool, "check", "config", str(root / "prometheus.yml")], capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
