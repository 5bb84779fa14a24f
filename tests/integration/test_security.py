"""A local attacker's view of the running platform: no secret in a file others can read, no secret
handed to a process that logs its environment, no remote shutdown of Prometheus."""

from __future__ import annotations

import json
import stat
import urllib.error
import urllib.request

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
    for private in (platform.secrets_file, platform.airflow_passwords_file, platform.logs_dir):
        assert stat.S_IMODE(private.stat().st_mode) & 0o077 == 0, private


def test_flink_processes_and_their_logs_carry_no_secret(platform):
    """Flink's client logs its environment; a job submitted from an Airflow task used to carry the
    task's connections and keys into it."""
    secrets = _secrets(platform)
    logs = [p for p in _files(platform.logs_dir) if p.name.startswith("flink") or "flink" in p.parts]
    assert logs
    leaks = [f"{p}: {name}" for p in logs for name, value in secrets.items() if value.encode() in p.read_bytes()]
    assert leaks == []


def test_prometheus_cannot_be_shut_down_or_reloaded_remotely(platform):
    for action in ("quit", "reload"):
        request = urllib.request.Request(f"{platform.prometheus_url}/-/{action}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=5)
        assert info.value.code == 403
