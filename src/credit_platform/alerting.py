"""Where Prometheus' alerts go: Alertmanager's configuration, rendered from the environment, and a
reader of the alerts it holds (`credit-platform alerts`).

`render_alertmanager_config` is the one source of the configuration: `credit-platform up` writes it
for the local Alertmanager (a private file: it holds receivers' URLs and passwords), and the
committed monitoring/alertmanager.yml of docker-compose is its render with no receiver set
(`credit-platform alertmanager-config --compose --defaults --out monitoring/alertmanager.yml`; a
unit test keeps the two equal). What each variable does is in HEADER, on top of both files.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from credit_platform.config import Settings
from credit_platform.errors import PlatformError

# labels that tell one incident from another in platform.rules.yml: one notification per group
GROUP_BY = ["alertname", "group", "topic", "suite", "dag_id"]
RECEIVER = "platform"  # every configured integration
NO_RECEIVER = "nowhere"  # no CP_ALERT_* receiver set: alerts are kept and listed, sent nowhere
ENV = ("CP_ALERT_WEBHOOK_URL", "CP_ALERT_EMAIL_TO", "CP_ALERT_SMTP_SMARTHOST", "CP_ALERT_SMTP_FROM",
       "CP_ALERT_SMTP_USER", "CP_ALERT_SMTP_PASSWORD", "CP_ALERT_SMTP_REQUIRE_TLS", "CP_ALERT_SLACK_WEBHOOK_URL",
       "CP_ALERT_SLACK_CHANNEL")

HEADER = """\
# Alertmanager: where Prometheus' alerts (monitoring/rules/*.rules.yml) go. GENERATED, do not edit:
# rendered by credit_platform.alerting.render_alertmanager_config, which also writes the embedded
# default's configuration (`credit-platform up`: $CP_HOME/alertmanager/alertmanager.yml, mode 0600).
{target}
#
# Receivers, from the environment (any combination; all are one receiver, `platform`):
#   CP_ALERT_WEBHOOK_URL        POST each notification as Alertmanager's webhook JSON (the default channel)
#   CP_ALERT_EMAIL_TO           e-mail to this address (or comma-separated addresses), through
#                               CP_ALERT_SMTP_SMARTHOST (host:port) from CP_ALERT_SMTP_FROM; with
#                               CP_ALERT_SMTP_USER and CP_ALERT_SMTP_PASSWORD to log in, and
#                               CP_ALERT_SMTP_REQUIRE_TLS=0 for a relay without STARTTLS
#   CP_ALERT_SLACK_WEBHOOK_URL  chat: a Slack incoming webhook, or a Slack-compatible one (Mattermost,
#                               Rocket.Chat); CP_ALERT_SLACK_CHANNEL posts elsewhere than the hook's channel
# With none set the receiver is `nowhere`, with no integration: alerts are still received, grouped,
# deduplicated and inhibited, and listed by `credit-platform alerts` (Alertmanager's /api/v2/alerts,
# or `amtool alert query`), but sent nowhere; `credit-platform up` says so. Webhook and chat URLs are
# keys: keep them out of logs and files others can read.
#
# Routing: one notification per alertname and the labels that tell incidents apart ({group_by}).
# severity critical: first notification after 10s, updates at most every minute, repeated hourly;
# severity warning: after 1m, updates every 5m, repeated every 4h. A firing critical alert holds back
# the warning of the same alertname (inhibit_rules). Resolved alerts are notified too.
"""
COMPOSE_TARGET = """\
# This file: docker-compose's (service alertmanager), the render with no receiver set. To send alerts
# from a deployment, render one with its receivers, readable by the container's user (nobody) only:
#   CP_ALERT_WEBHOOK_URL=https://... credit-platform alertmanager-config --compose \\
#       --out monitoring/alertmanager.local.yml            # git-ignored
#   chown 65534 monitoring/alertmanager.local.yml
#   echo CP_ALERTMANAGER_CONFIG=./monitoring/alertmanager.local.yml >> .env
#   docker compose up -d alertmanager
# Regenerate this file: credit-platform alertmanager-config --compose --defaults --out monitoring/alertmanager.yml"""
LOCAL_TARGET = """\
# This file: the embedded default's, rendered from the environment of `credit-platform up` (restart
# Alertmanager, `credit-platform down` and `up`, after changing a CP_ALERT_* variable)."""


def _url(env: dict[str, str], name: str) -> str:
    url = env[name]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PlatformError(f"{name} is not an http(s) URL")  # the value itself may be a key: not echoed
    return url


def alertmanager_config(environ: Mapping[str, str]) -> dict[str, object]:
    """Alertmanager's configuration for the CP_ALERT_* variables of `environ` (see HEADER)."""
    env = {name: environ[name].strip() for name in ENV if (environ.get(name) or "").strip()}
    settings: dict[str, object] = {"resolve_timeout": "5m"}
    receiver: dict[str, object] = {}
    if "CP_ALERT_WEBHOOK_URL" in env:
        receiver["webhook_configs"] = [{"url": _url(env, "CP_ALERT_WEBHOOK_URL"), "send_resolved": True}]
    if "CP_ALERT_EMAIL_TO" in env:
        missing = [name for name in ("CP_ALERT_SMTP_SMARTHOST", "CP_ALERT_SMTP_FROM") if name not in env]
        if "CP_ALERT_SMTP_USER" in env and "CP_ALERT_SMTP_PASSWORD" not in env:
            missing.append("CP_ALERT_SMTP_PASSWORD")
        if missing:
            raise PlatformError(f"CP_ALERT_EMAIL_TO is set: set {' and '.join(missing)} too")
        settings.update(smtp_smarthost=env["CP_ALERT_SMTP_SMARTHOST"], smtp_from=env["CP_ALERT_SMTP_FROM"],
                        smtp_require_tls=env.get("CP_ALERT_SMTP_REQUIRE_TLS", "1").lower() in ("1", "true", "yes"))
        if "CP_ALERT_SMTP_USER" in env:
            settings.update(smtp_auth_username=env["CP_ALERT_SMTP_USER"],
                            smtp_auth_password=env["CP_ALERT_SMTP_PASSWORD"])
        receiver["email_configs"] = [{"to": env["CP_ALERT_EMAIL_TO"], "send_resolved": True}]
    if "CP_ALERT_SLACK_WEBHOOK_URL" in env:
        slack: dict[str, object] = {"api_url": _url(env, "CP_ALERT_SLACK_WEBHOOK_URL"), "send_resolved": True}
        if "CP_ALERT_SLACK_CHANNEL" in env:
            slack["channel"] = env["CP_ALERT_SLACK_CHANNEL"]
        slack["text"] = ('{{ range .Alerts }}[{{ .Labels.severity }}] {{ .Annotations.summary }}\n'
                         '{{ end }}')
        receiver["slack_configs"] = [slack]
    name = RECEIVER if receiver else NO_RECEIVER
    return {
        "global": settings,
        "route": {
            "receiver": name, "group_by": GROUP_BY,
            "group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h",  # an alert of no severity
            "routes": [
                {"matchers": ['severity="critical"'],
                 "group_wait": "10s", "group_interval": "1m", "repeat_interval": "1h"},
                {"matchers": ['severity="warning"'],
                 "group_wait": "1m", "group_interval": "5m", "repeat_interval": "4h"},
            ],
        },
        "inhibit_rules": [{"source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"'],
                           "equal": ["alertname"]}],
        "receivers": [{"name": name, **receiver}],
    }


def render_alertmanager_config(environ: Mapping[str, str], target: str = "local") -> str:
    """The configuration file's text: HEADER and the YAML. `target`: "local" or "compose" (the header only)."""
    if target not in ("local", "compose"):
        raise ValueError(f"target {target!r}: local or compose")
    header = HEADER.format(target=COMPOSE_TARGET if target == "compose" else LOCAL_TARGET,
                           group_by=", ".join(GROUP_BY))
    return header + yaml.safe_dump(alertmanager_config(environ), sort_keys=False, width=120)


def receiver_summary(config: Mapping[str, object]) -> str:
    """Where the configuration sends alerts, without a URL or password: for logs and output."""
    receiver = config["receivers"][0]  # type: ignore[index]
    parts = []
    for hook in receiver.get("webhook_configs", []):
        parts.append(f"webhook on {urlsplit(hook['url']).hostname}")
    for mail in receiver.get("email_configs", []):
        parts.append(f"e-mail to {mail['to']}")
    for chat in receiver.get("slack_configs", []):
        parts.append(f"chat ({chat.get('channel') or 'the webhook channel'} on {urlsplit(chat['api_url']).hostname})")
    if not parts:
        return ("nowhere: no CP_ALERT_* receiver is set; alerts are kept, grouped and listed "
                "(`credit-platform alerts`) but sent nowhere")
    return ", ".join(parts)


def local_config_path(settings: Settings) -> Path:
    return settings.service_dir("alertmanager") / "alertmanager.yml"


def local_receiver_summary(settings: Settings) -> str | None:
    """Where the local Alertmanager sends alerts, read from its rendered configuration (None: no such file)."""
    try:
        return receiver_summary(yaml.safe_load(local_config_path(settings).read_text()))
    except (FileNotFoundError, PermissionError):
        return None


# ---- reading Alertmanager --------------------------------------------------------------------
def _authorization(settings: Settings) -> dict[str, str]:
    credentials = settings.alertmanager_credentials
    if credentials is None:
        return {}
    return {"Authorization": "Basic " + base64.b64encode(":".join(credentials).encode()).decode()}


def read_alertmanager(settings: Settings, path: str, timeout: float = 5) -> bytes:
    """GET an Alertmanager page as the platform's user (health checks, `credit-platform alerts`)."""
    request = urllib.request.Request(f"{settings.alertmanager_url}{path}", headers=_authorization(settings))
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (configured URL)
        return response.read()


def alerts(settings: Settings, suppressed: bool = False) -> list[dict]:
    """The alerts Alertmanager holds (API v2), oldest first: the firing ones it notifies (active), and
    with `suppressed` also those silenced or inhibited."""
    try:
        found = json.loads(read_alertmanager(settings, "/api/v2/alerts", timeout=10))
    except (urllib.error.URLError, OSError) as exc:
        raise PlatformError(f"Alertmanager at {settings.alertmanager_url} did not answer ({exc}); "
                            "`credit-platform up` starts it") from None
    found = [a for a in found if suppressed or a["status"]["state"] == "active"]
    return sorted(found, key=lambda a: (a["startsAt"], a["labels"].get("alertname", "")))


def format_alerts(found: list[dict]) -> str:
    if not found:
        return "no alert is firing"
    lines = [f"{'since (UTC)':<20} {'severity':<9} {'alert':<28} {'state':<10} labels / summary"]
    for alert in found:
        labels = dict(alert["labels"])
        name, severity = labels.pop("alertname", "?"), labels.pop("severity", "-")
        detail = " ".join(f"{k}={v}" for k, v in sorted(labels.items()))
        summary = alert.get("annotations", {}).get("summary", "")
        lines.append(f"{alert['startsAt'][:19].replace('T', ' '):<20} {severity:<9} {name:<28} "
                     f"{alert['status']['state']:<10} {detail + '  ' if detail else ''}{summary}")
    return "\n".join(lines)
