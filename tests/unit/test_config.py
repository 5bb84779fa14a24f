import json

import pytest

from credit_platform import config


def test_port_offset_and_override(monkeypatch, tmp_path):
    monkeypatch.setenv("CP_HOME", str(tmp_path))
    monkeypatch.setenv("CP_PORT_OFFSET", "100")
    monkeypatch.setenv("CP_KAFKA_PORT", "29092")
    ports = config.load().ports
    assert ports["postgres"] == 5532
    assert ports["kafka"] == 29092


def test_secrets_generated_once_private_and_overridable(monkeypatch, tmp_path):
    monkeypatch.setenv("CP_HOME", str(tmp_path))
    first = config.load().secrets
    assert (tmp_path / "secrets.json").stat().st_mode & 0o777 == 0o600
    assert config.load().secrets == first
    monkeypatch.setenv("CP_BI_READER_PASSWORD", "from-env")
    assert config.load().secrets["bi_reader_password"] == "from-env"
    monkeypatch.setenv("CP_BI_READER_PASSWORD", "")  # an empty line copied from .env.example
    assert config.load().secrets["bi_reader_password"] == first["bi_reader_password"]
    assert json.loads((tmp_path / "secrets.json").read_text())["bi_reader_password"] == first["bi_reader_password"]


def test_redact_removes_password():
    assert config.redact("postgresql://etl_writer:s3cr%40t@127.0.0.1:5432/credit") == \
        "postgresql://etl_writer@127.0.0.1:5432/credit"
    assert config.redact("mongodb://127.0.0.1:27017/") == "mongodb://127.0.0.1:27017/"


def test_password_is_url_quoted(monkeypatch, tmp_path):
    monkeypatch.setenv("CP_HOME", str(tmp_path))
    monkeypatch.setenv("CP_ETL_WRITER_PASSWORD", "a@b/c")
    assert "a%40b%2Fc@" in config.load().postgres_uri()


def test_relative_home_is_made_absolute(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CP_HOME", "relative-state")
    assert config.load().home == tmp_path / "relative-state"


def test_environment_without_secrets_drops_secrets_and_uris_that_carry_a_password(monkeypatch):
    monkeypatch.setenv("CP_HOME", "/srv/credit")
    monkeypatch.setenv("CP_ETL_WRITER_PASSWORD", "s3cret")
    monkeypatch.setenv("CP_GX_POSTGRES_URL", "postgresql+psycopg2://etl_writer:s3cret@127.0.0.1:5432/credit")
    monkeypatch.setenv("CP_PUBLIC_URL", "http://127.0.0.1:8080/dags")
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_CREDIT", "postgresql://etl_writer:s3cret@127.0.0.1/credit")
    monkeypatch.setenv("CP_ALERT_SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T0/B0/s3cret")  # a key
    env = config.environment_without_secrets()
    assert env["CP_HOME"] == "/srv/credit" and env["CP_PUBLIC_URL"] == "http://127.0.0.1:8080/dags"
    assert not {"CP_ETL_WRITER_PASSWORD", "CP_GX_POSTGRES_URL", "AIRFLOW_CONN_POSTGRES_CREDIT",
                "CP_ALERT_SLACK_WEBHOOK_URL"} & set(env)
    assert not any("s3cret" in v for v in env.values())


def test_kafka_compression_defaults_to_zstd_and_an_unknown_codec_is_refused(monkeypatch, tmp_path):
    import pytest

    from credit_platform.errors import PlatformError
    from credit_platform.ingest.producer import _codec

    monkeypatch.setenv("CP_HOME", str(tmp_path))
    monkeypatch.delenv("CP_KAFKA_COMPRESSION", raising=False)
    assert config.load().kafka_compression == "zstd"
    assert _codec("zstd") == "zstd" and _codec("none") is None
    with pytest.raises(PlatformError, match="CP_KAFKA_COMPRESSION"):
        _codec("lz4")  # kafka-python here has no lz4 codec, nor does Flink's connector


def test_the_cluster_topology_names_every_node_and_replicates_across_them(monkeypatch, tmp_path):
    monkeypatch.setenv("CP_HOME", str(tmp_path))
    monkeypatch.delenv("CP_PORT_OFFSET", raising=False)
    monkeypatch.delenv("CP_TOPOLOGY", raising=False)
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "SPARK_MASTER", "CP_FRAUD_PARALLELISM"):
        monkeypatch.delenv(name, raising=False)
    single = config.load()
    assert single.topology == "single" and single.kafka_bootstrap == "127.0.0.1:9092"
    assert (single.kafka_replication, single.kafka_min_insync, single.fraud_parallelism) == (1, 1, 1)
    assert single.spark_master == "local[2]"

    (tmp_path / config.TOPOLOGY_FILE).write_text("cluster\n")  # what `up --topology cluster` recorded
    cluster = config.load()
    assert cluster.topology == "cluster"
    assert cluster.kafka_bootstrap == "127.0.0.1:9092,127.0.0.1:9192,127.0.0.1:9292"
    assert (cluster.kafka_replication, cluster.kafka_min_insync, cluster.fraud_parallelism) == (3, 2, 2)
    assert cluster.spark_master == "spark://127.0.0.1:7077"
    assert len(set(cluster.ports.values())) == len(cluster.ports)  # no two services share a port

    monkeypatch.setenv("CP_TOPOLOGY", "single")  # the environment wins over the record
    assert config.load().kafka_nodes == 1
    monkeypatch.setenv("CP_TOPOLOGY", "three-nodes")
    with pytest.raises(SystemExit, match="not a topology"):
        config.load().topology  # noqa: B018


def test_the_cluster_topology_starts_each_engines_nodes_and_waits_for_all_of_them(monkeypatch, tmp_path):
    from credit_platform.platform import manager, services

    monkeypatch.setenv("CP_HOME", str(tmp_path))
    monkeypatch.setenv("CP_TOPOLOGY", "cluster")
    found = {s.name: s for s in services.all_services(config.load())}
    assert [n for n in found if n.startswith(("kafka-", "flink-task", "spark"))] == [
        "kafka-1", "kafka-2", "kafka-3", "flink-taskmanager", "flink-taskmanager-2", "spark-master", "spark-worker",
        "spark-worker-2"]
    groups = manager._groups(found)
    assert groups["kafka"] == ["kafka-1", "kafka-2", "kafka-3"]
    # the lag exporter requires `kafka`: all three nodes; a worker requires its master
    assert manager._with_requirements(found, groups, ["lag-exporter"]) == ["kafka-1", "kafka-2", "kafka-3",
                                                                            "lag-exporter"]
    assert manager._with_requirements(found, groups, ["kafka"]) == ["kafka-1", "kafka-2", "kafka-3"]
    assert manager._with_requirements(found, groups, ["spark-worker"]) == [
        "spark-master", "spark-worker", "spark-worker-2"]
    assert groups["flink-taskmanager"] == ["flink-taskmanager", "flink-taskmanager-2"]
    monkeypatch.setenv("CP_TOPOLOGY", "single")
    assert "kafka" in {s.name for s in services.all_services(config.load())}


def test_state_backend_setting_and_one_checkpoint_list_per_backend(monkeypatch, tmp_path):
    from credit_platform.stream import fraud_job

    monkeypatch.setenv("CP_HOME", str(tmp_path))
    monkeypatch.delenv("CP_FLINK_STATE_BACKEND", raising=False)
    settings = config.load()
    assert settings.flink_state_backend == "rocksdb"
    # the job's own arguments win, the last one as in its parser; a dangling flag names nothing
    assert fraud_job._state_backend(settings, ("--state-backend", "hashmap", "--set", "a=b")) == "hashmap"
    assert fraud_job._state_backend(settings, ("--state-backend", "hashmap", "--state-backend", "rocksdb")) == \
        "rocksdb"
    assert fraud_job._state_backend(settings, ("--set", "--state-backend")) == "rocksdb"
    # a retained checkpoint restores only into the backend that wrote it
    heap, rocks = (fraud_job._registry(settings, "j", b) for b in ("hashmap", "rocksdb"))
    assert heap != rocks and heap.parent == rocks.parent
    fraud_job._remember(settings, "j", "hashmap", "a" * 32)
    assert fraud_job._submitted(settings, "j", "hashmap") == ["a" * 32]
    assert fraud_job._submitted(settings, "j", "rocksdb") == []
    monkeypatch.setenv("CP_FLINK_STATE_BACKEND", "hashmap")
    assert config.load().flink_state_backend == "hashmap"
    monkeypatch.setenv("CP_FLINK_STATE_BACKEND", "memory")
    with pytest.raises(SystemExit, match="not a state backend"):
        _ = config.load().flink_state_backend
