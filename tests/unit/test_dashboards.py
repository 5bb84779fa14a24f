"""The Superset assets in dashboards/superset/ hang together, read the warehouse as bi_reader only,
and hold no password (pure checks on the committed files; the browser test renders them)."""

from __future__ import annotations

import io
import re
import zipfile

import yaml

from credit_platform.config import REPO_ROOT, Settings
from credit_platform.contracts.names import ROLE_BI, WAREHOUSE_DB
from credit_platform.platform import superset

ASSETS = superset.load_assets()
BI_VIEWS = set(re.findall(r"CREATE OR REPLACE VIEW bi\.(\w+)", "".join(
    p.read_text() for p in sorted((REPO_ROOT / "sql").glob("*.sql")))))


def test_one_database_the_warehouse_as_bi_reader_read_only_without_a_password():
    (database,) = ASSETS["databases"].values()
    assert database["sqlalchemy_uri"] == f"postgresql+psycopg2://{ROLE_BI}:{superset.MASKED}@" \
                                         f"{superset.DEFAULT_HOST}/{WAREHOUSE_DB}"
    assert not any(database[key] for key in ("allow_dml", "allow_ctas", "allow_cvas", "allow_file_upload"))
    for path in superset.asset_files():
        assert "password" not in path.read_text().lower() or path.name == "Credit_warehouse.yaml", path


def test_every_dataset_is_a_bi_view_of_that_database():
    (database_uuid,) = ASSETS["databases"]
    for dataset in ASSETS["datasets"].values():
        assert dataset["database_uuid"] == database_uuid
        assert dataset["schema"] == "bi" and dataset["sql"] is None, dataset["table_name"]
        assert dataset["table_name"] in BI_VIEWS, dataset["table_name"]


def test_every_chart_and_filter_points_at_an_asset_and_a_column_that_exist():
    columns = {uuid: {c["column_name"] for c in d["columns"]} for uuid, d in ASSETS["datasets"].items()}
    for chart in ASSETS["charts"].values():
        assert chart["dataset_uuid"] in columns, chart["slice_name"]
        for key in ("x_axis", "groupby"):
            value = chart["params"].get(key)
            for column in ([value] if isinstance(value, str) else value or []):
                assert column in columns[chart["dataset_uuid"]], (chart["slice_name"], column)
    slugs = set()
    for dashboard in ASSETS["dashboards"].values():
        slugs.add(dashboard["slug"])
        laid_out = [item["meta"]["uuid"] for item in dashboard["position"].values()
                    if isinstance(item, dict) and item.get("type") == "CHART"]
        assert laid_out and len(laid_out) == len(set(laid_out)), dashboard["slug"]
        assert set(laid_out) <= set(ASSETS["charts"]), dashboard["slug"]
        for native in dashboard["metadata"]["native_filter_configuration"]:
            for target in native["targets"]:
                assert target["datasetUuid"] in columns, native["name"]
                if "column" in target:
                    assert target["column"]["name"] in columns[target["datasetUuid"]], native["name"]
    assert slugs == {"lending", "fraud"}
    filters = {n["name"] for d in ASSETS["dashboards"].values() for n in d["metadata"]["native_filter_configuration"]}
    assert {"Risk level", "Card type", "Fraud"} <= filters


def test_the_import_bundle_names_this_instance_and_keeps_every_file(monkeypatch):
    monkeypatch.setenv("CP_PORT_OFFSET", "10000")
    settings = Settings()
    with zipfile.ZipFile(io.BytesIO(superset.bundle(settings))) as archive:
        names = archive.namelist()
        database = yaml.safe_load(archive.read(f"credit_platform_dashboards/{superset.DATABASE_ASSET}"))
    assert len(names) == len(superset.asset_files())
    assert database["sqlalchemy_uri"].endswith(f"@{settings.postgres_host}:{settings.ports['postgres']}/{WAREHOUSE_DB}")
    assert superset.MASKED in database["sqlalchemy_uri"]
