"""Kafka 4 in KRaft mode: one combined broker and controller from the Maven Central jars."""

from __future__ import annotations

from pathlib import Path

from credit_platform.config import KAFKA_SECRET
from credit_platform.contracts.names import KAFKA_ADMIN
from credit_platform.errors import PlatformError, run_checked
from credit_platform.platform.process import private_file
from credit_platform.platform.services.base import Launch, Service

# ---------------------------------------------------------------------------------------------
# Kafka (KRaft, one combined broker + controller)
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
    name = "kafka"
    ports = ("kafka", "kafka_controller")
    start_timeout = 90.0

    @property
    def root(self) -> Path:
        return self.settings.service_dir("kafka")

    def uri(self) -> str:
        return f"kafka://{self.settings.kafka_bootstrap}"

    def _classpath(self) -> str:
        jars = self.settings.jars_dir / "kafka"
        if not any(jars.glob("kafka_2.13-*.jar")):
            raise PlatformError(f"Kafka broker jars missing in {jars}; run `make setup`")
        return f"{jars}/*"

    def prepare(self) -> None:
        s = self.settings
        self.root.mkdir(parents=True, exist_ok=True)
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{s.host}:{s.ports['kafka_controller']}",
            "listeners": f"SASL_PLAINTEXT://{s.host}:{s.ports['kafka']},CONTROLLER://{s.host}:{s.ports['kafka_controller']}",
            "advertised.listeners": f"SASL_PLAINTEXT://{s.host}:{s.ports['kafka']}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "SASL_PLAINTEXT",
            **self._security(),
            "log.dirs": str(self.root / "data"),
            "num.partitions": str(s.kafka_partitions),
            # unknown topics are refused, never silently created
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "log.retention.hours": "168",
            "num.io.threads": "2",
            "num.network.threads": "2",
        }
        # it holds the admin password: readable by its owner only
        private_file(self.root / "server.properties").write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.root / "log4j2.properties").write_text(LOG4J2_CONSOLE)
        if not (self.root / "data" / "meta.properties").exists():
            cluster_id_file = self.root / "cluster.id"
            if not cluster_id_file.exists():
                import base64
                import uuid

                cluster_id_file.write_text(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))
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

    def healthy(self) -> bool:
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(**self.settings.kafka(KAFKA_ADMIN), request_timeout_ms=3000,
                                 client_id="credit-platform-health")
        try:
            admin.list_topics()
            return True
        finally:
            admin.close()

    def after_start(self) -> None:
        from credit_platform.platform import migrate

        migrate.ensure_kafka_topics(self.settings)
        migrate.ensure_kafka_users(self.settings)


