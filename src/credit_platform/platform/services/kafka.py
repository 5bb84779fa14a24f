"""Kafka 4 in KRaft mode from the Maven Central jars: one combined broker and controller, or three of
them in the cluster topology (replication factor 3, min.insync.replicas 2)."""

from __future__ import annotations

import os
from pathlib import Path

from credit_platform.config import KAFKA_SECRET
from credit_platform.contracts.names import KAFKA_ADMIN
from credit_platform.errors import PlatformError, run_checked
from credit_platform.platform.process import private_file, wait_until
from credit_platform.platform.services.base import Launch, Service

# ---------------------------------------------------------------------------------------------
# Kafka (KRaft, each node a combined broker + controller)
# ---------------------------------------------------------------------------------------------
LOG4J2_CONSOLE = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


class Kafka(Service):
    """Kafka node 1: the only one in the single topology (`kafka`), the first of three in the cluster
    topology (`kafka-1`; what requires `kafka` waits for all three)."""

    name = "kafka"
    group = "kafka"
    node = 1
    ports = ("kafka", "kafka_controller")
    start_timeout = 90.0

    def __init__(self, settings) -> None:  # noqa: ANN001 (Settings)
        super().__init__(settings)
        if settings.cluster:
            self.name = f"kafka-{self.node}"

    @property
    def root(self) -> Path:
        # the cluster's nodes keep their logs apart from the single node's: another cluster id and quorum
        return self.settings.service_dir(self.name)

    @property
    def address(self) -> str:
        host, port, _ = self.settings.kafka_address(self.node)
        return f"{host}:{port}"

    def uri(self) -> str:
        return f"kafka://{self.address}"

    def _classpath(self) -> str:
        jars = self.settings.jars_dir / "kafka"
        if not any(jars.glob("kafka_2.13-*.jar")):
            raise PlatformError(f"Kafka broker jars missing in {jars}; run `make setup`")
        return f"{jars}/*"

    def prepare(self) -> None:
        s = self.settings
        self.root.mkdir(parents=True, exist_ok=True)
        host, port, controller = s.kafka_address(self.node)
        voters = ",".join(f"{n}@{h}:{c}" for n, (h, _, c) in
                          ((n, s.kafka_address(n)) for n in range(1, s.kafka_nodes + 1)))
        replicas, min_isr = str(s.kafka_replication), str(s.kafka_min_insync)
        props = {
            "process.roles": "broker,controller",
            "node.id": str(self.node),
            "controller.quorum.voters": voters,
            "listeners": f"SASL_PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller}",
            "advertised.listeners": f"SASL_PLAINTEXT://{host}:{port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "SASL_PLAINTEXT",
            **self._security(),
            "log.dirs": str(self.root / "data"),
            "num.partitions": str(s.kafka_partitions),
            # unknown topics are refused, never silently created
            "auto.create.topics.enable": "false",
            # every topic on every node, and an acks=all write on 2 of 3 (migrate sets the same on topics)
            "default.replication.factor": replicas,
            "min.insync.replicas": min_isr,
            "offsets.topic.replication.factor": replicas,
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": min_isr,
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": min_isr,
            "group.initial.rebalance.delay.ms": "0",
            "log.retention.hours": "168",
            "num.io.threads": "2",
            "num.network.threads": "2",
        }
        # it holds the admin password: readable by its owner only
        private_file(self.root / "server.properties").write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.root / "log4j2.properties").write_text(LOG4J2_CONSOLE)
        if not (self.root / "data" / "meta.properties").exists():
            # one id for all the nodes of a cluster
            cluster_id_file = self.settings.service_dir("kafka-1" if s.cluster else "kafka") / "cluster.id"
            cluster_id_file.parent.mkdir(parents=True, exist_ok=True)
            if not cluster_id_file.exists():
                import base64
                import uuid

                new = self.root / f"cluster.id.{self.node}"  # the nodes prepare at once: the first link wins
                new.write_text(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))
                try:
                    os.link(new, cluster_id_file)
                except FileExistsError:
                    pass
                new.unlink()
            run_checked(
                # `--cluster-id=` form: a random id may start with "-", which the parser takes for a flag
                [*self._java(), "kafka.tools.StorageTool", "format",
                 f"--cluster-id={cluster_id_file.read_text().strip()}", f"--config={self.root / 'server.properties'}"],
                step="kafka: format storage", log_path=self.log_path, timeout=120, private=True,
            )

    def _security(self) -> dict[str, str]:
        """Every client logs in. The admin (the broker itself, set-up, tests) is a static PLAIN user, so
        it exists before anything is stored; the platform's users are SCRAM users that `migrate` keeps
        (credentials and ACLs), so a state dir from before authentication upgrades in place."""
        password = self.settings.secrets[KAFKA_SECRET[KAFKA_ADMIN]]
        plain = ('org.apache.kafka.common.security.plain.PlainLoginModule required '
                 f'username="{KAFKA_ADMIN}" password="{password}" user_{KAFKA_ADMIN}="{password}";')
        return {
            "listener.security.protocol.map": "SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
            "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256",
            "sasl.mechanism.inter.broker.protocol": "PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": plain,
            "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config":
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config": plain,
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:{KAFKA_ADMIN}",
            "allow.everyone.if.no.acl.found": "false",
        }

    def _java(self) -> list[str]:
        return ["java", "-Xms256m", "-Xmx1g", "-XX:+UseG1GC", "-XX:+ExitOnOutOfMemoryError",
                f"-Dlog4j2.configurationFile={self.root / 'log4j2.properties'}", "-cp", self._classpath()]

    def launch(self) -> Launch:
        return Launch(argv=[*self._java(), "kafka.Kafka", str(self.root / "server.properties")])

    def _admin(self, timeout_ms: int = 3000):  # noqa: ANN202 (a kafka-python KafkaAdminClient)
        """An admin client of this node alone."""
        from kafka import KafkaAdminClient

        return KafkaAdminClient(**{**self.settings.kafka(KAFKA_ADMIN), "bootstrap_servers": self.address},
                                request_timeout_ms=timeout_ms, client_id="credit-platform-health")

    def healthy(self) -> bool:
        admin = self._admin()
        try:
            admin.list_topics()
            return True
        finally:
            admin.close()

    def brokers(self) -> set[int]:
        """The node ids of the brokers in the cluster's metadata, as this node sees them."""
        admin = self._admin()
        try:
            return {b["broker_id"] for b in admin.describe_cluster()["brokers"] if not b.get("is_fenced")}
        finally:
            admin.close()

    def after_start(self) -> None:
        from credit_platform.platform import migrate

        if self.settings.cluster:
            # topics of replication factor 3 need every broker: the nodes start together, each waits for all
            everyone = set(range(1, self.settings.kafka_nodes + 1))
            if not wait_until(lambda: self.brokers() >= everyone, timeout=self.start_timeout):
                raise PlatformError(f"{self.name}: not every one of Kafka nodes {sorted(everyone)} joined the cluster "
                                    "in time; see their logs")
            if self.node != 1:
                return  # node 1 sets up topics and users, once
        migrate.ensure_kafka_topics(self.settings)
        migrate.ensure_kafka_users(self.settings)


class KafkaNode2(Kafka):
    node = 2
    ports = ("kafka_2", "kafka_controller_2")


class KafkaNode3(Kafka):
    node = 3
    ports = ("kafka_3", "kafka_controller_3")


