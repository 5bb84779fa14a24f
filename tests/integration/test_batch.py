"""The nightly batch on the real services: Kafka → landing (exactly-once across a kill -9) →
Spark risk scoring (rules on their boundaries, bad rows to data_quality_issues, a rerun leaves
the warehouse byte-for-byte identical) → lineage in metadata_table."""

from __future__ import annotations

import getpass
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from kafka import KafkaProducer
from pymongo import MongoClient

from credit_platform.batch import spark_submit
from credit_platform.contracts.names import (
    APPLICATIONS_TOPIC,
    CHARGEBACKS_TOPIC,
    KAFKA_PRODUCER,
    LOAN_OUTCOMES_TOPIC,
    MONGO_DB,
    OS_USER_SPARK,
    ROLE_BI,
    ROLE_ETL,
    TRANSACTIONS_TOPIC,
)
from credit_platform.ingest import generator, landing, producer
from credit_platform.ingest.scenario import GeneratorConfig
from credit_platform.rules.lending import DEFAULT_POLICY, PolicyException, decide, lending_decision, risk_level

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]

# (credit score, loan amount): every boundary of the risk levels, the seed fraud rule and the
# instant-approval limit.
# Dates of their own per session: Kafka keeps earlier sessions' events, and a fresh landing dir lands them all.
BASE_DAY = date(1990, 1, 1) + timedelta(days=random.randrange(0, 10_000, 10))
BOUNDARIES = [(s, a) for s in (449, 450, 451, 499, 500, 501, 699, 700, 701, 850)
              for a in ("15000.00", "15000.01", "100.00")]


def event_time(day: date, second: int) -> str:
    return datetime(day.year, day.month, day.day, 0, 0, second % 60, tzinfo=UTC).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


def events_for(kind: str, day: date, tag: str, n: int) -> list[dict]:
    """n valid generated events of `kind`, with ids of this test and times on `day`."""
    base = generator.generate(kind, n, GeneratorConfig(seed=7, fraud_share=0.0))
    id_field, prefix = ("application_id", "APP") if kind == "applications" else ("transaction_id", "TX")
    rows = [json.loads(line) for line in generator.to_json_lines(base).splitlines()]
    for i, row in enumerate(rows):
        row.update({id_field: f"{prefix}-{tag}-{i:05d}", "timestamp": event_time(day, i)})
    return rows


def outcomes_for(day: date, apps: list[dict]) -> list[dict]:
    """The outcome of each of these applications, observed on `day` (every third defaulted)."""
    return [{"schema_version": 1, "application_id": a["application_id"], "defaulted": i % 3 == 0,
             "observed_at": event_time(day, 30 + i), "true_pd": round(0.05 + 0.01 * (i % 10), 2)}
            for i, a in enumerate(apps)]


def chargebacks_for(day: date, txs: list[dict]) -> list[dict]:
    """A chargeback of each of these transactions, reported on `day`."""
    return [{"schema_version": 1, "transaction_id": t["transaction_id"], "user_id": t["user_id"],
             "merchant": t["merchant"], "amount": t["amount"],
             "reason_code": ("fraud_card_absent", "fraud_card_present")[i % 2], "reported_at": event_time(day, 40 + i)}
            for i, t in enumerate(txs)]


def applications_for(day: date, tag: str, n: int) -> list[dict]:
    return events_for("applications", day, tag, n)


def transactions_for(day: date, tag: str, n: int) -> list[dict]:
    return events_for("transactions", day, tag, n)


def produce(settings, topic: str, rows: list[dict]) -> None:
    lines = [json.dumps(r).encode() for r in rows]
    assert producer.produce(settings, topic, lines, progress=False).complete


def produce_raw(settings, topic: str, payloads: list[bytes]) -> None:
    """What a foreign writer could put on the topic, past the validating producer."""
    kafka = KafkaProducer(**settings.kafka(KAFKA_PRODUCER), acks="all")
    for payload in payloads:
        kafka.send(topic, key=b"U-raw", value=payload)
    kafka.flush()
    kafka.close()


def land(env: dict, *extra: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "jobs" / "kafka_landing.py"), "--quiet", *extra], env=env,
                          capture_output=True, text=True, timeout=timeout, check=True)


def score(settings, day: date, run_id: str) -> dict:
    result = spark_submit.submit(settings, "risk_scoring", ["--date", str(day), "--run-id", run_id])
    assert result.returncode == 0, result.stdout
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    # started by root, the job runs as its own user (which may not open the secrets file)
    assert summary["ran_as"] == (OS_USER_SPARK if os.geteuid() == 0 else getpass.getuser())
    return summary


def query(settings, sql: str, *params):  # noqa: ANN201
    with psycopg.connect(settings.postgres_uri(ROLE_ETL)) as conn:
        return conn.execute(sql, params).fetchall()


# a rerun decides the same; only its own stamp (decided_at, scoring_run_id) differs
CHECKSUM = """SELECT count(*), md5(coalesce(string_agg((to_jsonb(t) - 'decided_at' - 'scoring_run_id')::text, '|'
                                                    ORDER BY {key}), ''))
              FROM {table} t WHERE business_date = %s"""


# ---- landing -------------------------------------------------------------------------------------
def test_landing_killed_mid_run_then_rerun_loses_and_duplicates_nothing(platform, landing_dir):
    day, tag = BASE_DAY, uuid.uuid4().hex[:6]
    apps = applications_for(day, tag, 30_000)
    produce(platform, APPLICATIONS_TOPIC, apps)
    env = {**os.environ, "CP_LANDING_DIR": str(landing_dir)}
    offsets = landing_dir / APPLICATIONS_TOPIC / landing.OFFSETS
    run = subprocess.Popen([sys.executable, str(REPO / "jobs" / "kafka_landing.py"), "--quiet",
                            "--topics", APPLICATIONS_TOPIC, "--chunk-records", "400"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not offsets.exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert run.poll() is None, f"landing ended before it could be killed: {run.stderr.read()}"
    run.send_signal(signal.SIGKILL)
    run.wait()
    committed_at_kill = sum(json.loads(offsets.read_text()).values())
    landed_at_kill = landing.read_landed(platform, APPLICATIONS_TOPIC, day)
    assert landed_at_kill is None or landed_at_kill.height < len(apps), "the kill came too late to test anything"

    land(env, "--topics", APPLICATIONS_TOPIC)
    frame = landing.read_landed(platform, APPLICATIONS_TOPIC, day)
    ids = frame.filter(frame["application_id"].str.starts_with(f"APP-{tag}-"))["application_id"].to_list()
    assert len(ids) == len(apps), "lost or duplicated records"
    assert set(ids) == {a["application_id"] for a in apps}
    assert sum(json.loads(offsets.read_text()).values()) > committed_at_kill
    # What a reader sees equals what the markers list, and no file is left outside them.
    directory = landing.date_dir(landing_dir, APPLICATIONS_TOPIC, day)
    assert {p.name for p in directory.glob("*.parquet")} == set(landing.read_marker(directory)["files"])
    # A rerun with nothing new lands nothing and changes no file.
    before = {p.name: p.stat().st_mtime_ns for p in directory.glob("*.parquet")}
    assert "0 records" in land(env, "--topics", APPLICATIONS_TOPIC).stdout
    assert before == {p.name: p.stat().st_mtime_ns for p in directory.glob("*.parquet")}


def test_uncommitted_file_of_a_crashed_run_is_ignored_then_replaced(platform, landing_dir):
    day, tag = BASE_DAY + timedelta(days=1), uuid.uuid4().hex[:6]
    env = {**os.environ, "CP_LANDING_DIR": str(landing_dir)}
    land(env)  # catch up with whatever earlier tests produced
    directory = landing.date_dir(landing_dir, APPLICATIONS_TOPIC, day)
    apps = applications_for(day, tag, 50)
    produce(platform, APPLICATIONS_TOPIC, apps)
    land(env, "--topics", APPLICATIONS_TOPIC)
    # Fake what a run killed after writing its file and marker but before committing leaves behind.
    committed = landing.committed_offsets(landing_dir, APPLICATIONS_TOPIC)
    partition = next(iter(committed))
    ghost = f"{APPLICATIONS_TOPIC}-p{partition}-{committed[partition]:012d}-{committed[partition] + 5:012d}.parquet"
    real = landing.landed_files(platform, APPLICATIONS_TOPIC, day)[0]
    (directory / ghost).write_bytes(real.read_bytes())
    marker = landing.read_marker(directory)
    marker["files"][ghost] = {**marker["files"][real.name], "first_offset": committed[partition]}
    (directory / landing.MARKER).write_text(json.dumps(marker))
    assert ghost not in {p.name for p in landing.landed_files(platform, APPLICATIONS_TOPIC, day)}
    out = land(env, "--topics", APPLICATIONS_TOPIC).stdout
    assert "removed 1 files of an unfinished run" in out
    assert not (directory / ghost).exists()
    frame = landing.read_landed(platform, APPLICATIONS_TOPIC, day)
    assert frame.filter(frame["application_id"].str.starts_with(f"APP-{tag}-")).height == 50


# ---- scoring ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def scored_day(platform, landing_dir):
    """One business date with boundary values, alerts and bad rows, landed and scored twice."""
    day, tag = BASE_DAY + timedelta(days=2), uuid.uuid4().hex[:6]
    apps = applications_for(day, tag, len(BOUNDARIES))
    for row, (credit_score, amount) in zip(apps, BOUNDARIES, strict=True):
        row.update(credit_score=credit_score, loan_amount=float(amount))
    alerted_app = apps[BOUNDARIES.index((700, "100.00"))]["application_id"]  # would be instant approval
    txs = transactions_for(day, tag, 40)
    alerted_tx = txs[3]["transaction_id"]
    produce(platform, APPLICATIONS_TOPIC, apps)
    produce(platform, TRANSACTIONS_TOPIC, txs)
    # outcomes observed that day, of earlier applications (their ids need not be in the warehouse yet)
    outcomes = outcomes_for(day, applications_for(day - timedelta(days=90), f"{tag}-o", 12))
    produce(platform, LOAN_OUTCOMES_TOPIC, outcomes)
    produce_raw(platform, LOAN_OUTCOMES_TOPIC, [json.dumps({**outcomes[0], "application_id": f"APP-{tag}-o-bad",
                                                            "defaulted": "yes"}).encode()])
    # chargebacks reported that day: of earlier purchases, and of one of the day's own
    chargebacks = chargebacks_for(day, transactions_for(day - timedelta(days=10), f"{tag}-c", 6) + [txs[5]])
    produce(platform, CHARGEBACKS_TOPIC, chargebacks)
    produce_raw(platform, CHARGEBACKS_TOPIC, [json.dumps({**chargebacks[0], "transaction_id": f"TX-{tag}-c-bad",
                                                          "reason_code": "friendly_fraud"}).encode()])
    bad = {
        f"APP-{tag}-bad-score": {**apps[0], "application_id": f"APP-{tag}-bad-score", "credit_score": 900},
        f"APP-{tag}-bad-amount": {**apps[0], "application_id": f"APP-{tag}-bad-amount", "loan_amount": -5.0},
        f"APP-{tag}-no-user": {k: v for k, v in {**apps[0], "application_id": f"APP-{tag}-no-user"}.items()
                               if k != "user_id"},
    }
    produce_raw(platform, APPLICATIONS_TOPIC, [json.dumps(v).encode() for v in bad.values()]
                + [json.dumps(apps[1]).encode(), b"{not json at all"])  # a duplicate and garbage
    with MongoClient(platform.mongo_uri) as client:
        alerts = client[MONGO_DB].fraud_alerts
        for event_type, event_id, rule in (("application", alerted_app, "application_velocity"),
                                           ("transaction", alerted_tx, "impossible_travel")):
            alerts.replace_one({"_id": f"{rule}:{event_id}"}, {
                "rule": rule, "severity": "high", "reason": "test", "user_id": "U", "event_type": event_type,
                "event_id": event_id, "event_time": datetime(day.year, day.month, day.day, 0, 0, 3, tzinfo=UTC),
                "detected_at": datetime.now(UTC)}, upsert=True)
    env = {**os.environ, "CP_LANDING_DIR": str(landing_dir)}
    land(env)
    tables = (("credit_scores", "application_id"), ("processed_transactions", "transaction_id"),
              ("loan_outcomes", "application_id"), ("chargebacks", "transaction_id"))
    first = score(platform, day, f"test-score-{tag}-1")
    sums_first = {t: query(platform, CHECKSUM.format(table=t, key=k), day)[0] for t, k in tables}
    second = score(platform, day, f"test-score-{tag}-2")
    sums_second = {t: query(platform, CHECKSUM.format(table=t, key=k), day)[0] for t, k in tables}
    return {"day": day, "tag": tag, "apps": apps, "txs": txs, "bad": bad, "alerted_app": alerted_app,
            "alerted_tx": alerted_tx, "outcomes": outcomes, "chargebacks": chargebacks, "first": first,
            "second": second, "sums": (sums_first, sums_second)}


def test_risk_levels_and_decisions_follow_the_rules_on_their_boundaries(platform, scored_day):
    rows = query(platform, "SELECT application_id, credit_score, loan_amount, risk_level, decision, fraud_alert, "
                 "decision_reason FROM credit_scores WHERE business_date = %s", scored_day["day"])
    got = {r[0]: r[1:] for r in rows}
    assert len(got) == len(BOUNDARIES)
    for app in scored_day["apps"]:
        credit_score, amount, level, decision, alert, reason = got[app["application_id"]]
        expected_alert = app["application_id"] == scored_day["alerted_app"]
        assert amount == Decimal(str(app["loan_amount"])).quantize(Decimal("0.01"))
        assert level == risk_level(credit_score), (credit_score, level)
        assert alert is expected_alert
        assert decision == lending_decision(amount, credit_score, expected_alert), (credit_score, amount, decision)
        assert reason
    by_case = {(r[1], str(r[2])): r[4] for r in rows}
    assert by_case[(700, "15000.00")] == "instant_approval"
    assert by_case[(700, "15000.01")] == "manual_review"
    assert by_case[(699, "100.00")] == "manual_review"
    assert {(r[1], r[3]) for r in rows if r[1] in (499, 500, 699, 700)} == {
        (499, "High"), (500, "Medium"), (699, "Medium"), (700, "Low")}
    assert got[scored_day["alerted_app"]][3] == "fraud_review"


def test_transactions_keep_the_label_and_flag_alerts(platform, scored_day):
    rows = query(platform, "SELECT transaction_id, credit_score, risk_level, is_fraud, fraud_alert, fraud_alert_rules "
                 "FROM processed_transactions WHERE business_date = %s", scored_day["day"])
    assert len(rows) == len(scored_day["txs"])
    labels = {t["transaction_id"]: t["is_fraud"] for t in scored_day["txs"]}
    for tx_id, credit_score, level, is_fraud, alert, rules in rows:
        assert level == risk_level(credit_score)
        assert is_fraud is labels[tx_id]
        assert alert is (tx_id == scored_day["alerted_tx"])
        assert (rules == "impossible_travel") is alert


def test_rerun_of_a_date_leaves_the_warehouse_identical(scored_day):
    first, second = scored_day["sums"]
    assert first == second
    assert first["credit_scores"][0] == len(BOUNDARIES)
    assert scored_day["second"]["tables"]["credit_scores"]["loaded"] == len(BOUNDARIES)


def test_loan_outcomes_load_under_the_day_they_were_observed(platform, scored_day):
    day, tag = scored_day["day"], scored_day["tag"]
    loaded = query(platform, "SELECT application_id, defaulted, observed_at, true_pd, kafka_offset IS NOT NULL "
                   "FROM loan_outcomes WHERE business_date = %s ORDER BY application_id", day)
    expected = sorted((o["application_id"], o["defaulted"], datetime.fromisoformat(o["observed_at"]), o["true_pd"],
                       True) for o in scored_day["outcomes"])
    assert loaded == expected and len(loaded) == 12
    assert scored_day["second"]["tables"]["loan_outcomes"] == {
        "landed": 13, "valid": 12, "invalid": 1, "alerts": 0, "conflicts": 0, "loaded": 12}
    refused = query(platform, "SELECT issue, column_name FROM data_quality_issues WHERE record_id = %s "
                    "AND data_date = %s", f"APP-{tag}-o-bad", day)
    assert refused, "the outcome with defaulted \"yes\" is reported"


def test_chargebacks_load_under_the_day_they_were_reported_and_mark_their_transaction(platform, scored_day):
    day, tag = scored_day["day"], scored_day["tag"]
    loaded = query(platform, "SELECT transaction_id, user_id, merchant, amount, reason_code, reported_at, "
                   "kafka_offset IS NOT NULL FROM chargebacks WHERE business_date = %s ORDER BY transaction_id", day)
    expected = sorted((c["transaction_id"], c["user_id"], c["merchant"],
                       Decimal(str(c["amount"])).quantize(Decimal("0.01")),
                       c["reason_code"], datetime.fromisoformat(c["reported_at"]), True)
                      for c in scored_day["chargebacks"])
    assert loaded == expected and len(loaded) == 7
    assert scored_day["second"]["tables"]["chargebacks"] == {
        "landed": 8, "valid": 7, "invalid": 1, "alerts": 0, "conflicts": 0, "loaded": 7}
    refused = query(platform, "SELECT issue, column_name FROM data_quality_issues WHERE record_id = %s "
                    "AND data_date = %s", f"TX-{tag}-c-bad", day)
    assert refused and refused[0][1] == "reason_code", refused
    # analysts see which of the day's purchases were disputed, and when
    with psycopg.connect(platform.postgres_uri(ROLE_BI)) as conn:
        marked = conn.execute('SELECT "Transaction ID", "Chargeback Reported At" FROM bi.fact_transactions '
                              'WHERE "Date" = %s AND "Charged Back"', (day,)).fetchall()
    assert marked == [(scored_day["txs"][5]["transaction_id"],
                       datetime.fromisoformat(scored_day["chargebacks"][-1]["reported_at"]))]


def test_bad_rows_reach_data_quality_issues_with_reasons(platform, scored_day):
    rows = query(platform, "SELECT record_id, issue, column_name, rule FROM data_quality_issues "
                 "WHERE source = 'risk_scoring' AND data_date = %s", scored_day["day"])
    by_id = {}
    for record_id, issue, column, rule in rows:
        by_id.setdefault(record_id, []).append((issue, column, rule))
    tag = scored_day["tag"]
    assert by_id[f"APP-{tag}-bad-score"] == [("credit_score: 900 must be <= 850", "credit_score", "maximum")]
    assert by_id[f"APP-{tag}-bad-amount"] == [("loan_amount: -5.0 must be > 0", "loan_amount", "minimum")]
    assert by_id[f"APP-{tag}-no-user"] == [("user_id: missing", "user_id", "not_null")]
    duplicate = by_id[scored_day["apps"][1]["application_id"]]
    assert duplicate[0][2] == "unique" and "duplicate of the copy landed at partition" in duplicate[0][0]
    # A rerun replaces the date's issues instead of adding to them.
    assert len([r for r in rows if r[0].startswith(f"APP-{tag}") and "-o-" not in r[0]]) == 4
    # The garbage payload was reported by the landing with its raw text, and landed (not lost).
    garbage = query(platform, "SELECT issue, raw_payload FROM data_quality_issues WHERE source = 'landing' "
                    "AND raw_payload = '{not json at all'")
    assert garbage and garbage[0][0].startswith("not a valid event")


def test_each_run_leaves_lineage_back_to_files_and_offsets(platform, scored_day):
    tag = scored_day["tag"]
    rows = query(platform, "SELECT run_id, source, target, rows_in, rows_out, status, details FROM metadata_table "
                 "WHERE job = 'risk_scoring' AND run_id LIKE %s ORDER BY run_id, target", f"test-score-{tag}-%")
    assert [(r[0][-1], r[2], r[5]) for r in rows] == [
        (run, table, "success") for run in "12"
        for table in ("chargebacks", "credit_scores", "loan_outcomes", "processed_transactions")]
    apps_row = next(r for r in rows if r[2] == "credit_scores")
    assert apps_row[1] == f"landing/{APPLICATIONS_TOPIC}/dt={scored_day['day']}"
    # 3 bad rows and a duplicate; the garbage payload has no event time, so it landed under its Kafka date
    assert apps_row[4] == len(BOUNDARIES) and apps_row[3] == len(BOUNDARIES) + 4
    # Any warehouse row leads back to its landed file and Kafka offset, and the file to its lineage row.
    source_file, partition, offset = query(
        platform, "SELECT source_file, kafka_partition, kafka_offset FROM credit_scores WHERE application_id = %s",
        scored_day["apps"][0]["application_id"])[0]
    assert source_file in apps_row[6]["files"]
    first, last = apps_row[6]["offsets"][Path(source_file).name][1:]
    assert first <= offset <= last and partition == apps_row[6]["offsets"][Path(source_file).name][0]
    landed = query(platform, "SELECT count(*) FROM metadata_table WHERE job = 'kafka_landing' AND target = %s",
                   f"landing/{APPLICATIONS_TOPIC}/dt={scored_day['day']}")
    assert landed[0][0] >= 1


# ---- Great Expectations ----------------------------------------------------------------------------
def dq(day: date, run_id: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "credit_platform", "dq", "--date", str(day), "--run-id", run_id,
                           *extra], capture_output=True, text=True, timeout=600, env=os.environ.copy())


def test_gx_reports_landed_bad_rows_and_passes_a_clean_warehouse(platform, scored_day):
    day, tag = scored_day["day"], scored_day["tag"]
    result = dq(day, f"test-dq-{tag}")
    assert result.returncode == 0, result.stdout + result.stderr  # landed-data failures are warnings
    assert "credit_scores" in result.stdout and "passed" in result.stdout
    rows = query(platform, "SELECT source, record_id, column_name, rule, severity, observed_value, run_id "
                 "FROM data_quality_issues WHERE source LIKE 'great_expectations:%%' AND data_date = %s", day)
    by_record = {(r[1], r[3]): r for r in rows}
    bad_score = by_record[(f"APP-{tag}-bad-score", "expect_column_values_to_be_between")]
    assert bad_score[0] == "great_expectations:landed_applications"
    assert bad_score[2] == "credit_score" and bad_score[4] == "warning" and bad_score[5] == "900"
    assert (f"APP-{tag}-no-user", "expect_column_values_to_not_be_null") in by_record
    assert (scored_day["apps"][1]["application_id"], "expect_column_values_to_be_unique") in by_record
    assert {r[6] for r in rows} == {f"test-dq-{tag}"}
    # the outcome written past the producer with "defaulted": "yes": its own suite reports it
    outcome = {r[3]: r for r in rows if r[1] == f"APP-{tag}-o-bad"}
    assert outcome["expect_column_values_to_not_be_null"][:3] == (
        "great_expectations:landed_outcomes", f"APP-{tag}-o-bad", "defaulted")
    # and the chargeback with a reason no card network gives
    chargeback = {r[3]: r for r in rows if r[1] == f"TX-{tag}-c-bad"}
    assert chargeback["expect_column_values_to_be_in_set"][:3] == (
        "great_expectations:landed_chargebacks", f"TX-{tag}-c-bad", "reason_code")
    assert {r[0] for r in rows} == {"great_expectations:landed_applications", "great_expectations:landed_outcomes",
                                    "great_expectations:landed_chargebacks"}
    # Data Docs show this validation.
    from credit_platform.quality import expectations

    index = expectations.data_docs_dir(platform) / "index.html"
    assert index.exists() and f"test-dq-{tag}" in index.read_text()
    # A rerun replaces the date's GX issues.
    assert dq(day, f"test-dq-{tag}").returncode == 0
    again = query(platform, "SELECT count(*) FROM data_quality_issues WHERE source LIKE 'great_expectations:%%' "
                  "AND data_date = %s", day)[0][0]
    assert again == len(rows)


def test_gx_blocks_when_the_warehouse_disagrees_with_the_landed_data(platform, scored_day):
    day, tag = scored_day["day"], scored_day["tag"]
    with psycopg.connect(platform.postgres_uri(ROLE_ETL)) as conn:
        conn.execute("DELETE FROM credit_scores WHERE application_id = %s", (scored_day["apps"][0]["application_id"],))
    result = dq(day, f"test-dq-block-{tag}", "--scope", "warehouse")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "blocking" in result.stderr
    rows = query(platform, "SELECT issue, severity, observed_value FROM data_quality_issues "
                 "WHERE source = 'great_expectations:credit_scores' AND data_date = %s", day)
    assert rows and rows[0][1] == "critical"
    assert rows[0][2] == str(len(BOUNDARIES) - 1)
    assert "expect_table_row_count_to_equal" in rows[0][0]


def test_an_id_already_loaded_under_another_date_is_refused_not_fatal(platform, landing_dir):
    first_day, tag = BASE_DAY + timedelta(days=5), uuid.uuid4().hex[:6]
    second_day = first_day + timedelta(days=1)
    env = {**os.environ, "CP_LANDING_DIR": str(landing_dir)}
    apps = applications_for(first_day, tag, 5)
    produce(platform, APPLICATIONS_TOPIC, apps)
    replayed = {**apps[2], "timestamp": event_time(second_day, 1)}  # the same application, a day later
    later = applications_for(second_day, tag + "b", 3)
    produce(platform, APPLICATIONS_TOPIC, [replayed, *later])
    land(env)
    score(platform, first_day, f"test-conflict-{tag}-1")
    summary = score(platform, second_day, f"test-conflict-{tag}-2")
    assert summary["tables"]["credit_scores"]["loaded"] == 3
    assert summary["tables"]["credit_scores"]["conflicts"] == 1
    assert query(platform, "SELECT business_date FROM credit_scores WHERE application_id = %s",
                 replayed["application_id"]) == [(first_day,)]
    issue = query(platform, "SELECT rule, observed_value, issue FROM data_quality_issues WHERE record_id = %s "
                  "AND data_date = %s", replayed["application_id"], second_day)
    assert issue and issue[0][0] == "unique_across_dates" and issue[0][1] == str(first_day)


def test_policy_exceptions_in_mongodb_decide_matching_applications_with_an_audit_trail(platform, landing_dir):
    """Governance: the scoring job applies the `policies` document's exceptions (first match wins,
    validity dates, fraud always first) exactly as rules.decide does, and records which one applied,
    when and in which run."""
    day, tag = BASE_DAY + timedelta(days=8), uuid.uuid4().hex[:6]
    exceptions = [
        {"id": "branch-in-person", "reason": "branch applications are decided in person",
         "approved_by": "credit-committee", "match": {"channel": "branch"}, "decision": "manual_review"},
        {"id": "education-25k", "reason": "education loans up to 25,000", "approved_by": "chief-risk-officer",
         "match": {"loan_purpose": ["education"]}, "thresholds": {"instant_approval_max_amount": 25000},
         "valid_from": str(day)},
        {"id": "expired-web", "reason": "a past campaign", "approved_by": "cro", "match": {"channel": "web"},
         "decision": "manual_review", "valid_to": str(day - timedelta(days=1))},
    ]
    cases = [("branch", "car", 780, 100.0), ("web", "education", 780, 20000.0), ("mobile", "education", 780, 26000.0),
             ("web", "car", 780, 100.0), ("branch", "education", 780, 100.0), ("mobile", "education", 780, 100.0)]
    apps = applications_for(day, tag, len(cases))
    for row, (channel, purpose, credit_score, amount) in zip(apps, cases, strict=True):
        row.update(channel=channel, loan_purpose=purpose, credit_score=credit_score, loan_amount=amount)
    alerted = apps[-1]["application_id"]
    produce(platform, APPLICATIONS_TOPIC, apps)
    with MongoClient(platform.mongo_uri) as client:
        db = client[MONGO_DB]
        original = db.policies.find_one({"_id": "lending-default"})
        db.fraud_alerts.replace_one({"_id": f"shared_device:{alerted}"}, {
            "rule": "shared_device", "severity": "high", "reason": "test", "user_id": "U",
            "event_type": "application", "event_id": alerted,
            "event_time": datetime(day.year, day.month, day.day, tzinfo=UTC), "detected_at": datetime.now(UTC)},
            upsert=True)
        db.policies.update_one({"_id": "lending-default"},
                               {"$set": {"exceptions": exceptions, "version": original["version"] + 1}})
        try:
            land({**os.environ, "CP_LANDING_DIR": str(landing_dir)})
            run_id = f"test-exceptions-{tag}"
            summary = score(platform, day, run_id)
        finally:
            db.policies.replace_one({"_id": "lending-default"}, original)
    assert summary["policy"] == f"lending-default v{original['version'] + 1}"
    parsed = tuple(PolicyException.from_document(e, DEFAULT_POLICY) for e in exceptions)
    rows = {r[0]: r[1:] for r in query(
        platform, "SELECT application_id, decision, policy_exception, decision_reason, decided_at, scoring_run_id, "
        "policy_version FROM credit_scores WHERE business_date = %s", day)}
    assert len(rows) == len(apps)
    for app in apps:
        decision, exception, reason, decided_at, row_run, version = rows[app["application_id"]]
        want = decide(app, app["application_id"] == alerted, day, DEFAULT_POLICY, parsed)
        assert (decision, exception) == want, (app["channel"], app["loan_purpose"], app["loan_amount"])
        assert decided_at is not None and row_run == run_id and version == original["version"] + 1
        if exception:
            assert reason.startswith(f"policy exception {exception} (") and "approved by" in reason
    got = [rows[a["application_id"]][:2] for a in apps]
    assert got == [("manual_review", "branch-in-person"), ("instant_approval", "education-25k"),
                   ("manual_review", "education-25k"), ("instant_approval", None),
                   ("manual_review", "branch-in-person"), ("fraud_review", None)]
    # analysts see the same trail in the reporting layer
    with psycopg.connect(platform.postgres_uri(ROLE_BI)) as conn:
        seen = conn.execute('SELECT "Policy Exception", "Scoring Run ID" FROM bi.fact_applications '
                            'WHERE "Application ID" = %s', (apps[0]["application_id"],)).fetchone()
    assert seen == ("branch-in-person", run_id)


def test_gx_reads_the_warehouse_constraints_it_need_not_check_again_from_the_catalog(platform, scored_day):
    from credit_platform.quality.expectations import enforced_constraints

    scores = enforced_constraints(platform, "credit_scores")
    assert "application_id" in scores.unique and {"user_id", "credit_score", "risk_level"} <= scores.not_null
    assert "transaction_id" in enforced_constraints(platform, "processed_transactions").unique
