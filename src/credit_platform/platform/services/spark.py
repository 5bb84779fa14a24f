"""The Spark standalone cluster of the cluster topology: a master and two workers from pyspark's own
distribution, where the nightly jobs run when `SPARK_MASTER` is `spark://…` (the single topology runs
them in the driver, `local[2]`).

Like the jobs, the master and workers run as the Spark system user (`CP_SPARK_OS_USER`, default
credit-spark) when started by root, so executors can read the landing and nothing else. They and
every application authenticate with a shared secret (`spark.authenticate`), kept in the cluster's
`spark-defaults.conf`, readable by that user alone; the workers hand it to their executors in the
environment. Their web UIs listen on the loopback and cannot kill anything."""

from __future__ import annotations

import os

from credit_platform.contracts.names import OS_USER_SPARK
from credit_platform.platform import process
from credit_platform.platform.services.base import Launch, Service, http_json

WORKER_CORES = 1  # two workers of one core each: this host's two cores, one executor each
WORKER_MEMORY = "1536m"
EXECUTOR_MEMORY = "1g"


def spark_conf_dir(settings) -> os.PathLike:  # noqa: ANN001 (Settings)
    """The cluster's conf dir (spark-defaults.conf with the shared secret); spark-submit reads it too."""
    return settings.service_dir("spark-cluster") / "conf"


def cluster_properties(settings) -> dict[str, str]:  # noqa: ANN001 (Settings)
    """What the master, the workers and every application of the cluster agree on."""
    return {
        "spark.authenticate": "true",
        "spark.authenticate.secret": settings.secrets["spark_auth_secret"],  # a name of config.SECRET_NAMES
        # a worker that stops answering is declared dead after 10 s, not 60, and its work goes elsewhere
        "spark.worker.timeout": "10",
        "spark.ui.killEnabled": "false",
        # no REST submission server (port 6066): it would take jobs without the shared secret
        "spark.master.rest.enabled": "false",
        "spark.executor.memory": EXECUTOR_MEMORY,
        "spark.executor.cores": str(WORKER_CORES),
    }


def write_conf(settings, user: str | None) -> None:  # noqa: ANN001 (Settings)
    conf = spark_conf_dir(settings)
    process.private_dir(conf.parent)
    process.private_dir(conf)
    defaults = process.private_file(conf / "spark-defaults.conf")
    defaults.write_text("".join(f"{k} {v}\n" for k, v in cluster_properties(settings).items()))
    process.chown_tree(conf.parent, user)


class _SparkProcess(Service):
    java_class = ""
    start_timeout = 90.0

    @property
    def os_user(self) -> str | None:
        return process.unprivileged_user(os.environ.get("CP_SPARK_OS_USER") or OS_USER_SPARK)

    @property
    def master_ui(self) -> str:
        return f"http://{self.settings.host}:{self.settings.ports['spark_master_ui']}"

    def arguments(self) -> list[str]:
        raise NotImplementedError

    def prepare(self) -> None:
        user = self.os_user
        process.grant_python(user)
        write_conf(self.settings, user)
        work = process.private_dir(self.settings.service_dir(self.name))
        process.chown_tree(work, user)

    def launch(self) -> Launch:
        from credit_platform.batch.spark_submit import spark_home

        work = self.settings.service_dir(self.name)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(work),
            "SPARK_HOME": str(spark_home()),
            "SPARK_CONF_DIR": str(spark_conf_dir(self.settings)),
            "SPARK_LOCAL_IP": self.settings.host,  # RPC, block manager and web UI on this address only
            "SPARK_LOG_DIR": str(work),
            "SPARK_WORKER_DIR": str(work / "work"),
            **({"JAVA_HOME": os.environ["JAVA_HOME"]} if os.environ.get("JAVA_HOME") else {}),
        }
        argv = [str(spark_home() / "bin" / "spark-class"), self.java_class, *self.arguments()]
        return Launch(argv=argv, env=env, cwd=work, user=self.os_user)


class SparkMaster(_SparkProcess):
    name = "spark-master"
    ports = ("spark_master", "spark_master_ui")
    java_class = "org.apache.spark.deploy.master.Master"

    def uri(self) -> str:
        return self.master_ui

    def arguments(self) -> list[str]:
        p = self.settings.ports
        return ["--host", self.settings.host, "--port", str(p["spark_master"]),
                "--webui-port", str(p["spark_master_ui"])]

    def healthy(self) -> bool:
        return http_json(f"{self.master_ui}/json/")["status"] == "ALIVE"

    def workers(self) -> list[dict]:
        return http_json(f"{self.master_ui}/json/")["workers"]


class SparkWorker(_SparkProcess):
    name = "spark-worker"
    group = "spark-worker"
    requires = ("spark-master",)
    ports = ("spark_worker_ui",)
    java_class = "org.apache.spark.deploy.worker.Worker"

    @property
    def ui_port(self) -> int:
        return self.settings.ports[self.ports[0]]

    def uri(self) -> str:
        return f"http://{self.settings.host}:{self.ui_port}"

    def arguments(self) -> list[str]:
        return ["--host", self.settings.host, "--cores", str(WORKER_CORES), "--memory", WORKER_MEMORY,
                "--webui-port", str(self.ui_port), "--work-dir", str(self.settings.service_dir(self.name) / "work"),
                f"spark://{self.settings.host}:{self.settings.ports['spark_master']}"]

    def registered(self) -> dict | None:
        """This worker's row in the master's view, while the master counts it alive."""
        for worker in SparkMaster(self.settings).workers():
            if worker["webuiaddress"].rstrip("/").endswith(f":{self.ui_port}") and worker["state"] == "ALIVE":
                return worker
        return None

    def healthy(self) -> bool:
        return self.registered() is not None


class SparkWorker2(SparkWorker):
    name = "spark-worker-2"
    ports = ("spark_worker_ui_2",)
