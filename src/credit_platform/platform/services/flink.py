"""The Flink session cluster (JobManager, TaskManager) from the apache-flink wheel's distribution."""

from __future__ import annotations

from credit_platform.platform.services.base import Launch, Service, http_json
from credit_platform.stream.flink_config import flink_env, prepare_flink, pyflink_home


# ---------------------------------------------------------------------------------------------
# Flink session cluster from the apache-flink wheel's distribution
# ---------------------------------------------------------------------------------------------
class FlinkJobManager(Service):
    name = "flink-jobmanager"
    requires = ("pushgateway",)
    ports = ("flink_rest", "flink_rpc")
    start_timeout = 90.0

    def uri(self) -> str:
        return self.settings.flink_rest_url

    def prepare(self) -> None:
        prepare_flink(self.settings)

    def launch(self) -> Launch:
        return Launch(argv=["bash", str(pyflink_home() / "bin" / "jobmanager.sh"), "start-foreground"],
                      env=flink_env(self.settings))

    def healthy(self) -> bool:
        return "flink-version" in http_json(f"{self.settings.flink_rest_url}/config")


class FlinkTaskManager(Service):
    name = "flink-taskmanager"
    requires = ("flink-jobmanager",)
    start_timeout = 90.0

    def uri(self) -> str:
        return f"{self.settings.flink_rest_url}/#/task-manager"

    def prepare(self) -> None:
        prepare_flink(self.settings)

    def launch(self) -> Launch:
        return Launch(argv=["bash", str(pyflink_home() / "bin" / "taskmanager.sh"), "start-foreground"],
                      env=flink_env(self.settings))

    def healthy(self) -> bool:
        managers = http_json(f"{self.settings.flink_rest_url}/taskmanagers")["taskmanagers"]
        return len(managers) >= 1


