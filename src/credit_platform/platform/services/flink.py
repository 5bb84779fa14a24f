"""The Flink session cluster (a JobManager; one TaskManager, or two in the cluster topology) from the
apache-flink wheel's distribution."""

from __future__ import annotations

import os

from credit_platform.contracts.names import OS_USER_FLINK
from credit_platform.platform import process
from credit_platform.platform.services.base import Launch, Service, http_json
from credit_platform.stream.flink_config import flink_env, flink_runtime_dir, prepare_flink, pyflink_home


class _FlinkProcess(Service):
    """A Flink process of the local session cluster: started by root, it runs as its own system user
    (`CP_FLINK_OS_USER`, default credit-flink), which owns the cluster's directory (conf with the
    Pushgateway password, checkpoints, savepoints, Python workers' files) and Flink's own logs, and
    can open nothing else of the platform's: not the secrets file, the landing or the other services'
    state. Jobs reach it with the credentials they are given (the stream's Kafka user, the document
    store's application user).

    Each runs under the keeper (credit_platform.platform.keeper), which starts it again when it ends by
    itself: a TaskManager then offers its slots anew; a JobManager comes back without jobs (no HA), and
    the `fraud_stream_supervisor` DAG (or `fraud-job start`) resubmits the fraud job from its latest
    retained checkpoint."""

    script = ""
    extra_args: tuple[str, ...] = ()
    restart_on_exit = True

    @property
    def os_user(self) -> str | None:
        return process.unprivileged_user(os.environ.get("CP_FLINK_OS_USER") or OS_USER_FLINK)

    def prepare(self) -> None:
        prepare_flink(self.settings)
        user = self.os_user
        for directory in {flink_runtime_dir(self.settings), self.settings.service_dir("flink"),
                          self.settings.logs_dir / "flink"}:
            directory.chmod(0o700)  # checkpoints and the job graphs in them hold the jobs' credentials
            process.chown_tree(directory, user)
        process.grant_python(user)  # the Python workers

    def launch(self) -> Launch:
        env = flink_env(self.settings)
        if self.os_user is not None:
            env["HOME"] = str(flink_runtime_dir(self.settings) / "home")
        return Launch(argv=["bash", str(pyflink_home() / "bin" / self.script), "start-foreground",
                            *self.extra_args], env=env, user=self.os_user)


# ---------------------------------------------------------------------------------------------
# Flink session cluster from the apache-flink wheel's distribution
# ---------------------------------------------------------------------------------------------
class FlinkJobManager(_FlinkProcess):
    name = "flink-jobmanager"
    requires = ("pushgateway",)
    ports = ("flink_rest", "flink_rpc")
    start_timeout = 90.0
    script = "jobmanager.sh"

    def uri(self) -> str:
        return self.settings.flink_rest_url

    def healthy(self) -> bool:
        return "flink-version" in http_json(f"{self.settings.flink_rest_url}/config")


class FlinkTaskManager(_FlinkProcess):
    """A TaskManager, registered under a resource id of its own (`taskmanager-N`), so that its health is
    its own and not another TaskManager's."""

    name = "flink-taskmanager"
    group = "flink-taskmanager"
    requires = ("flink-jobmanager",)
    start_timeout = 90.0
    script = "taskmanager.sh"
    index = 1

    @property
    def resource_id(self) -> str:
        return f"taskmanager-{self.index}"

    @property
    def extra_args(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("-D", f"taskmanager.resource-id={self.resource_id}")

    def uri(self) -> str:
        return f"{self.settings.flink_rest_url}/#/task-manager/{self.resource_id}/metrics"

    def healthy(self) -> bool:
        managers = http_json(f"{self.settings.flink_rest_url}/taskmanagers")["taskmanagers"]
        return any(m["id"] == self.resource_id for m in managers)


class FlinkTaskManager2(FlinkTaskManager):
    """The cluster topology's second TaskManager: the fraud job runs one subtask of each operator on each."""

    name = "flink-taskmanager-2"
    index = 2


