"""A local attacker's view of the running platform: no secret in a file others can read, no secret
handed to a process that logs its environment, no remote shutdown of Prometheus, and Kafka and the
MongoDB protocol (see test_mongo) refuse whoever cannot say who they are."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SKIP_SUFFIXES = (".parquet", ".jar", ".so", ".db", ".sqlite")


def _secrets(platform) -> dict[str, str]:
    found = {name: value for name, value in platform.secrets.items() if len(value) >= 8}
    if platform.airflow_passwords_file.exists():
        for user, password in json.loads(platform.airflow_passwords_file.read_text()).items():
            found[f"airflow admin password ({user})"] = password
    return found


def _files(root):  # noqa: ANN001, ANN202
    for path in root.rglob("*"):
        try:
            if path.is_symlink() or not path.is_file() or path.suffix in SKIP_SUFFIXES:
                continue
            if path.stat().st_size <= 4 << 20:
                yield path
        except OSError:  # a file a service removed while we walked
            continue


def test_no_secret_in_a_file_others_can_read(platform):
    secrets = _secrets(platform)
    assert "airflow admin password (admin)" in secrets  # the api-server has written it
    leaks = []
    for path in _files(platform.home):
        if not path.stat().st_mode & stat.S_IROTH:
            continue
        data = path.read_bytes()
        leaks += [f"{path}: {name}" for name, value in secrets.items() if value.encode() in data]
    assert leaks == []
    for private in (platform.secrets_file, platform.airflow_passwords_file):
        assert stat.S_IMODE(private.stat().st_mode) & 0o077 == 0, private
    # the logs directory: others may pass through (to a server's own log dir) but list or read nothing
    assert stat.S_IMODE(platform.logs_dir.stat().st_mode) & 0o066 == 0


def test_flink_processes_and_their_logs_carry_no_secret(platform):
    """Flink's client logs its environment; a job submitted from an Airflow task used to carry the
    task's connections and keys into it."""
    secrets = _secrets(platform)
    logs = [p for p in _files(platform.logs_dir) if p.name.startswith("flink") or "flink" in p.parts]
    assert logs
    leaks = [f"{p}: {name}" for p in logs for name, value in secrets.items() if value.encode() in p.read_bytes()]
    assert leaks == []


@pytest.mark.skipif(os.geteuid() != 0, reason="started by a user, every process runs as that user")
def test_flink_and_spark_run_as_users_of_their_own_that_cannot_read_the_secrets(platform):
    """Started by root, Flink's processes run as credit-flink and the Spark job as credit-spark: neither
    can open the secrets file or another service's state; the Spark job holds its three secrets only."""
    import subprocess

    from credit_platform.batch import spark_submit
    from credit_platform.contracts.names import OS_USER_FLINK, OS_USER_SPARK
    from credit_platform.errors import as_user
    from credit_platform.ingest import landing
    from credit_platform.platform import process

    from .conftest import cli

    status = {row["name"]: row for row in json.loads(cli("status", "--json").stdout)["services"]}
    flink_uid = pwd.getpwnam(OS_USER_FLINK).pw_uid
    for name in ("flink-jobmanager", "flink-taskmanager"):
        pids = process.process_tree(status[name]["pid"])
        uids = {int(Path(f"/proc/{pid}/status").read_text().split("Uid:")[1].split()[0]) for pid in pids}
        assert uids == {flink_uid}, (name, uids)
    assert spark_submit.job_user(platform) == OS_USER_SPARK
    # the Spark user may read the landing; nobody else gets anything there, also what is landed later
    root = landing.landing_root(platform)
    (root / "probe").mkdir(exist_ok=True)
    (root / "probe" / "landed.txt").write_text("x")
    for path in [root, *root.rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) & 0o007 == 0, path
    read = subprocess.run(["cat", str(root / "probe" / "landed.txt")], capture_output=True, text=True,
                          **as_user(OS_USER_SPARK))
    assert read.returncode == 0 and read.stdout == "x"
    shutil.rmtree(root / "probe")
    for user in (OS_USER_FLINK, OS_USER_SPARK):
        for path in (platform.secrets_file, platform.service_dir("postgres") / "data" / "PG_VERSION",
                     platform.airflow_passwords_file):
            read = subprocess.run(["cat", str(path)], capture_output=True, text=True, **as_user(user))
            assert read.returncode != 0 and "Permission denied" in read.stderr, (user, path)
    env = spark_submit.spark_env(platform, "risk_scoring")
    secret = {v for v in platform.secrets.values()}
    assert {k for k, v in env.items() if v in secret} == {"CP_ETL_WRITER_PASSWORD", "CP_MONGO_APP_PASSWORD",
                                                          "CP_PUSHGATEWAY_PASSWORD"}
    assert not [k for k in env if k.startswith("AIRFLOW")]


def test_prometheus_cannot_be_shut_down_or_reloaded_remotely(platform):
    for action in ("quit", "reload"):
        request = urllib.request.Request(f"{platform.prometheus_url}/-/{action}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=5)
        assert info.value.code == 403


def _options(platform, user: str | None, password: str | None = None) -> dict:  # noqa: ANN001
    """Kafka options as `user` (None: anonymous), built here so no password shows in a failure's report."""
    if user is None:
        return {"bootstrap_servers": platform.kafka_bootstrap}
    options = platform.kafka(user)
    return {**options, "sasl_plain_password": password} if password else options


def _send(platform, user: str | None, topic: str, password: str | None = None) -> str:  # noqa: ANN001
    from kafka import KafkaProducer

    options = _options(platform, user, password)
    try:
        producer = KafkaProducer(**options, acks="all", max_block_ms=8000, request_timeout_ms=5000)
        try:
            producer.send(topic, b'{"probe": true}').get(timeout=10)
        finally:
            producer.close(timeout=5)
        return "allowed"
    except Exception as exc:  # noqa: BLE001 - any refusal (authentication, authorization, timeout)
        return type(exc).__name__


def _read(platform, user: str, topic: str, group: str) -> str:  # noqa: ANN001
    from kafka import KafkaConsumer

    options = _options(platform, user)
    try:
        consumer = KafkaConsumer(**options, group_id=group, auto_offset_reset="latest", consumer_timeout_ms=3000,
                                 enable_auto_commit=False, request_timeout_ms=6000)
        try:
            consumer.subscribe([topic])
            list(consumer)
        finally:
            consumer.close(autocommit=False)
        return "allowed"
    except Exception as exc:  # noqa: BLE001
        return type(exc).__name__


def test_kafka_asks_who_you_are_and_lets_each_user_do_its_part_only(platform):
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    from credit_platform.contracts.names import (
        APPLICATIONS_TOPIC,
        FRAUD_GROUP,
        KAFKA_ADMIN,
        KAFKA_LANDER,
        KAFKA_MONITOR,
        KAFKA_PRODUCER,
        KAFKA_STREAM,
        LANDING_GROUP,
        dlq_topic,
    )

    topic = f"{APPLICATIONS_TOPIC}.test-security"  # the input family, away from the real topic
    admin = KafkaAdminClient(**platform.kafka(KAFKA_ADMIN))
    if topic not in admin.list_topics():
        admin.create_topics([NewTopic(topic, 1, 1)])
    admin.close()
    assert _send(platform, None, topic) != "allowed"
    assert _send(platform, KAFKA_PRODUCER, topic, password="guessed") != "allowed"
    # each user does its own part
    assert _send(platform, KAFKA_PRODUCER, topic) == "allowed"
    assert _read(platform, KAFKA_STREAM, topic, f"{FRAUD_GROUP}-security-probe") == "allowed"
    assert _send(platform, KAFKA_LANDER, dlq_topic(APPLICATIONS_TOPIC)) == "allowed"
    # ... and nothing else
    assert _read(platform, KAFKA_PRODUCER, topic, FRAUD_GROUP) != "allowed"
    assert _send(platform, KAFKA_STREAM, topic) != "allowed"
    assert _read(platform, KAFKA_STREAM, topic, LANDING_GROUP) != "allowed"
    assert _send(platform, KAFKA_LANDER, topic) != "allowed"
    assert _send(platform, KAFKA_MONITOR, topic) != "allowed"
    assert _read(platform, KAFKA_MONITOR, topic, FRAUD_GROUP) != "allowed"


def test_the_pushgateway_asks_who_pushes_and_who_reads(platform):
    """One fake push once silenced an alert (a fresh `risk_scoring_last_success_timestamp_seconds`):
    without the password nobody pushes, deletes or reads; Prometheus and Flink's reporter log in."""
    from credit_platform.metrics import read_pushgateway

    fake = b"risk_scoring_last_success_timestamp_seconds 4102444800\n"
    for method, path, body in (("PUT", "/metrics/job/risk_scoring", fake),
                               ("DELETE", "/metrics/job/risk_scoring", None),
                               ("GET", "/metrics", None), ("PUT", "/api/v1/admin/wipe", None)):
        request = urllib.request.Request(f"{platform.pushgateway_url}{path}", data=body, method=method)
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=5)
        assert info.value.code == 401, (method, path)
    pushed = read_pushgateway(platform)
    assert "4102444800" not in pushed
    assert "flink_jobmanager_numRegisteredTaskManagers" in pushed  # Flink's reporter got in
    with urllib.request.urlopen(f"{platform.prometheus_url}/api/v1/targets?state=active", timeout=10) as response:
        targets = json.loads(response.read())["data"]["activeTargets"]
    assert {t["health"] for t in targets if t["labels"]["job"] == "pushgateway"} == {"up"}


def _listening(pids: set[int]) -> list[tuple[int, str]]:
    """(pid, local address) of every TCP socket these processes listen on, from /proc."""
    import ipaddress
    import os

    inodes: dict[str, int] = {}
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes[target[8:-1]] = pid
        except OSError:
            continue
    found = []
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        for line in open(table).read().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A: LISTEN
                continue
            address, port = fields[1].split(":")
            raw = bytes.fromhex(address)
            # /proc prints each 32-bit word in host (little-endian) order
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, width, 4))
            ip = ipaddress.ip_address(raw)
            found.append((inodes[fields[9]], f"{ip}:{int(port, 16)}"))
    return found


def _is_loopback(address: str) -> bool:
    import ipaddress

    ip = ipaddress.ip_address(address.rsplit(":", 1)[0])
    return ip.is_loopback or (ip.version == 6 and ip.ipv4_mapped is not None and ip.ipv4_mapped.is_loopback)


@pytest.mark.parametrize("fraud_run", [(2_000, 12)], indirect=True)
def test_nothing_of_the_platform_listens_beyond_the_loopback(platform, fraud_run):
    """Every process of every service, with a Python fraud job running (PyFlink's Beam gRPC servers
    in the TaskManager and its Python worker exist only then)."""
    from credit_platform.platform import process

    from .conftest import cli

    fraud_run.submit()
    fraud_run.produce(slice(0, 200))
    assert process.wait_until(lambda: fraud_run.alerts.count_documents({}) > 0 or fraud_run.checkpoints_completed() > 2,
                              timeout=120)
    status = json.loads(cli("status", "--json").stdout)
    pids = {p for row in status["services"] if row["pid"] for p in process.process_tree(row["pid"])}
    listening = _listening(pids)
    assert len(listening) >= 10  # the services' own ports at least
    assert [(pid, address) for pid, address in listening if not _is_loopback(address)] == []
