"""Alerts reach someone: a real rule of monitoring/rules/platform.rules.yml fires in the session's
Prometheus, which sends it (logged in) to the session's Alertmanager, which routes it by severity to
the webhook tests/conftest.py configures (CP_ALERT_WEBHOOK_URL); this test listens there.

The rule: DataQualityBlockingFailure (no `for`, critical: notified 10 s after it fires), raised the
way the data-quality job raises it, by pushing its `dq_failed_expectations` gauge, for a suite of this
test's own. Its own suite is its own group in Alertmanager, so no earlier alert (of this session or of
an earlier one, kept in the state dir) can hold the notification back, and deleting the push resolves
it: the test leaves no alert firing, and sees the resolved notification arrive too."""

from __future__ import annotations

import json
import os
import queue
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .conftest import cli

pytestmark = pytest.mark.integration
ALERT = "DataQualityBlockingFailure"
TIMEOUT = 180  # scrape and evaluation every 15 s, then the route's group_wait (critical 10 s) / interval (1 m)


class _Webhook(BaseHTTPRequestHandler):
    received: queue.Queue

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.put((time.monotonic(), self.path, json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


def _wait_for(received: queue.Queue, suite: str, status: str, since: float) -> tuple[float, str, dict, dict]:
    deadline = since + TIMEOUT
    while (left := deadline - time.monotonic()) > 0:
        try:
            at, path, payload = received.get(timeout=left)
        except queue.Empty:
            break
        for alert in payload.get("alerts", []):
            if alert["labels"].get("suite") == suite and alert["status"] == status:
                return at - since, path, payload, alert
        print(f"  (webhook: another notification, {payload.get('status')} {payload.get('groupLabels')})")
    raise AssertionError(f"no {status} {ALERT} for suite {suite} reached the webhook in {TIMEOUT}s")


def _push_failed_expectations(platform, suite: str) -> None:
    """What credit_platform.quality.expectations pushes after a run with a blocking failure."""
    from prometheus_client import CollectorRegistry, Gauge

    from credit_platform.metrics import push

    registry = CollectorRegistry()
    failed = Gauge("dq_failed_expectations", "Failed expectations of the last run, by suite and severity",
                   ["suite", "severity"], registry=registry)
    failed.labels(suite, "critical").set(1)
    failed.labels(suite, "warning").set(0)
    assert push(platform, "data_quality", registry, {"suite": suite})


def _delete_push(platform, suite: str) -> None:
    from credit_platform.metrics import _authorization

    request = urllib.request.Request(f"{platform.pushgateway_url}/metrics/job/data_quality/suite/{suite}",
                                     method="DELETE", headers=_authorization(platform))
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status in (200, 202)


def _prometheus(platform, path: str) -> dict:
    with urllib.request.urlopen(f"{platform.prometheus_url}{path}", timeout=10) as response:
        return json.loads(response.read())["data"]


def test_a_firing_rule_reaches_the_webhook_through_alertmanager_and_so_does_its_resolution(platform):
    hook = urllib.parse.urlsplit(os.environ["CP_ALERT_WEBHOOK_URL"])
    assert hook.port == platform.ports["alert_webhook"], "the session's Alertmanager posts elsewhere"
    # Prometheus knows its Alertmanager (and logs in: an unauthorized one shows as dropped/erroring)
    active = _prometheus(platform, "/api/v1/alertmanagers")["activeAlertmanagers"]
    assert [a["url"] for a in active] == [f"{platform.alertmanager_url}/api/v2/alerts"], active

    received: queue.Queue = queue.Queue()
    server = ThreadingHTTPServer((hook.hostname, hook.port), type("Webhook", (_Webhook,), {"received": received}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    suite = f"alerting_probe_{uuid.uuid4().hex[:8]}"
    try:
        started = time.monotonic()
        try:
            _push_failed_expectations(platform, suite)
            print(f"\npushed dq_failed_expectations{{suite={suite!r},severity='critical'}} = 1 (job data_quality)")
            took, path, payload, alert = _wait_for(received, suite, "firing", started)
            print(f"{ALERT} firing reached the webhook {took:.0f}s after the push")
            assert path == hook.path and payload["receiver"] == "platform" and payload["status"] == "firing"
            assert alert["labels"]["alertname"] == ALERT and alert["labels"]["severity"] == "critical"
            assert payload["groupLabels"] == {"alertname": ALERT, "suite": suite}
            assert "blocking expectations" in alert["annotations"]["summary"]

            # `credit-platform alerts` lists it, from Alertmanager's API, logged in
            listed = json.loads(cli("alerts", "--json").stdout)
            assert [a["receivers"] for a in listed if a["labels"].get("suite") == suite] == [[{"name": "platform"}]]
            text = cli("alerts").stdout
            assert suite in text and "sent to webhook on 127.0.0.1" in text, text
            # ... and so does the Airflow UI's Browse > Platform Alerts page, behind Airflow's login
            from credit_platform.orchestration.airflow_client import AirflowClient

            page = urllib.request.Request(f"{platform.airflow_url}/platform-alerts/",
                                          headers={"Authorization": f"Bearer {AirflowClient(platform).token}"})
            with urllib.request.urlopen(page, timeout=30) as response:
                html = response.read().decode()
            assert ALERT in html and f"suite={suite}" in html and "webhook on 127.0.0.1" in html, html[:2000]
            with pytest.raises(urllib.error.HTTPError) as anonymous:
                urllib.request.urlopen(f"{platform.airflow_url}/platform-alerts/", timeout=30)
            assert anonymous.value.code == 401
        finally:
            _delete_push(platform, suite)  # the next scrape has no failure for the suite: the alert resolves
        resolving = time.monotonic()
        took, _, payload, alert = _wait_for(received, suite, "resolved", resolving)
        print(f"{ALERT} resolved reached the webhook {took:.0f}s after the push was deleted")
        firing = [a for a in _prometheus(platform, "/api/v1/alerts")["alerts"] if a["labels"].get("suite") == suite]
        assert firing == []
    finally:
        server.shutdown()
        server.server_close()
