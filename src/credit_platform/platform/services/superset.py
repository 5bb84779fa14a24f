"""Apache Superset, the business dashboards: its metadata in the platform's PostgreSQL, login required,
run by gunicorn from its own virtualenv (`make setup` builds it from deps/superset/requirements.txt).

`superset-init` migrates the metadata database, syncs roles and sets the admin login (skipped when
nothing it depends on changed since the last time); `superset` serves the UI and, once up, imports
the dashboards of `dashboards/superset/` (idempotent, by UUID).
"""

from __future__ import annotations

import hashlib
import time

from credit_platform.config import REPO_ROOT, Settings, environment_without_secrets
from credit_platform.contracts.names import ROLE_SUPERSET, SUPERSET_ADMIN, SUPERSET_DB
from credit_platform.errors import PlatformError, run_checked
from credit_platform.platform.services.base import Launch, Service

SUPERSET_DEPS = REPO_ROOT / "deps" / "superset"
CONFIG_FILE = SUPERSET_DEPS / "superset_config.py"


def superset_env(settings: Settings) -> dict[str, str]:
    """What Superset's processes get: no other service's secrets, only its own key, metadata URI and
    (for the admin step) its admin password."""
    s = settings
    venv_bin = s.superset_venv / "bin"
    env = environment_without_secrets()
    env.update({
        "PATH": f"{venv_bin}:{env.get('PATH', '')}",
        "VIRTUAL_ENV": str(s.superset_venv),
        "PYTHONPATH": "",
        "FLASK_APP": "superset",
        "SUPERSET_HOME": str(s.service_dir("superset")),
        "SUPERSET_CONFIG_PATH": str(CONFIG_FILE),
        "SUPERSET_SECRET_KEY": s.secrets["superset_secret_key"],
        "SUPERSET_DATABASE_URI": s.postgres_uri(ROLE_SUPERSET, SUPERSET_DB).replace(
            "postgresql://", "postgresql+psycopg2://", 1),
    })
    return env


def _require_venv(settings: Settings) -> None:
    if not (settings.superset_venv / "bin" / "gunicorn").exists():
        raise PlatformError(f"Superset is not installed in {settings.superset_venv}; run `make setup`")


class SupersetInit(Service):
    """`superset db upgrade`, `superset init` and the admin login, when any of their inputs changed."""

    name = "superset-init"
    requires = ("postgres",)
    oneshot = True

    def uri(self) -> str:
        return self.settings.superset_url

    @property
    def stamp(self):  # noqa: ANN201
        return self.settings.service_dir("superset") / ".initialized"

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for path in sorted(SUPERSET_DEPS.iterdir()):
            if path.is_file():
                digest.update(path.read_bytes())
        digest.update(self.settings.secrets["superset_admin_password"].encode())
        digest.update(self.settings.secrets["superset_db_password"].encode())
        return digest.hexdigest()

    def start(self) -> str:
        _require_venv(self.settings)
        want = self.fingerprint()
        if self.stamp.exists() and self.stamp.read_text().strip() == want:
            return "up to date"
        self.stamp.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        env = superset_env(self.settings)
        binary = str(self.settings.superset_venv / "bin" / "superset")
        for step in (["db", "upgrade"], ["init"]):
            run_checked([binary, *step], step=f"superset: {' '.join(step)}", env=env, log_path=self.log_path,
                        cwd=self.stamp.parent, timeout=900, private=True)
        run_checked([str(self.settings.superset_venv / "bin" / "python"), str(SUPERSET_DEPS / "ensure_admin.py")],
                    step="superset: admin login", log_path=self.log_path, cwd=self.stamp.parent, timeout=300,
                    private=True, env={**env, "SUPERSET_ADMIN_USER": SUPERSET_ADMIN,
                                       "SUPERSET_ADMIN_PASSWORD": self.settings.secrets["superset_admin_password"]})
        self.stamp.write_text(want + "\n")
        return f"initialized in {time.monotonic() - started:.0f}s"

    def stop(self) -> str:
        return "nothing to stop"

    def state(self) -> str:
        return "done"


class Superset(Service):
    name = "superset"
    requires = ("superset-init",)
    ports = ("superset",)
    start_timeout = 180.0

    def uri(self) -> str:
        return self.settings.superset_url

    def launch(self) -> Launch:
        _require_venv(self.settings)
        s = self.settings
        return Launch(argv=[
            str(s.superset_venv / "bin" / "gunicorn"), "--bind", f"{s.host}:{s.ports['superset']}",
            # one worker, a few threads: two cores are shared with every other service
            "--workers", "1", "--worker-class", "gthread", "--threads", "4", "--timeout", "120",
            "--limit-request-line", "0", "--limit-request-field_size", "0",
            "--no-control-socket",  # gunicorn's control socket is one path in $HOME for every instance
            "superset.app:create_app()",
        ], env=superset_env(s), cwd=s.service_dir("superset"))

    def healthy(self) -> bool:
        import urllib.request

        with urllib.request.urlopen(f"{self.settings.superset_url}/health", timeout=3) as response:
            return response.read().strip() == b"OK"

    def after_start(self) -> None:
        from credit_platform.platform import superset

        superset.import_dashboards(self.settings)
