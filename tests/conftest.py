"""Every test in this session talks to its own platform instance: own state dir and ports
(offset 10000), so `make test` can run beside a running demo. Set before any settings load.

The session's Alertmanager sends its alerts to a webhook on port `alert_webhook` (9095 + the offset),
which no service binds: tests/integration/test_alerting.py listens there while it makes an alert fire
(elsewhere in the session the deliveries fail, and Alertmanager only logs it)."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("CP_HOME", str(REPO / ".platform-test"))
os.environ.setdefault("CP_PORT_OFFSET", "10000")
if not os.environ.get("CP_ALERT_WEBHOOK_URL"):
    from credit_platform.config import load  # after CP_PORT_OFFSET: the session's port

    os.environ["CP_ALERT_WEBHOOK_URL"] = f"http://127.0.0.1:{load().ports['alert_webhook']}/alerts"
