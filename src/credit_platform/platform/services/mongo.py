"""The MongoDB wire protocol: MONGO_URI, else a mongod on PATH, else FerretDB (SQLite backend)."""

from __future__ import annotations

import shutil
from pathlib import Path

from credit_platform.errors import PlatformError
from credit_platform.platform.services.base import Launch, Service


# ---------------------------------------------------------------------------------------------
# MongoDB wire protocol: MONGO_URI, else a mongod on PATH, else FerretDB (SQLite backend)
# ---------------------------------------------------------------------------------------------
class Mongo(Service):
    name = "mongo"
    start_timeout = 60.0

    @property
    def root(self) -> Path:
        return self.settings.service_dir("mongo")

    def external(self) -> bool:
        return self.settings.external_mongo_uri is not None

    @property
    def backend(self) -> str:
        if self.external():
            return "external"
        return "mongod" if shutil.which("mongod") else "ferretdb"

    @property
    def ports(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("mongo", "ferretdb_debug") if self.backend == "ferretdb" else ("mongo",)

    def uri(self) -> str:
        return self.settings.mongo_uri

    def launch(self) -> Launch:
        s = self.settings
        data = self.root / "data"
        data.mkdir(parents=True, exist_ok=True)
        if self.backend == "mongod":
            return Launch(argv=["mongod", "--dbpath", str(data), "--bind_ip", s.host,
                                "--port", str(s.ports["mongo"])])
        binary = s.bin_dir / "ferretdb"
        if not binary.exists():
            raise PlatformError(f"FerretDB binary missing at {binary}; run `make setup`")
        return Launch(argv=[
            str(binary), "--handler=sqlite", f"--sqlite-url=file:{data}/",
            f"--listen-addr={s.host}:{s.ports['mongo']}", f"--debug-addr={s.host}:{s.ports['ferretdb_debug']}",
            f"--state-dir={self.root}", "--telemetry=disable", "--log-level=warn",
        ])

    def healthy(self) -> bool:
        from pymongo import MongoClient

        with MongoClient(self.uri(), serverSelectionTimeoutMS=2000) as client:
            return client.admin.command("ping").get("ok") == 1.0

    def after_start(self) -> None:
        from credit_platform.platform import migrate

        migrate.ensure_mongo_collections(self.settings)


