"""Pushing a batch job's metrics to the Pushgateway, where Prometheus scrapes them. A job never
fails because monitoring is down: a failed push is logged and the job goes on."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def push(gateway_url: str, job: str, registry, grouping_key: dict[str, str] | None = None) -> bool:  # noqa: ANN001
    from prometheus_client import push_to_gateway

    try:
        push_to_gateway(gateway_url.removeprefix("http://"), job=job, registry=registry,
                        grouping_key=grouping_key or {}, timeout=5)
        return True
    except OSError as exc:
        log.warning("could not push %s metrics to %s: %s", job, gateway_url, exc)
        return False
