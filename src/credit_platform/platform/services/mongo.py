"""The MongoDB wire protocol: MONGO_URI (a real MongoDB) when set, else FerretDB on the local
PostgreSQL, which authenticates every client."""

from __future__ import annotations

from pathlib import Path

from credit_platform.config import redact
from credit_platform.contracts.names import FERRETDB_DB
from credit_platform.errors import PlatformError
from credit_platform.platform.services.base import Launch, Service


class Mongo(Service):
    name = "mongo"
    start_timeout = 60.0
    requires = ("postgres",)  # FerretDB's storage and its logins

    @property
    def root(self) -> Path:
        return self.settings.service_dir("mongo")

    def external(self) -> bool:
        return self.settings.external_mongo_uri is not None

    @property
    def ports(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("mongo",) if self.external() else ("mongo", "ferretdb_debug")

    def uri(self) -> str:
        return redact(self.settings.mongo_uri)

    def launch(self) -> Launch:
        s = self.settings
        binary = s.bin_dir / "ferretdb"
        if not binary.exists():
            raise PlatformError(f"FerretDB binary missing at {binary}; run `make setup`")
        # PostgreSQL backend without a user in the URL: each client logs in as a PostgreSQL role (the
        # platform's owns schema `credit` only) and anonymous clients are refused. The SQLite backend
        # accepts anyone, or with its experimental auth lets every user into every database.
        return Launch(argv=[
            str(binary), "--handler=pg",
            f"--postgresql-url=postgres://{s.postgres_host}:{s.ports['postgres']}/{FERRETDB_DB}",
            f"--listen-addr={s.host}:{s.ports['mongo']}", f"--debug-addr={s.host}:{s.ports['ferretdb_debug']}",
            f"--state-dir={self.root}", "--telemetry=disable", "--log-level=warn",
        ])

    def healthy(self) -> bool:
        from pymongo import MongoClient

        with MongoClient(self.settings.mongo_uri, serverSelectionTimeoutMS=2000) as client:
            return client.admin.command("ping").get("ok") == 1.0

    def after_start(self) -> None:
        from credit_platform.platform import migrate

        migrate.ensure_mongo_collections(self.settings)


