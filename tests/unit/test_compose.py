"""docker-compose.yml validated without a Docker engine: `docker-compose config` (Debian's package,
installed by `make setup`) parses, interpolates and schema-checks it; the checks below hold the
deployment to what the platform promises (secrets only from .env, healthchecks, limits, loopback
ports, the same code and services as the embedded default)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from credit_platform.config import REPO_ROOT, SECRET_NAMES
from credit_platform.platform.services import SERVICE_CLASSES
from credit_platform.platform.setup import SETUP_STEPS

COMPOSE = REPO_ROOT / "docker-compose.yml"
SECRETS = ("CP_POSTGRES_PASSWORD", "CP_ETL_WRITER_PASSWORD", "CP_BI_READER_PASSWORD", "CP_AIRFLOW_DB_PASSWORD",
           "CP_AIRFLOW_FERNET_KEY", "CP_AIRFLOW_JWT_SECRET", "CP_AIRFLOW_API_SECRET_KEY", "CP_MONGO_PASSWORD",
           "CP_MONGO_APP_PASSWORD", "CP_GRAFANA_ADMIN_PASSWORD", "CP_SUPERSET_DB_PASSWORD", "CP_SUPERSET_SECRET_KEY",
           "CP_SUPERSET_ADMIN_PASSWORD")
ONESHOT = {"migrate", "superset-dashboards"}


def compose_config(env_file: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose (Debian's package) is missing; `make setup` installs it"
    # a clean environment: only the env file may supply values, as on a deployment host
    return subprocess.run([binary, "-f", str(COMPOSE), "--project-directory", str(REPO_ROOT),
                           "--env-file", str(env_file), "config"],
                          capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"})


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict:
    env_file = tmp_path_factory.mktemp("compose") / ".env"
    env_file.write_text("".join(f"{name}=secret-{i}-value\n" for i, name in enumerate(SECRETS)))
    result = compose_config(env_file)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_file_validates_with_every_service(resolved: dict) -> None:
    want = {"postgres", "kafka", "mongo", "migrate", "flink-jobmanager", "flink-taskmanager", "spark-master",
            "spark-worker", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor",
            "airflow-triggerer", "prometheus", "alertmanager", "grafana", "pushgateway", "statsd-exporter",
            "lag-exporter"}
    assert want <= set(resolved["services"])


def test_a_missing_secret_stops_compose_with_its_name(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{name}=x\n" for name in SECRETS if name != "CP_BI_READER_PASSWORD"))
    result = compose_config(env_file)
    assert result.returncode != 0
    assert "set CP_BI_READER_PASSWORD in .env" in result.stderr


def test_no_secret_is_written_in_the_compose_file() -> None:
    text = COMPOSE.read_text()
    keys = 0
    for line in text.splitlines():
        match = re.match(r"\s*([A-Z_]*(?:PASSWORD|SECRET|FERNET_KEY)[A-Z_]*):\s*(.+)$", line)
        if match:
            keys += 1
            assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", match.group(2)), f"secret not from .env: {line.strip()}"
    assert keys >= 10
    # and the one URI that carries a password takes it from .env too
    assert "credit_app:${CP_MONGO_APP_PASSWORD:?" in text


def test_every_server_has_a_healthcheck_limits_and_restart_policy(resolved: dict) -> None:
    for name, service in resolved["services"].items():
        limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
        assert limits.get("cpus") and limits.get("memory"), f"{name} has no cpu/memory limits"
        if name in ONESHOT:
            continue
        assert "test" in service.get("healthcheck", {}), f"{name} has no healthcheck"
        assert service.get("restart") == "unless-stopped", name


def test_published_ports_bind_the_loopback_by_default(resolved: dict) -> None:
    for name, service in resolved["services"].items():
        for port in service.get("ports", []):
            text = port if isinstance(port, str) else f"{port.get('host_ip')}:{port.get('published')}"
            assert text.startswith("127.0.0.1:"), f"{name} publishes {port} beyond the loopback"


def test_state_lives_in_named_volumes_and_mounts_come_from_the_repository(resolved: dict) -> None:
    named = set(resolved["volumes"])
    for name, service in resolved["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume["source"]
            if source.startswith("/"):
                assert Path(source).exists() and Path(source).is_relative_to(REPO_ROOT), (name, source)
                assert volume.endswith(":ro") if isinstance(volume, str) else volume.get("read_only"), \
                    f"{name}: repository files are mounted read-only"
            else:
                assert source in named, f"{name} uses undeclared volume {source}"


def test_platform_containers_run_the_embedded_defaults_services_from_one_image(resolved: dict) -> None:
    known = {cls.name for cls in SERVICE_CLASSES}
    images = set()
    for name, service in resolved["services"].items():
        if "build" not in service:
            continue
        images.add(service["image"])
        dockerfile = Path(service["build"]["context"]) / service["build"]["dockerfile"]
        assert dockerfile.exists(), dockerfile
        command = service["command"]
        if command[:2] == ["credit-platform", "serve"]:
            assert command[2] in known, f"{name} serves unknown service {command[2]}"
        test = service.get("healthcheck", {}).get("test", [])
        if test[1:3] == ["credit-platform", "health"]:
            assert test[3] in known, f"{name}'s healthcheck names unknown service {test[3]}"
    assert len(images) == 1, images


def test_platform_environment_names_are_read_by_the_code(resolved: dict) -> None:
    sources = "\n".join(p.read_text() for p in (REPO_ROOT / "src").rglob("*.py"))
    env = resolved["services"]["airflow-scheduler"]["environment"]
    for name in env:
        if name.startswith("AIRFLOW__") or name == "SPARK_LOCAL_HOSTNAME":
            continue  # Airflow's own options (passed through by runtime.services.airflow_env), Spark's own
        generated = name.startswith("CP_") and name[3:].lower() in SECRET_NAMES  # Settings.secrets
        assert f'"{name}"' in sources or generated, \
            f"{name} is set by docker-compose.yml but read nowhere in src/"


def test_dockerfile_setup_steps_exist() -> None:
    text = (REPO_ROOT / "docker" / "platform" / "Dockerfile").read_text()
    steps = re.search(r"credit-platform setup --only ([\w -]+)", text).group(1).split()
    assert steps and set(steps) <= set(SETUP_STEPS)


def test_prometheus_compose_targets_name_compose_services(resolved: dict) -> None:
    import json

    prometheus = yaml.safe_load((REPO_ROOT / "monitoring" / "prometheus.yml").read_text())
    files = {f for job in prometheus["scrape_configs"] + prometheus["alerting"]["alertmanagers"]
             for sd in job.get("file_sd_configs", []) for f in sd["files"]}
    assert "targets/alertmanager.json" in files
    hosts = set(resolved["services"]) | {"localhost"}
    for name in files:
        path = REPO_ROOT / "monitoring" / "targets" / "compose" / Path(name).name
        assert path.exists(), f"{path} missing: Prometheus in compose would scrape nothing for it"
        for group in json.loads(path.read_text()):
            for target in group["targets"]:
                assert target.split(":")[0] in hosts, f"{path.name}: {target} is no compose service"


# --- the environment a container gets turns the embedded defaults into the deployment's --------
def test_flink_properties_and_runtime_dir_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from credit_platform.config import Settings
    from credit_platform.stream.flink_config import prepare_flink

    monkeypatch.setenv("CP_FLINK_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("CP_FLINK_PROPERTIES", "jobmanager.rpc.address: flink-jobmanager\ntaskmanager.host: tm-1\n")
    settings = Settings(home=tmp_path / "home")
    prepare_flink(settings)
    conf = yaml.safe_load((tmp_path / "runtime" / "conf" / "config.yaml").read_text())
    assert conf["jobmanager"]["rpc"]["address"] == "flink-jobmanager"
    assert conf["taskmanager"]["host"] == "tm-1"
    # checkpoints stay in the shared state dir, where the submitter looks for the latest one
    assert conf["execution"]["checkpointing"]["dir"] == f"file://{settings.home / 'flink' / 'checkpoints'}"
    assert not (settings.home / "flink" / "conf").exists()

    monkeypatch.setenv("CP_FLINK_PROPERTIES", "- not a mapping")
    with pytest.raises(Exception, match="CP_FLINK_PROPERTIES"):
        prepare_flink(settings)


def test_deployment_hosts_and_airflow_options_from_the_environment(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from credit_platform.config import Settings
    from credit_platform.platform.services.airflow import airflow_env

    monkeypatch.setenv("CP_POSTGRES_HOST", "postgres")
    monkeypatch.setenv("CP_AIRFLOW_URL", "http://airflow-api-server:8080")
    monkeypatch.setenv("CP_STATSD_HOST", "statsd-exporter")
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://localhost:8080")
    settings = Settings(home=tmp_path)
    port = settings.ports["postgres"]
    assert f"@postgres:{port}/credit" in settings.postgres_uri()
    env = airflow_env(settings)
    assert env["AIRFLOW__API__BASE_URL"] == "http://localhost:8080"  # the deployment's own wins
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-api-server:8080/execution/"
    assert env["AIRFLOW__METRICS__STATSD_HOST"] == "statsd-exporter"
    assert f"@postgres:{port}/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]


def test_env_example_documents_every_variable_compose_reads() -> None:
    used = set(re.findall(r"\$\{([A-Z_]+)", COMPOSE.read_text()))
    documented = set(re.findall(r"^#?\s*([A-Z_]+)=", (REPO_ROOT / ".env.example").read_text(), re.M))
    assert used - documented == set()
    assert set(SECRETS) <= used
