"""The credit scorecard on the real services: a generated history with loan outcomes goes through
Kafka and the landing; the Spark training job learns, judges and promotes a champion; the nightly
job scores a day with it (every row equal to the Python reference, a rerun identical); a drifted
day raises the population-shift alert in Prometheus and a warning in the warehouse suite."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, date, datetime, timedelta

import pytest

from credit_platform.batch import spark_submit
from credit_platform.contracts.names import APPLICATIONS_TOPIC, LOAN_OUTCOMES_TOPIC
from credit_platform.ingest import generator, producer
from credit_platform.ingest.scenario import GeneratorConfig
from credit_platform.rules.credit import CHARACTERISTICS, MAX_REASONS, PSI_ALERT, Scorecard, score_application
from credit_platform.rules.lending import DEFAULT_POLICY, decide, risk_level

from .conftest import cli
from .test_batch import CHECKSUM, land, query, score

pytestmark = pytest.mark.integration

# A date of its own per session (Kafka keeps earlier sessions' events), in the past.
AS_OF = date(1995, 1, 1) + timedelta(days=random.randrange(0, 9_000, 7))
DRIFTED = AS_OF + timedelta(days=1)
SEED = 31
HISTORY_DAYS = 200


def _config(day: date, **extra) -> GeneratorConfig:
    return GeneratorConfig(seed=SEED, start=datetime(day.year, day.month, day.day, tzinfo=UTC), **extra)


def _send(settings, topic: str, frame) -> None:
    assert producer.produce(settings, topic, generator.to_json_lines(frame).splitlines(), progress=False).complete


def _train(settings, *extra: str) -> dict:
    result = spark_submit.submit(settings, "train_credit_model", ["--as-of", str(AS_OF), "--history-days",
                                                                   str(HISTORY_DAYS), *extra])
    assert result.returncode == 0, result.stdout
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def history(platform, landing_dir):
    """12,000 applications over the 200 days before AS_OF with their outcomes; 1,000 applications on
    AS_OF; 1,500 on the next day from a drifted population (lower scores, larger loans); all landed."""
    apps, outcomes = generator.history(12_000, HISTORY_DAYS, _config(AS_OF))
    _send(platform, APPLICATIONS_TOPIC, apps)
    _send(platform, LOAN_OUTCOMES_TOPIC, outcomes)
    _send(platform, APPLICATIONS_TOPIC, generator.applications(1_000, _config(AS_OF, rate_per_second=0.1)))
    drifted = _config(DRIFTED, rate_per_second=0.1)
    _send(platform, APPLICATIONS_TOPIC, generator.applications(1_500, dataclasses.replace(drifted,
                                                                                          drift_from=drifted.start)))
    land({**os.environ, "CP_LANDING_DIR": str(landing_dir)})
    yield apps, outcomes
    # the other modules' scoring tests expect the seed's rule: no champion outlives this module
    query(platform, "UPDATE credit_models SET status = 'retired', retired_at = now() WHERE status = 'champion' "
                    "RETURNING version")


@pytest.fixture(scope="module")
def champion(platform, history) -> dict:
    return _train(platform, "--requested-by", "test:first")


def test_training_judges_out_of_time_and_promotes_the_first_champion(platform, champion):
    assert champion["status"] == "champion", champion
    assert champion["promotion"]["reason"].startswith("first champion"), champion
    sample = champion["sample"]
    assert sample["with_outcome"] > 5_000 and sample["validation_rows"] > 1_000, sample
    rows = query(platform, "SELECT status, promoted_by, auc, metrics, report_path FROM credit_models "
                           "WHERE version = %s", champion["version"])
    status, promoted_by, auc, metrics, report = rows[0]
    assert status == "champion" and promoted_by.startswith("test:first")
    # the scorecard beats the bureau score alone, out of time, and stays under the ceiling
    assert metrics["baselines"]["bureau_score_auc"] + 0.02 < auc <= metrics["baselines"]["true_pd_auc (ceiling)"] + 0.01
    assert {r["grade"] for r in metrics["out_of_time"]["calibration"]} >= {"A", "B", "C", "D", "E"}
    page = open(report, encoding="utf-8").read()
    assert page.count("data:image/png;base64,") == 4 and "Points table" in page
    assert champion["version"] in open(platform.model_reports_dir / "index.html", encoding="utf-8").read()


def test_the_model_report_is_served_behind_the_airflow_login(platform, champion):
    from credit_platform.orchestration.airflow_client import AirflowClient

    page = f"{platform.airflow_url}/model-reports/{champion['version']}.html"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(page, timeout=10)
    assert refused.value.code == 401
    token = AirflowClient(platform).token
    for url in (page, f"{platform.airflow_url}/model-reports/"):
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200 and champion["version"] in response.read().decode()


def test_a_challenger_is_promoted_only_when_no_worse_out_of_time(platform, champion):
    challenger = _train(platform, "--out-of-time-share", "0.3", "--requested-by", "test:challenger")
    assert challenger["version"] != champion["version"]
    champion_auc = query(platform, "SELECT (metrics->'champion'->>'auc_on_this_sample')::float FROM credit_models "
                                   "WHERE version = %s", challenger["version"])[0][0]
    assert (challenger["status"] == "champion") == (challenger["auc"] >= champion_auc), (challenger, champion_auc)
    # a forced promotion needs a reason, and keeps it; the former champion is retired
    forced = _train(platform, "--promote", "force", "--reason", "committee approved", "--requested-by", "test:force",
                    "--out-of-time-share", "0.25")
    assert forced["status"] == "champion"
    rows = dict(query(platform, "SELECT version, status FROM credit_models"))
    assert list(rows.values()).count("champion") == 1
    reason = query(platform, "SELECT promotion_reason FROM credit_models WHERE version = %s", forced["version"])[0][0]
    assert reason == "forced by test:force: committee approved"
    # back to the first champion for the scoring tests below
    _train(platform, "--promote", "force", "--reason", "the tests score with the first model", "--requested-by",
           "test:restore")
    assert query(platform, "SELECT version FROM credit_models WHERE status = 'champion'")[0][0] == champion["version"]


def _scored_day(platform, day: date) -> list[dict]:
    columns = ("application_id", "user_id", "credit_score", "loan_amount", "annual_income", "loan_term_months",
               "loan_purpose", "employment_status", "channel", "city", "business_date", "fraud_alert",
               "probability_of_default", "score_points", "risk_grade", "reason_codes", "model_version", "decision",
               "policy_exception", "risk_level")
    return [dict(zip(columns, r, strict=True)) for r in query(
        platform, f"SELECT {', '.join(columns)} FROM credit_scores WHERE business_date = %s", day)]


def test_the_nightly_job_scores_every_application_as_the_reference_and_reruns_identically(platform, champion):
    first = score(platform, AS_OF, f"credit-{AS_OF}-1")
    assert first["model"] == champion["version"]
    card_json, = query(platform, "SELECT scorecard FROM credit_models WHERE version = %s", champion["version"])[0]
    card = Scorecard.from_json({**card_json, "version": champion["version"]})
    rows = _scored_day(platform, AS_OF)
    assert len(rows) == 1_000
    declines = 0
    for row in rows:
        want = score_application(card, row, DEFAULT_POLICY)
        got = (row["score_points"], row["probability_of_default"], row["risk_grade"], tuple(row["reason_codes"]),
               row["model_version"])
        assert got == (want.points, want.probability_of_default, want.risk_grade, want.reason_codes,
                       champion["version"]), row
        decision, exception = decide(row, row["fraud_alert"], row["business_date"], DEFAULT_POLICY, (),
                                     want.probability_of_default)
        assert (row["decision"], row["policy_exception"]) == (decision, exception), row
        assert row["risk_level"] == risk_level(row["credit_score"])  # the seed's level stays as it was
        if decision == "decline":
            declines += 1
            assert 1 <= len(row["reason_codes"]) <= MAX_REASONS
        assert set(row["reason_codes"]) <= {c.reason for c in CHARACTERISTICS}  # words a loan officer reads
    decisions = {r["decision"] for r in rows}
    assert declines > 0 and {"instant_approval", "approve", "manual_review", "decline"} <= decisions, decisions
    # an undrifted day is stable against the training sample
    psi = dict(query(platform, "SELECT characteristic, psi FROM credit_model_monitoring WHERE business_date = %s",
                     AS_OF))
    assert psi.keys() == {*(c.name for c in card.characteristics), "score_points"}
    assert max(psi.values()) < 0.10, psi

    checksums = [query(platform, CHECKSUM.format(key="application_id", table="credit_scores"), AS_OF)[0],
                 query(platform, "SELECT string_agg(characteristic || psi || model_version || rows_scored, ',' "
                                 "ORDER BY characteristic) FROM credit_model_monitoring WHERE business_date = %s",
                       AS_OF)[0]]
    score(platform, AS_OF, f"credit-{AS_OF}-2")
    assert [query(platform, CHECKSUM.format(key="application_id", table="credit_scores"), AS_OF)[0],
            query(platform, "SELECT string_agg(characteristic || psi || model_version || rows_scored, ',' "
                            "ORDER BY characteristic) FROM credit_model_monitoring WHERE business_date = %s",
                  AS_OF)[0]] == checksums


def test_a_drifted_day_raises_the_population_shift_alert(platform, champion):
    summary = score(platform, DRIFTED, f"credit-{DRIFTED}")
    assert summary["psi"]["score_points"] >= PSI_ALERT and summary["psi"]["credit_score"] >= PSI_ALERT, summary["psi"]
    # Prometheus evaluates the rule on the pushed gauge (scrape and evaluation every 15 s)
    deadline, firing = time.monotonic() + 120, []
    while time.monotonic() < deadline and not firing:
        with urllib.request.urlopen(f"{platform.prometheus_url}/api/v1/alerts", timeout=10) as response:
            alerts = json.loads(response.read())["data"]["alerts"]
        firing = [a for a in alerts if a["labels"]["alertname"] == "CreditModelPopulationShift"
                  and a["labels"]["characteristic"] == "score_points" and a["state"] == "firing"]
        time.sleep(3)
    assert firing, "CreditModelPopulationShift did not fire"
    assert firing[0]["labels"]["model_version"] == champion["version"]
    query_url = f"{platform.prometheus_url}/api/v1/query?query=" + urllib.parse.quote(
        'credit_model_psi{job="risk_scoring",characteristic="score_points"}')
    with urllib.request.urlopen(query_url, timeout=10) as response:
        assert float(json.loads(response.read())["data"]["result"][0]["value"][1]) >= PSI_ALERT
    # the warehouse suite warns, and does not block: the day's rows are right, the population moved
    dq = cli("dq", "--date", str(DRIFTED), "--scope", "warehouse", "--run-id", f"dq-credit-{DRIFTED}")
    line = next(x for x in dq.stdout.splitlines() if x.strip().startswith("credit_model_monitoring"))
    assert "FAILED" in line and "(0 blocking)" in line, dq.stdout  # and `dq` exited 0
    issues = query(platform, "SELECT record_id, severity FROM data_quality_issues WHERE data_date = %s AND source = "
                             "'great_expectations:credit_model_monitoring'", DRIFTED)
    assert ("score_points", "warning") in issues, issues
