"""Power BI's view of the warehouse: bi_reader reads the bi star views and nothing else, and every
query of the report guide (dashboards/powerbi/README.md) runs as bi_reader."""

from __future__ import annotations

import json
import re
from pathlib import Path

import psycopg
import pytest

from credit_platform.contracts.names import ROLE_BI

pytestmark = pytest.mark.integration
GUIDE = Path(__file__).resolve().parents[2] / "dashboards" / "powerbi" / "README.md"
VIEWS = {"fact_applications", "fact_transactions", "fraud_alerts", "dim_date", "dim_region", "lineage",
         "data_quality_issues", "decision_rates_by_region", "decision_rates_by_grade", "bad_rates_by_vintage",
         "decline_reasons", "credit_models", "credit_model_stability", "fraud_detection", "fraud_rule_backtests",
         "fraud_models"}


def guide_queries() -> list[str]:
    blocks = re.findall(r"```sql\n(.*?)```", GUIDE.read_text(), flags=re.S)
    return [q.strip() for block in blocks for q in block.split(";") if q.strip()]


def test_bi_reader_sees_the_star_views_and_no_base_table(platform):
    with psycopg.connect(platform.postgres_uri(ROLE_BI)) as conn:
        visible = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'bi'").fetchall()}
        assert VIEWS <= visible
        for table in ("credit_scores", "processed_transactions", "fraud_alerts", "metadata_table", "credit_models",
                      "credit_model_monitoring", "loan_outcomes", "chargebacks", "fraud_detection_report",
                      "fraud_rule_backtests", "fraud_models"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute(f"SELECT 1 FROM public.{table} LIMIT 1")


def test_every_query_of_the_report_guide_runs_as_bi_reader(platform):
    queries = guide_queries()
    assert len(queries) >= 12
    with psycopg.connect(platform.postgres_uri(ROLE_BI)) as conn:
        for query in queries:
            conn.execute(query).fetchall()


def test_pbids_points_at_the_credit_database():
    pbids = json.loads((GUIDE.parent / "credit.pbids").read_text())
    details = pbids["connections"][0]["details"]
    assert details["protocol"] == "postgresql" and details["address"]["database"] == "credit"


def test_grafana_business_panels_run_as_bi_reader(platform):
    board = json.loads((GUIDE.parents[2] / "monitoring" / "grafana" / "dashboards" / "business.json").read_text())
    queries = [t["rawSql"] for p in board["panels"] for t in p["targets"]]
    assert len(queries) >= 6
    with psycopg.connect(platform.postgres_uri(ROLE_BI)) as conn:
        for query in queries:
            conn.execute(query).fetchall()


def test_a_score_alert_reaches_the_reporting_layer_with_its_score_model_and_features(platform):
    """MongoDB alerts as the stream writes them (`alert_document`), synced nightly into the warehouse:
    a learned score's alert keeps its score, threshold, model version and three strongest features as
    columns of `bi.fraud_alerts`; a rule's alert has none; a resync changes nothing."""
    import random
    from datetime import UTC, date, datetime, timedelta

    from pymongo import MongoClient

    from credit_platform.batch.load import sync_fraud_alerts
    from credit_platform.contracts.names import MONGO_DB
    from credit_platform.rules.fraud import CONTRIBUTIONS, FEATURES
    from credit_platform.stream.alerts import alert_document

    day = date(1990, 1, 1) + timedelta(days=random.randrange(3_000))  # a day no other test alerts on
    at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    shares = ["0.01"] * len(FEATURES)
    shares[0], shares[3], shares[7] = "0.4", "2.5", "1.1"
    reason = "score 0.997 (threshold 0.99) by model fraud-logistic-bi" + CONTRIBUTIONS + " ".join(shares)
    docs = [alert_document(f"fraud_score:TX-bi-{day}", "fraud_score", "high", reason, "U1", "transaction",
                           f"TX-bi-{day}", at, 4, at, "stream"),
            alert_document(f"amount_spike:TX-bi2-{day}", "amount_spike", "medium", "20x the average", "U2",
                           "transaction", f"TX-bi2-{day}", at, 4, at, "stream")]
    with MongoClient(platform.mongo_uri) as client:
        client[MONGO_DB].fraud_alerts.insert_many(docs)
    assert sync_fraud_alerts(platform, day) == 2 and sync_fraud_alerts(platform, day) == 2
    with psycopg.connect(platform.postgres_uri(ROLE_BI)) as conn:
        rows = conn.execute('SELECT "Rule", "Score", "Score Threshold", "Model Version", "Top Features", "Reason" '
                            'FROM bi.fraud_alerts WHERE "Date" = %s ORDER BY "Rule"', (day,)).fetchall()
    words = [FEATURES[i][1] for i in (3, 7, 0)]
    assert rows == [("amount_spike", None, None, None, None, "20x the average"),
                    ("fraud_score", 0.997, 0.99, "fraud-logistic-bi", "; ".join(words),
                     "score 0.997 (threshold 0.99) by model fraud-logistic-bi; raised most by " + "; ".join(words))]
