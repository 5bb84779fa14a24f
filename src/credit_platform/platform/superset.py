"""The business dashboards as code: Superset's exported assets in `dashboards/superset/`, imported by
`credit-platform up` and exported back by `credit-platform dashboards export`.

The assets are Superset's own export format (one YAML file per database, dataset, chart and
dashboard, tied together by UUIDs), so an import is idempotent: the same UUIDs are overwritten, not
duplicated. The one database is the warehouse as `bi_reader` (schema `bi`, the views the Power BI
guide uses too); its password is never in the files: the import passes it from the platform's
secrets, and the export's masked URI is written back with the default host.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import yaml

from credit_platform.config import REPO_ROOT, Settings
from credit_platform.contracts.names import ROLE_BI, SUPERSET_ADMIN, WAREHOUSE_DB
from credit_platform.errors import PlatformError

ASSETS_DIR = REPO_ROOT / "dashboards" / "superset"
DATABASE_ASSET = "databases/Credit_warehouse.yaml"
MASKED = "XXXXXXXXXX"  # how Superset writes a password it exports
DEFAULT_HOST = "127.0.0.1:5432"  # the host the committed assets name; each import uses its own


def warehouse_uri(settings: Settings, host: str | None = None) -> str:
    host = host or f"{settings.postgres_host}:{settings.ports['postgres']}"
    return f"postgresql+psycopg2://{ROLE_BI}:{MASKED}@{host}/{WAREHOUSE_DB}"


class SupersetClient:
    """Superset's REST API as the platform's admin (JWT login, then the CSRF token writes need)."""

    def __init__(self, settings: Settings, timeout: float = 60.0) -> None:
        import requests

        self.base = settings.superset_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        response = self.session.post(f"{self.base}/api/v1/security/login", timeout=timeout, json={
            "username": SUPERSET_ADMIN, "password": settings.secrets["superset_admin_password"],
            "provider": "db", "refresh": False})
        if response.status_code != 200:
            raise PlatformError(f"superset: login as {SUPERSET_ADMIN} failed ({response.status_code}): "
                                f"{response.text[:200]}")
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        csrf = self._checked(self.session.get(f"{self.base}/api/v1/security/csrf_token/", timeout=timeout))
        self.session.headers.update({"X-CSRFToken": csrf["result"], "Referer": self.base})

    @staticmethod
    def _checked(response) -> dict:  # noqa: ANN001 (a requests.Response)
        if response.status_code >= 400:
            raise PlatformError(f"superset: {response.request.method} {response.url} answered "
                                f"{response.status_code}: {response.text[:500]}")
        return response.json() if response.content else {}

    def get(self, path: str, **params: object) -> dict:
        return self._checked(self.session.get(f"{self.base}{path}", params=params, timeout=self.timeout))

    def post(self, path: str, body: dict) -> dict:
        return self._checked(self.session.post(f"{self.base}{path}", json=body, timeout=self.timeout))

    def dashboards(self) -> list[dict]:
        return self.get("/api/v1/dashboard/", q="(page_size:100)")["result"]

    def import_bundle(self, bundle: bytes, passwords: dict[str, str]) -> None:
        self._checked(self.session.post(
            f"{self.base}/api/v1/dashboard/import/", timeout=self.timeout,
            files={"formData": ("dashboards.zip", bundle, "application/zip")},
            data={"overwrite": "true", "passwords": json.dumps(passwords)}))

    def export_bundle(self, ids: list[int]) -> bytes:
        response = self.session.get(f"{self.base}/api/v1/dashboard/export/",
                                    params={"q": f"!({','.join(map(str, ids))})"}, timeout=self.timeout)
        if response.status_code != 200:
            raise PlatformError(f"superset: export answered {response.status_code}: {response.text[:300]}")
        return response.content


def asset_files(assets_dir: Path = ASSETS_DIR) -> list[Path]:
    return sorted(p for p in assets_dir.rglob("*.yaml") if p.is_file())


def bundle(settings: Settings, assets_dir: Path = ASSETS_DIR) -> bytes:
    """The assets as the zip Superset imports, the warehouse URI pointing at this instance's host."""
    files = asset_files(assets_dir)
    if not any(p.relative_to(assets_dir).as_posix() == DATABASE_ASSET for p in files):
        raise PlatformError(f"{assets_dir}: {DATABASE_ASSET} is missing")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            name = path.relative_to(assets_dir).as_posix()
            text = path.read_text()
            if name == DATABASE_ASSET:
                config = yaml.safe_load(text)
                config["sqlalchemy_uri"] = warehouse_uri(settings)
                text = yaml.safe_dump(config, sort_keys=False)
            archive.writestr(f"credit_platform_dashboards/{name}", text)
    return out.getvalue()


def import_dashboards(settings: Settings, client: SupersetClient | None = None) -> int:
    """Import (overwrite) every asset; returns the number of dashboards Superset then holds."""
    client = client or SupersetClient(settings)
    client.import_bundle(bundle(settings), {DATABASE_ASSET: settings.secrets["bi_reader_password"]})
    return len(client.dashboards())


def export_dashboards(settings: Settings, assets_dir: Path = ASSETS_DIR) -> list[Path]:
    """Write Superset's current dashboards (and their charts, datasets and database) over the assets:
    what an analyst changed in the UI becomes a reviewable diff."""
    client = SupersetClient(settings)
    ids = [d["id"] for d in client.dashboards()]
    if not ids:
        raise PlatformError("superset: no dashboards to export")
    written: list[Path] = []
    with zipfile.ZipFile(io.BytesIO(client.export_bundle(ids))) as archive:
        for info in archive.infolist():
            name = info.filename.split("/", 1)[1] if "/" in info.filename else info.filename
            name = re.sub(r"_\d+\.yaml$", ".yaml", name)  # Superset appends the instance's row id
            if not name.endswith(".yaml"):
                continue
            text = archive.read(info).decode()
            config = yaml.safe_load(text)
            if name.startswith("databases/"):
                name = DATABASE_ASSET if len([n for n in archive.namelist() if "/databases/" in n]) == 1 else name
                config["sqlalchemy_uri"] = warehouse_uri(settings, DEFAULT_HOST)
            if name == "metadata.yaml":
                config.pop("timestamp", None)  # optional on import; without it an unchanged export is no diff
            target = assets_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
            written.append(target)
    for stale in set(asset_files(assets_dir)) - set(written):
        stale.unlink()
    return written


def load_assets(assets_dir: Path = ASSETS_DIR) -> dict[str, dict[str, dict]]:
    """The assets by kind (databases, datasets, charts, dashboards), each by UUID."""
    assets: dict[str, dict[str, dict]] = {"databases": {}, "datasets": {}, "charts": {}, "dashboards": {}}
    for path in asset_files(assets_dir):
        kind = path.relative_to(assets_dir).parts[0]
        if kind in assets:
            config = yaml.safe_load(path.read_text())
            assets[kind][config["uuid"]] = config
    return assets


def dashboard_charts(assets_dir: Path = ASSETS_DIR) -> dict[str, list[str]]:
    """Each dashboard's slug and the titles of the charts laid out on it."""
    return {dash["slug"]: [item["meta"]["sliceName"] for item in dash["position"].values()
                           if isinstance(item, dict) and item.get("type") == "CHART"]
            for dash in load_assets(assets_dir)["dashboards"].values()}
