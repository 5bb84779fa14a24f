"""Airflow orchestrates the platform end to end on the real services: the demo replays a small
file through every DAG (generate → supervisor → landing → nightly scoring → data quality) and
yields the expected alerts and scores; a rerun of the nightly scoring changes nothing; the
supervisor brings back a cancelled Flink job; the Data Docs are served behind the login."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from pymongo import MongoClient

from credit_platform import demo
from credit_platform.contracts.names import MONGO_DB, ROLE_ETL
from credit_platform.ingest import generator
from credit_platform.ingest.scenario import GeneratorConfig
from credit_platform.orchestration.airflow_client import AirflowClient
from credit_platform.rules.fraud import RULES
from credit_platform.rules.lending import lending_decision, risk_level
from credit_platform.stream import flink, fraud_job

pytestmark = pytest.mark.integration

# a rerun decides the same; only its own stamp (decided_at, scoring_run_id) differs
CHECKSUM = """SELECT count(*), md5(coalesce(string_agg((to_jsonb(t) - 'decided_at' - 'scoring_run_id')::text, '|'
                                                    ORDER BY application_id), ''))
              FROM credit_scores t WHERE business_date = %s"""


def replay_files(tmp: Path, day: date) -> tuple[Path, Path, set[str]]:
    """A small day of data with three applications the seed fraud rule must catch."""
    cfg = GeneratorConfig(seed=11, fraud_share=0.0, start=datetime(day.year, day.month, day.day, 1, tzinfo=UTC))
    apps = [json.loads(x) for x in generator.to_json_lines(generator.generate("applications", 300, cfg)).splitlines()]
    seeded = set()
    for i in (10, 20, 30):
        apps[i].update(credit_score=420, loan_amount=25_000.0)
        seeded.add(apps[i]["application_id"])
    for app in apps:  # no other application may match the seed rule by chance
        if app["application_id"] not in seeded and app["credit_score"] < 450 and app["loan_amount"] > 15_000:
            app["loan_amount"] = 9_000.0
    txs = generator.to_json_lines(generator.generate("transactions", 300, cfg))
    apps_file, txs_file = tmp / "applications.jsonl", tmp / "transactions.jsonl"
    bad = [json.dumps({**apps[0], "application_id": "APP-BAD-SCORE", "credit_score": 900}).encode(),
           b'{"application_id": "APP-BAD-JSON", '] # refused by the producer: DLQ + data_quality_issues
    apps_file.write_bytes(b"\n".join([*(json.dumps(a).encode() for a in apps), *bad]) + b"\n")
    txs_file.write_bytes(txs)
    return apps_file, txs_file, seeded


@pytest.fixture(scope="module")
def demo_run(platform, tmp_path_factory):
    day = date(2000, 1, 1) + timedelta(days=datetime.now(UTC).toordinal() % 3000)
    apps_file, txs_file, seeded = replay_files(tmp_path_factory.mktemp("replay"), day)
    result = demo.run(platform, demo.DemoOptions(applications_file=apps_file, transactions_file=txs_file))
    yield {"day": day, "result": result, "seeded": seeded}
    current = fraud_job.status(platform)
    if current.job_id and current.state in flink.ACTIVE_STATES:  # free the slot for the Flink tests
        flink.cancel(platform, current.job_id)


def test_demo_replay_yields_the_expected_alerts_and_scores(platform, demo_run):
    result, day = demo_run["result"], demo_run["day"]
    assert result["dates"] == [str(day)]
    assert result["produced"]["credit_applications"]["sent"] == 300
    assert result["produced"]["credit_applications"]["invalid"] == 2
    assert sum(n for check, n in result["dq_issues"].items() if check.startswith("producer")) >= 2
    assert result["produced"]["transactions"]["sent"] == 300
    assert result["warehouse"] == {"credit_scores": 300, "processed_transactions": 300}
    with MongoClient(platform.mongo_uri) as client:
        seed_alerts = {a["event_id"] for a in client[MONGO_DB].fraud_alerts.find(
            {"rule": "large_loan_low_score", "event_id": {"$in": [f"{x}" for x in demo_run["seeded"]]}})}
    assert seed_alerts == demo_run["seeded"]
    with psycopg.connect(platform.postgres_uri(ROLE_ETL)) as conn:
        rows = conn.execute("SELECT application_id, credit_score, loan_amount, risk_level, decision, fraud_alert_rules "
                            "FROM credit_scores WHERE business_date = %s", (day,)).fetchall()
    for app_id, score, amount, level, decision, rules in rows:
        assert level == risk_level(score)
        assert decision == lending_decision(amount, score, rules is not None)
        if app_id in demo_run["seeded"]:
            assert decision == "fraud_review" and "large_loan_low_score" in rules
    assert result["lineage_rows"].get("generate_data") == 2
    # credit_scores, processed_transactions, loan_outcomes, chargebacks
    assert result["lineage_rows"].get("risk_scoring") == 4
    # the nightly detection report of the day: the seed rule caught its three, nothing else (no fraud
    # injected) but what the look-alikes set off
    seed = result["detection"]["large_loan_low_score"]
    assert seed["alerted"] == 3 and seed["precision"] == 0.0 and seed["recall"] is None  # labels say normal
    assert set(result["detection"]) == set(RULES) and str(day) in result["card_precision_at_100"]
    assert "detection report (fraud_detection_report" in demo.render(result)


def test_rerunning_nightly_scoring_for_the_date_changes_nothing(platform, demo_run):
    day = demo_run["day"]
    report = ("SELECT kind, name, events, alerted, on_fraud, caught FROM fraud_detection_report "
              "WHERE business_date = %s ORDER BY 1, 2")
    with psycopg.connect(platform.postgres_uri(ROLE_ETL)) as conn:
        before = conn.execute(CHECKSUM, (day,)).fetchone()
        report_before = conn.execute(report, (day,)).fetchall()
    client = AirflowClient(platform)
    run_id = client.trigger("nightly_risk_scoring", {"business_date": str(day)})
    assert client.wait_for_run("nightly_risk_scoring", run_id, timeout=900) == "success"
    with psycopg.connect(platform.postgres_uri(ROLE_ETL)) as conn:
        after = conn.execute(CHECKSUM, (day,)).fetchone()
        assert conn.execute(report, (day,)).fetchall() == report_before and len(report_before) > 8
    assert before == after and before[0] == 300
    log = client.task_log("nightly_risk_scoring", run_id, "risk_scoring")
    assert "spark-submit --master local[2]" in log  # the task ran spark-submit
    if os.geteuid() == 0:  # and the job ran as its own user
        assert "ran_as" in log and "credit-spark" in log  # in the job's summary line


def test_supervisor_restarts_a_cancelled_fraud_job(platform, demo_run):
    current = fraud_job.status(platform)
    assert current.running
    flink.cancel(platform, current.job_id)
    assert fraud_job.status(platform).state in ("CANCELED", "CANCELLING", "MISSING")
    client = AirflowClient(platform)
    run_id = client.trigger("fraud_stream_supervisor")
    assert client.wait_for_run("fraud_stream_supervisor", run_id, timeout=600) == "success"
    again = fraud_job.status(platform)
    assert again.running and again.job_id != current.job_id
    with psycopg.connect(platform.postgres_uri(ROLE_ETL)) as conn:
        details = conn.execute("SELECT details FROM metadata_table WHERE job = 'fraud_stream_supervisor' "
                               "AND run_id = %s", (run_id,)).fetchone()[0]
    assert details["action"] == "submitted" and details["state"] == "RUNNING"


def test_data_docs_are_served_behind_the_airflow_login(platform, demo_run):
    url = f"{platform.airflow_url}/data-docs/"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(url, timeout=10)
    assert info.value.code == 401
    client = AirflowClient(platform)
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {client.token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        page = response.read().decode()
    assert "Data Docs" in page or "great_expectations" in page.lower()
    assert "credit_scores" in page
    plugins = client._call("GET", "/api/v2/plugins")["plugins"]
    views = [v for p in plugins for v in p.get("external_views", [])]
    assert any(v["name"] == "Data Docs" and v["href"] == "data-docs/" for v in views)


def test_headless_chromium_logs_in_and_screenshots_the_grid_and_data_docs(platform, demo_run):
    from tests.helpers import screenshots

    password = json.loads(platform.airflow_passwords_file.read_text())["admin"]
    run_id = demo_run["result"]["runs"][f"nightly_risk_scoring {demo_run['day']}"]
    shots = screenshots.capture(platform, platform.home / "screenshots", "nightly_risk_scoring", run_id,
                                "admin", password)
    assert set(shots) == {"grid", "data_docs"}
    for path in shots.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000, path


def test_superset_dashboards_draw_every_chart_from_the_warehouse_as_bi_reader(platform, demo_run):
    """After the demo, headless Chromium logs in to Superset and opens both business dashboards; every
    chart must draw without an error. Superset knows one database, the warehouse as bi_reader (schema
    `bi` only), so every chart's query runs as bi_reader; nobody gets in without the login."""
    from credit_platform.contracts.names import ROLE_BI, SUPERSET_ADMIN, WAREHOUSE_DB
    from credit_platform.platform import superset
    from tests.helpers import screenshots

    anonymous = urllib.request.Request(f"{platform.superset_url}/api/v1/chart/")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(anonymous, timeout=10)
    assert refused.value.code == 401
    with urllib.request.urlopen(f"{platform.superset_url}/superset/dashboard/lending/", timeout=30) as page:
        assert "/login/" in page.url  # a browser without a session is sent to the login page

    client = superset.SupersetClient(platform)
    (database,) = client.get("/api/v1/database/")["result"]
    uri = client.get(f"/api/v1/database/{database['id']}/connection")["result"]["sqlalchemy_uri"]
    assert uri.startswith(f"postgresql+psycopg2://{ROLE_BI}:") and uri.endswith(f"/{WAREHOUSE_DB}")
    assets = superset.load_assets()
    datasets = client.get("/api/v1/dataset/", q="(page_size:100)")["result"]
    assert {d["table_name"] for d in datasets} == {d["table_name"] for d in assets["datasets"].values()}
    assert {d["database"]["id"] for d in datasets} == {database["id"]}
    # `up` imported the assets; importing again overwrites them (the same UUIDs), nothing doubles
    assert superset.import_dashboards(platform, client) == len(assets["dashboards"])
    assert client.get("/api/v1/chart/", q="(page_size:100)")["count"] == len(assets["charts"])

    plugins = AirflowClient(platform)._call("GET", "/api/v2/plugins")["plugins"]
    views = [v for p in plugins for v in p.get("external_views", [])]
    assert {"name": "Business Dashboards", "href": f"{platform.superset_public_url}/dashboard/list/"}.items() <= next(
        v for v in views if v["name"] == "Business Dashboards").items()

    charts = superset.dashboard_charts()
    shots = screenshots.capture_dashboards(platform, platform.home / "screenshots", charts, SUPERSET_ADMIN,
                                           platform.secrets["superset_admin_password"])
    assert set(shots) == {"lending", "fraud"}
    for path in shots.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 50_000, path


# Metrics each component exports, as Prometheus sees them after the demo.
COMPONENT_SERIES = {
    "producer": "producer_records_sent_total",
    "landing": "landing_records_total",
    "risk scoring (Spark)": "risk_scoring_rows",
    "data quality (GX)": "dq_evaluated_expectations",
    "Kafka consumer lag": "kafka_consumergroup_lag_sum",
    "Flink JobManager": "flink_jobmanager_numRunningJobs",
    "Flink fraud job": "flink_taskmanager_job_task_operator_fraud_alerts_written",
    "FerretDB": 'up{job="mongo"}',
    "Pushgateway": 'up{job="pushgateway"}',
    "Airflow (StatsD via statsd_exporter)": "airflow_scheduler_heartbeat",
    "Airflow task outcomes": 'airflow_ti_finish_total{dag_id="nightly_risk_scoring",state="success"}',
}


def test_prometheus_has_series_from_every_component(platform, demo_run):
    import time

    def series(query: str) -> list:
        # over the last 30 minutes: a cancelled and resubmitted Flink job (the supervisor test) drops
        # its operators' series until its next alert, and pushed batch metrics are point-in-time
        url = f"{platform.prometheus_url}/api/v1/query?query={urllib.parse.quote(f'last_over_time({query}[30m])')}"
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())["data"]["result"]

    missing = dict(COMPONENT_SERIES)
    deadline = time.monotonic() + 120  # a scrape every 15 s; Flink reports every 10 s
    while missing and time.monotonic() < deadline:
        missing = {name: q for name, q in missing.items() if not series(q)}
        time.sleep(5)
    assert not missing, f"no series in Prometheus for {missing}"
    query = urllib.parse.quote('up{job=~"mongo|pushgateway|kafka_lag|airflow"}')
    up = json.loads(urllib.request.urlopen(f"{platform.prometheus_url}/api/v1/query?query={query}",
                                           timeout=10).read())["data"]["result"]
    assert len(up) == 4 and all(float(r["value"][1]) == 1 for r in up), up
    rules = json.loads(urllib.request.urlopen(f"{platform.prometheus_url}/api/v1/rules", timeout=10).read())
    alerts = {r["name"] for g in rules["data"]["groups"] for r in g["rules"]}
    assert {"FraudJobDown", "ConsumerLagHigh", "NightlyScoringLate", "AirflowSchedulerDown"} <= alerts


def dashboard_metrics() -> set[str]:
    import re

    board = json.loads((Path(__file__).resolve().parents[2] / "monitoring" / "grafana" / "dashboards"
                        / "platform-health.json").read_text())
    names = set()
    for panel in board["panels"]:
        for target in panel["targets"]:
            expr = re.sub(r"\{[^}]*\}", "", target["expr"])  # label matchers
            expr = re.sub(r"\b(by|without)\s*\([^)]*\)", "", expr)  # grouping labels
            names |= {t for t in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", expr) if "_" in t}
    return names


def test_grafana_health_panels_query_metrics_prometheus_has(platform, demo_run):
    import time

    wanted = dashboard_metrics()
    assert {"kafka_consumergroup_lag_sum", "flink_jobmanager_numRunningJobs"} <= wanted
    deadline = time.monotonic() + 90
    while True:
        url = f"{platform.prometheus_url}/api/v1/label/__name__/values"
        known = set(json.loads(urllib.request.urlopen(url, timeout=10).read())["data"])
        if wanted <= known or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert wanted <= known, f"dashboard metrics Prometheus does not have: {sorted(wanted - known)}"
