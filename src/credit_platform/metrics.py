"""Pushing a batch job's metrics to the Pushgateway, where Prometheus scrapes them, as the platform's
Pushgateway user. A job never fails because monitoring is down: a failed push is logged and the job
goes on."""

from __future__ import annotations

import base64
import logging
import urllib.request

from credit_platform.config import Settings

log = logging.getLogger(__name__)


def _authorization(settings: Settings) -> dict[str, str]:
    credentials = settings.pushgateway_credentials
    if credentials is None:
        return {}
    token = base64.b64encode(":".join(credentials).encode()).decode()
    return {"Authorization": f"Basic {token}"}


def push(settings: Settings, job: str, registry, grouping_key: dict[str, str] | None = None) -> bool:  # noqa: ANN001
    from prometheus_client import push_to_gateway
    from prometheus_client.exposition import basic_auth_handler, default_handler

    credentials = settings.pushgateway_credentials

    def handler(url, method, timeout, headers, data):  # noqa: ANN001, ANN202
        if credentials is None:
            return default_handler(url, method, timeout, headers, data)
        return basic_auth_handler(url, method, timeout, headers, data, *credentials)

    try:
        push_to_gateway(settings.pushgateway_url.removeprefix("http://"), job=job, registry=registry,
                        grouping_key=grouping_key or {}, timeout=5, handler=handler)
        return True
    except OSError as exc:
        log.warning("could not push %s metrics to %s: %s", job, settings.pushgateway_url, exc)
        return False


def read_pushgateway(settings: Settings, path: str = "/metrics", timeout: float = 5) -> str:
    """GET a Pushgateway page as the platform's user (health checks, tests)."""
    request = urllib.request.Request(f"{settings.pushgateway_url}{path}", headers=_authorization(settings))
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (configured URL)
        return response.read().decode()
