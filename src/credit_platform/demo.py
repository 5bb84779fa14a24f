"""`credit-platform demo`: the main job end to end, driven through Airflow's REST API.

generate_data (the day, and a history of earlier applications with their loan outcomes) →
fraud_stream_supervisor (starts the Flink job) → wait until the job has read everything →
kafka_landing → train_credit_model (the first champion scorecard, from the history) →
nightly_risk_scoring for the data's date → data_quality, each a DAG run a person can open in the
Airflow UI, then a summary of what landed where.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from credit_platform.config import Settings
from credit_platform.contracts import names
from credit_platform.contracts.names import KAFKA_MONITOR, MONGO_DB, ROLE_ETL, STREAM_TOPICS
from credit_platform.errors import PlatformError
from credit_platform.orchestration.airflow_client import AirflowClient

DAGS = ("generate_data", "fraud_stream_supervisor", "kafka_landing", "train_credit_model", "nightly_risk_scoring",
        "data_quality", "platform_healthcheck")


@dataclass
class DemoOptions:
    applications: int = 20_000
    transactions: int = 20_000
    applications_file: Path | None = None
    transactions_file: Path | None = None
    business_date: date | None = None
    seed: int = 42
    invalid: int = 25  # of each kind, broken on purpose to show the DLQ and data_quality_issues at work
    # earlier applications with their loan outcomes, for the scorecard to learn from: with a 90-day
    # performance window, the first 150 of these 240 days give about 37k applications with outcomes
    history_days: int = 240
    history_applications: int = 60_000


def _say(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def _dates_in(path: Path) -> list[date]:
    """The event dates a replay file covers (lines that do not parse are the producer's to refuse)."""
    import orjson

    dates = set()
    with open(path, "rb") as f:
        for line in f:
            try:
                stamp = orjson.loads(line).get("timestamp")
                dates.add(datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC).date())
            except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
                continue
    return sorted(dates)


def _run(client: AirflowClient, dag_id: str, conf: dict | None = None, timeout: float = 900) -> str:
    run_id = client.trigger(dag_id, conf, logical_date=datetime.now(UTC).isoformat())
    _say(f"{dag_id}: triggered run {run_id}")
    started = time.monotonic()
    state = client.wait_for_run(dag_id, run_id, timeout=timeout,
                                on_progress=lambda s: _say(f"{dag_id}: {s} ({time.monotonic() - started:.0f}s)"))
    tasks = {t["task_id"]: t["state"] for t in client.task_instances(dag_id, run_id)}
    _say(f"{dag_id}: {state} in {time.monotonic() - started:.0f}s  tasks: "
         + ", ".join(f"{k}={v}" for k, v in tasks.items()))
    if state != "success":
        raise PlatformError(f"DAG run {dag_id}/{run_id} ended {state}; open it in the Airflow UI "
                           f"({client.base}/dags/{dag_id}) for the task logs")
    return run_id


def _wait_for_fraud_job(settings: Settings, timeout: float = 300) -> None:
    """Until the Flink job's committed offsets (it commits on each checkpoint) reach the topics' ends."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(**settings.kafka(KAFKA_MONITOR), group_id=names.FRAUD_GROUP,
                             enable_auto_commit=False)
    try:
        partitions = [TopicPartition(t, p) for t in STREAM_TOPICS for p in consumer.partitions_for_topic(t) or ()]
        deadline = time.monotonic() + timeout
        while True:
            ends = consumer.end_offsets(partitions)
            behind = sum(max(0, ends[tp] - (consumer.committed(tp) or 0)) for tp in partitions)
            if behind == 0:
                _say("fraud job has read every event (offsets committed with its last checkpoint)")
                return
            if time.monotonic() > deadline:
                _say(f"fraud job still {behind:,} events behind after {timeout:.0f}s; going on")
                return
            time.sleep(3)
    finally:
        consumer.close(autocommit=False)


def run(settings: Settings, options: DemoOptions) -> dict:
    client = AirflowClient(settings)
    for dag_id in DAGS:
        client.wait_for_dag(dag_id)
        if dag_id != "train_credit_model":  # unpaused once there is a history to learn from (below)
            client.unpause(dag_id)
    _say(f"Airflow: {len(DAGS)} DAGs parsed and unpaused")

    if options.applications_file or options.transactions_file:
        dates = sorted({d for f in (options.applications_file, options.transactions_file) if f
                        for d in _dates_in(f)})
        conf = {"applications_file": str(options.applications_file.resolve()) if options.applications_file else "",
                "transactions_file": str(options.transactions_file.resolve()) if options.transactions_file else "",
                "applications": 0, "transactions": 0}
    else:
        day = options.business_date or (datetime.now(UTC).date() - timedelta(days=1))
        dates = [day]
        conf = {"applications": options.applications, "transactions": options.transactions, "seed": options.seed,
                "start": f"{day}T00:00:00Z", "invalid": options.invalid, "history_days": options.history_days,
                "history_applications": options.history_applications}
    runs = {"generate_data": _run(client, "generate_data", conf)}
    runs["fraud_stream_supervisor"] = _run(client, "fraud_stream_supervisor")
    _wait_for_fraud_job(settings)
    runs["kafka_landing"] = _run(client, "kafka_landing")
    if options.history_days and options.history_applications and not (
            options.applications_file or options.transactions_file):
        # Unpausing also schedules the month's run (as of its 1st): it trains first and the demo's
        # model is then judged against it on the same applications (champion/challenger).
        client.unpause("train_credit_model")
        runs["train_credit_model"] = _run(client, "train_credit_model", {"as_of": str(min(dates))})
    for day in dates:
        runs[f"nightly_risk_scoring {day}"] = _run(client, "nightly_risk_scoring", {"business_date": str(day)})
        runs[f"data_quality {day}"] = _run(client, "data_quality", {"business_date": str(day)})
    return summary(settings, dates, runs)


def summary(settings: Settings, dates: list[date], runs: dict[str, str]) -> dict:
    import psycopg
    from pymongo import MongoClient

    result: dict = {"dates": [str(d) for d in dates], "runs": runs}
    with psycopg.connect(settings.postgres_uri(ROLE_ETL), connect_timeout=10) as conn:
        produced = conn.execute(
            "SELECT target, rows_in, rows_out, rows_rejected, status, prior_run_id "
            "FROM metadata_table WHERE job = 'generate_data' AND run_id = %s", (runs["generate_data"],)).fetchall()
        result["produced"] = {t.removeprefix("kafka:"): {"read": i, "sent": o, "invalid": int(inv or 0),
                                                         "status": st, "already_produced_by": by}
                              for t, i, o, inv, st, by in produced}
        result["warehouse"] = {
            table: conn.execute(f"SELECT count(*) FROM {table} WHERE business_date = ANY(%s)", (dates,)).fetchone()[0]
            for table in ("credit_scores", "processed_transactions")}
        result["decisions"] = dict(conn.execute(
            "SELECT decision, count(*) FROM credit_scores WHERE business_date = ANY(%s) GROUP BY 1 ORDER BY 1",
            (dates,)).fetchall())
        result["grades"] = {g or "none": n for g, n in conn.execute(
            "SELECT risk_grade, count(*) FROM credit_scores WHERE business_date = ANY(%s) GROUP BY 1 ORDER BY 1",
            (dates,)).fetchall()}
        result["models"] = [dict(zip(("version", "status", "auc", "gini", "ks", "train_rows", "validation_rows",
                                      "report"), r, strict=True)) for r in conn.execute(
            "SELECT version, status, auc, gini, ks, train_rows, validation_rows, report_path FROM credit_models "
            "WHERE status = 'champion' OR version IN (SELECT DISTINCT model_version FROM credit_scores "
            "WHERE business_date = ANY(%s)) ORDER BY trained_at", (dates,)).fetchall()]
        result["psi"] = dict(conn.execute(
            "SELECT characteristic, round(psi::numeric, 4)::float FROM credit_model_monitoring "
            "WHERE business_date = %s ORDER BY psi DESC", (max(dates),)).fetchall())
        result["dq_issues"] = {f"{s} / {r}": n for s, r, n in conn.execute(
            "SELECT source, rule, count(*) FROM data_quality_issues WHERE data_date = ANY(%s) OR run_id = ANY(%s) "
            "GROUP BY 1, 2 ORDER BY 1, 2", (dates, list(runs.values()))).fetchall()}
        result["detection"] = {name: {"alerted": alerted, "false_positives": fp, "on_lookalikes": look,
                                      "precision": prec, "recall": rec}
                               for name, alerted, fp, look, prec, rec in conn.execute(
            "SELECT name, sum(alerted), sum(false_positives), sum(on_lookalikes), "
            "sum(on_fraud)::float / nullif(sum(alerted), 0), sum(caught)::float / nullif(sum(labelled), 0) "
            "FROM fraud_detection_report WHERE kind = 'rule' AND business_date = ANY(%s) GROUP BY name ORDER BY name",
            (dates,)).fetchall()}
        result["card_precision_at_100"] = {str(d): (p, b) for d, p, b in conn.execute(
            "SELECT business_date, precision, best FROM fraud_detection_report WHERE kind = 'cards' "
            "AND business_date = ANY(%s) ORDER BY 1", (dates,)).fetchall()}
        result["lineage_rows"] = dict(conn.execute(
            "SELECT job, count(*) FROM metadata_table WHERE run_id = ANY(%s) OR run_id LIKE ANY(%s) GROUP BY 1 "
            "ORDER BY 1", (list(runs.values()), [f"{r}:%" for r in runs.values()])).fetchall())
    day_start = datetime.combine(min(dates), datetime.min.time(), UTC)
    day_end = datetime.combine(max(dates), datetime.min.time(), UTC) + timedelta(days=1)
    with MongoClient(settings.mongo_uri, serverSelectionTimeoutMS=5000) as client:
        alerts = client[MONGO_DB].fraud_alerts.find({"event_time": {"$gte": day_start, "$lt": day_end}}, {"rule": 1})
        result["alerts_by_rule"] = dict(sorted(Counter(a["rule"] for a in alerts).items()))
    result["urls"] = {
        "Airflow UI (user admin, password in "
        f"{settings.airflow_passwords_file})": f"{settings.airflow_url}/dags",
        "Data Docs (in Airflow: Browse > Data Docs)": f"{settings.airflow_url}/data-docs/",
        "Business dashboards, Superset (user admin, password superset_admin_password in "
        f"{settings.secrets_file}; in Airflow: Browse > Business Dashboards)":
            f"{settings.superset_public_url}/dashboard/list/",
        "Flink UI": settings.flink_rest_url,
        "Prometheus": settings.prometheus_url,
        "Credit model reports (in Airflow: Browse > Credit Model Reports)": f"{settings.airflow_url}/model-reports/",
    }
    return result


def render(result: dict) -> str:
    lines = [f"Demo summary for business date(s) {', '.join(result['dates'])}", "", "events produced:"]
    for topic, row in result["produced"].items():
        if row["status"] == "skipped":
            lines.append(f"  {topic:<30} already produced by run {row['already_produced_by']}; nothing sent again")
        else:
            lines.append(f"  {topic:<30} read {row['read']:>8,}  sent {row['sent']:>8,}  invalid {row['invalid']:>6,}")
    lines.append("fraud alerts in MongoDB (credit.fraud_alerts) by rule:")
    lines += [f"  {rule:<22} {n:>8,}" for rule, n in result["alerts_by_rule"].items()] or ["  (none)"]
    if result.get("detection"):
        def f(x: float | None) -> str:
            return "    -" if x is None else f"{x:.3f}"

        lines.append("detection report (fraud_detection_report, against the labels; false positives: of them on "
                     "benign look-alikes):")
        from credit_platform.rules.fraud import LEARNED_RULES

        lines += [f"  {rule:<22} no alerts: the learned score is off until a fraud model is published "
                  "(`credit-platform train-fraud --publish`)" if rule in LEARNED_RULES and not d["alerted"] else
                  f"  {rule:<22} alerted {d['alerted']:>6,}  precision {f(d['precision'])}  recall {f(d['recall'])}  "
                  f"false positives {d['false_positives']:>4,} ({d['on_lookalikes'] or 0:,})"
                  for rule, d in result["detection"].items()]
        lines += [f"  card precision@100 on {day}: {p:.3f} (best achievable {b:.3f})"
                  for day, (p, b) in result.get("card_precision_at_100", {}).items()]
    lines.append("warehouse rows:")
    lines += [f"  {table:<22} {n:>8,}" for table, n in result["warehouse"].items()]
    for m in result.get("models", []):
        lines.append(f"credit model {m['version']} ({m['status']}): out-of-time AUC {m['auc']:.3f}, "
                     f"Gini {m['gini']:.3f}, KS {m['ks']:.3f}; trained on {m['train_rows']:,}, judged on "
                     f"{m['validation_rows']:,}; report {m['report']}")
    lines.append("lending decisions:  " + ", ".join(f"{k} {v:,}" for k, v in result["decisions"].items()))
    lines.append("risk grades:        " + ", ".join(f"{k} {v:,}" for k, v in result.get("grades", {}).items()))
    if result.get("psi"):
        lines.append("population stability (PSI vs the training sample; alert at 0.25):  "
                     + ", ".join(f"{k} {v:.3f}" for k, v in result["psi"].items()))
    lines.append("data quality issues by check:")
    lines += [f"  {check:<60} {n:>6,}" for check, n in result["dq_issues"].items()] or ["  (none)"]
    lines.append("lineage rows (metadata_table) of these runs:  "
                 + ", ".join(f"{k} {v}" for k, v in result["lineage_rows"].items()))
    lines.append("")
    lines += [f"{name}: {url}" for name, url in result["urls"].items()]
    return "\n".join(lines)


def save(settings: Settings, result: dict) -> Path:
    path = settings.home / "demo-summary.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    return path

