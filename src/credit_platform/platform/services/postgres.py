"""PostgreSQL from Debian's server binaries, run as an unprivileged OS user (initdb refuses root)."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

from credit_platform.config import redact
from credit_platform.contracts.names import OS_USER_POSTGRES, ROLE_ETL, ROLE_SUPERUSER
from credit_platform.errors import PlatformError, run_checked
from credit_platform.platform import process
from credit_platform.platform.services.base import Launch, Service


# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------
def postgres_bin_dir() -> Path:
    candidates = [os.environ.get("CP_PG_BIN", ""), "/usr/lib/postgresql/15/bin"]
    on_path = shutil.which("postgres")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    raise PlatformError("PostgreSQL 15 server binaries not found (initdb, postgres); run `make setup`")


class Postgres(Service):
    name = "postgres"
    ports = ("postgres",)
    stop_signal = signal.SIGINT  # "fast" shutdown: rolls back clients, checkpoints, exits cleanly

    @property
    def root(self) -> Path:
        return self.settings.service_dir("postgres")

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def os_user(self) -> str | None:
        # initdb and postgres refuse to run as root; run them as an unprivileged system user.
        return process.unprivileged_user(os.environ.get("CP_POSTGRES_OS_USER") or OS_USER_POSTGRES)

    def uri(self) -> str:
        return redact(self.settings.postgres_uri(ROLE_ETL))

    def prepare(self) -> None:
        user = self.os_user
        (self.root / "run").mkdir(parents=True, exist_ok=True)
        if not (self.data_dir / "PG_VERSION").exists():
            pwfile = self.root / "initdb.pw"
            pwfile.write_text(self.settings.secrets["postgres_password"] + "\n")
            pwfile.chmod(0o600)
            process.chown_tree(self.root, user)
            try:
                run_checked(
                    [str(postgres_bin_dir() / "initdb"), "-D", str(self.data_dir), "-U", ROLE_SUPERUSER,
                     f"--pwfile={pwfile}", "--auth-local=scram-sha-256", "--auth-host=scram-sha-256",
                     "--encoding=UTF8", "--locale=C.UTF-8"],
                    step="postgres: initdb", user=user, log_path=self.log_path, timeout=120, private=True,
                )
            finally:
                pwfile.unlink(missing_ok=True)
        process.chown_tree(self.root, user)

    def launch(self) -> Launch:
        s = self.settings
        return Launch(
            argv=[str(postgres_bin_dir() / "postgres"), "-D", str(self.data_dir),
                  "-c", f"listen_addresses={s.host}", "-c", f"port={s.ports['postgres']}",
                  "-c", f"unix_socket_directories={self.root / 'run'}",
                  "-c", "max_connections=200", "-c", "shared_buffers=256MB",
                  # the nightly load writes ~0.5 GB of WAL per million rows: fewer forced checkpoints
                  "-c", "max_wal_size=4GB", "-c", "checkpoint_timeout=15min", "-c", "wal_buffers=32MB",
                  "-c", "wal_compression=lz4", "-c", "maintenance_work_mem=256MB",
                  "-c", "logging_collector=off", "-c", "log_min_messages=warning"],
            user=self.os_user,
        )

    def healthy(self) -> bool:
        import psycopg

        with psycopg.connect(self.settings.postgres_uri(ROLE_SUPERUSER, "postgres"), connect_timeout=2) as conn:
            return conn.execute("select 1").fetchone() == (1,)

    def after_start(self) -> None:
        from credit_platform.platform import migrate

        migrate.apply_warehouse(self.settings)
        migrate.ensure_airflow_database(self.settings)
        migrate.ensure_superset_database(self.settings)
        if self.settings.external_mongo_uri is None:  # the local FerretDB stores its data here
            migrate.ensure_document_store_database(self.settings)


