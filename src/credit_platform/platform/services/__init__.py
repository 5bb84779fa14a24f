"""The local services of the embedded default, one module per service family over one base.

A service knows how to prepare its state (idempotently), the command that runs it in the
foreground, how to tell it is healthy, what to do once it is up (schema, topics), and how to stop
it without losing data. `credit_platform.platform.manager` starts them in dependency order.
"""

from __future__ import annotations

from credit_platform.config import Settings
from credit_platform.platform.services.airflow import (
    AirflowApiServer,
    AirflowDagProcessor,
    AirflowDatabase,
    AirflowScheduler,
    AirflowTriggerer,
)
from credit_platform.platform.services.base import Service
from credit_platform.platform.services.flink import FlinkJobManager, FlinkTaskManager, FlinkTaskManager2
from credit_platform.platform.services.kafka import Kafka, KafkaNode2, KafkaNode3
from credit_platform.platform.services.mongo import Mongo
from credit_platform.platform.services.monitoring import (
    Alertmanager,
    LagExporter,
    Prometheus,
    Pushgateway,
    StatsdExporter,
)
from credit_platform.platform.services.postgres import Postgres
from credit_platform.platform.services.spark import SparkMaster, SparkWorker, SparkWorker2
from credit_platform.platform.services.superset import Superset, SupersetInit

SERVICE_CLASSES: tuple[type[Service], ...] = (
    Postgres,
    Kafka,
    Mongo,
    Pushgateway,
    LagExporter,
    StatsdExporter,
    FlinkJobManager,
    FlinkTaskManager,
    Alertmanager,
    Prometheus,
    AirflowDatabase,
    AirflowApiServer,
    AirflowScheduler,
    AirflowDagProcessor,
    AirflowTriggerer,
    SupersetInit,
    Superset,
)

# The cluster topology's other nodes, each list started after the service it follows: Kafka nodes 2
# and 3, a second TaskManager, and the Spark standalone cluster the nightly jobs then run on.
CLUSTER_NODES: dict[type[Service], tuple[type[Service], ...]] = {
    Kafka: (KafkaNode2, KafkaNode3),
    FlinkTaskManager: (FlinkTaskManager2, SparkMaster, SparkWorker, SparkWorker2),
}


def service_classes(settings: Settings) -> list[type[Service]]:
    """The services of the settings' topology, in start order."""
    classes: list[type[Service]] = []
    for cls in SERVICE_CLASSES:
        classes += [cls, *(CLUSTER_NODES.get(cls, ()) if settings.cluster else ())]
    return classes


def all_services(settings: Settings) -> list[Service]:
    return [cls(settings) for cls in service_classes(settings)]
