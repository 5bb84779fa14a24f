"""The Prometheus configuration and alert rules are valid, and every alert is proven by a
`promtool test rules` case (Debian's prometheus package ships promtool)."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "monitoring"
promtool = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(promtool is None, reason="promtool is installed by `make setup`")


@needs_promtool
def test_config_and_rules_check(tmp_path):
    shutil.copy(MONITORING / "prometheus.yml", tmp_path)
    shutil.copytree(MONITORING / "rules", tmp_path / "rules")
    (tmp_path / "targets").mkdir()
    result = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@needs_promtool
def test_every_alert_fires_and_stays_quiet_in_its_unit_test():
    result = subprocess.run([promtool, "test", "rules", "alerts.test.yml"], cwd=MONITORING / "tests",
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_test_case():
    rules = yaml.safe_load((MONITORING / "rules" / "platform.rules.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    cases = yaml.safe_load((MONITORING / "tests" / "alerts.test.yml").read_text())["tests"]
    tested = {t["alertname"] for case in cases for t in case.get("alert_rule_test", []) if t["exp_alerts"]}
    assert alerts == tested
    assert {"FraudJobDown", "ConsumerLagHigh", "InvalidRecordRateHigh", "FraudAlertSpike",
            "DataQualityBlockingFailure", "NightlyScoringLate"} <= alerts
