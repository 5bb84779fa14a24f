"""Hostile input through the real front doors: each record that once slipped past detection or
stopped a stage is refused with a reason a person can act on, its valid neighbours arrive, the
stream still alerts afterwards, and a day holding such records (written past the validating
producer) still loads."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime, timedelta, timezone

import polars as pl
import psycopg
import pytest

from credit_platform.contracts.events import MAX_RECORD_BYTES
from credit_platform.contracts.names import APPLICATIONS_TOPIC, KAFKA_PRODUCER, ROLE_ETL, dlq_topic
from credit_platform.ingest import landing, producer
from credit_platform.metrics import read_pushgateway
from tests.helpers.fraud_runs import by_rule
from tests.integration.test_batch import applications_for, land, produce_raw, query, score
from tests.integration.test_producer import consume_all

pytestmark = pytest.mark.integration


def now_iso(delta: timedelta = timedelta(0)) -> str:
    return (datetime.now(UTC) + delta).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def app(i: int, **changes: object) -> dict:
    event = {"schema_version": 1, "application_id": f"APP-HOSTILE-{i}", "user_id": f"U-H{i}", "credit_score": 700,
             "loan_amount": 1000.0, "timestamp": now_iso(timedelta(minutes=-30 + i)), "annual_income": 50000.0,
             "loan_term_months": 36, "loan_purpose": "car", "employment_status": "employed", "channel": "web",
             "device_id": f"D-H{i}", "city": "Austin", "latitude": 30.2, "longitude": -97.7}
    event.update(changes)
    return event


def line(event: dict, **raw: str) -> bytes:
    """JSON of the event; `raw` puts literal tokens (Infinity, NaN, 1e400) that json cannot write."""
    text = json.dumps(event)
    for field, token in raw.items():
        text = text.replace(f'"{field}": "@"', f'"{field}": {token}')
    return text.encode()


# (record, the field it breaks, words the reason must contain)
HOSTILE = [
    (line(app(1, timestamp="9999-12-31T00:00:00.000Z")), "timestamp", "later than now"),
    (line(app(2, annual_income="@", loan_amount=20000.0, credit_score=400), annual_income="Infinity"),
     "annual_income", "finite"),
    (line(app(3, annual_income="@"), annual_income="1e400"), "annual_income", "finite"),
    (line(app(4, latitude="@"), latitude="NaN"), "latitude", "finite"),
    (line(app(5, city="Aus\u0000tin")), "city", "control character"),
    (line(app(6, user_id="U\u001b[2J")), "user_id", "control character"),
    (line(app(7, city="A" * 5000)), "city", "at most 128"),
    (line(app(8, city="B" * (2 * 1024 * 1024))), None, "at most 65,536 are accepted"),
    (line(app(9, timestamp=now_iso(timedelta(hours=2)))), "timestamp", "later than now"),
]


def test_each_hostile_record_is_refused_with_its_reason_and_its_neighbours_arrive(platform, topic, tmp_path):
    valid = [line(app(20 + i)) for i in range(4)]
    duplicate = valid[1]
    # a BOM before the first line (as some editors write), hostile records between valid ones, a repeated id
    lines = [b"\xef\xbb\xbf" + valid[0], *[h for h, _, _ in HOSTILE[:5]], valid[1], *[h for h, _, _ in HOSTILE[5:]],
             valid[2], duplicate, valid[3], b"{\"application_id\": \"APP-NUL\x00\"}"]
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    summary = producer.produce(platform, APPLICATIONS_TOPIC, producer.read_lines(path), destination=topic,
                               progress=False, source="test:hostile.jsonl")
    # every record counted once: read = sent + invalid, nothing failed at the broker
    assert (summary.read, summary.sent, summary.invalid, summary.failed) == (len(lines), 4, len(HOSTILE) + 2, 0)
    assert summary.complete

    arrived = [json.loads(r.value)["application_id"] for r in consume_all(platform, topic, 4)]
    assert sorted(arrived) == sorted(json.loads(v)["application_id"] for v in valid)

    dead = [json.loads(r.value) for r in consume_all(platform, dlq_topic(topic), summary.invalid)]
    assert len(dead) == summary.invalid
    by_id = {d["record_id"]: d for d in dead}
    for record, field, says in HOSTILE:
        record_id = json.loads(record)["application_id"] if len(record) < MAX_RECORD_BYTES else None
        entry = by_id[record_id] if record_id else next(d for d in dead if d["raw_bytes"] == len(record))
        assert says in entry["reason"], entry["reason"]
        assert field is None or entry["errors"][0]["column"] == field
        assert len(entry["raw_payload"].encode()) <= MAX_RECORD_BYTES + 3 * 1024  # kept, but bounded
    assert "duplicate of line" in by_id["APP-HOSTILE-21"]["reason"]
    assert any("Invalid JSON" in d["reason"] for d in dead)  # the raw NUL byte

    with psycopg.connect(platform.postgres_uri(ROLE_ETL)) as conn:
        issues = conn.execute("SELECT record_id, issue, rule FROM data_quality_issues WHERE run_id = %s",
                              (summary.run_id,)).fetchall()
    rules = {r[2] for r in issues}
    assert {"event_time_ahead", "finite_number", "string_pattern_mismatch", "string_too_long", "record_size",
            "unique", "json_invalid"} <= rules
    assert len({r[0] for r in issues}) == summary.invalid

    # and the metrics an operator watches count them: invalid records by rule, on the Pushgateway
    pushed = [line for line in read_pushgateway(platform).splitlines()
              if line.startswith("producer_records_invalid_total{") and f'topic="{topic}"' in line]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in pushed) == summary.invalid
    assert {"event_time_ahead", "finite_number", "record_size", "unique"} <= {
        line.split('rule="', 1)[1].split('"', 1)[0] for line in pushed}


@pytest.mark.parametrize("fraud_run", [(2_000, 9)], indirect=True)
def test_refused_records_do_not_switch_detection_off(fraud_run):
    """A far-future event and an infinite income (refused by the producer, and the far-future one also
    written straight to Kafka), then a seed-rule case and a velocity burst: both alerted. Records the
    stream cannot read or that break the contract, written past the producer, are each in its
    dead-letter topic with the reason and their offset; none stops the job or hides a neighbour."""
    fraud_run.submit()
    hostile = [HOSTILE[0][0], HOSTILE[1][0]]
    summary = producer.produce(fraud_run.settings, APPLICATIONS_TOPIC, hostile, destination=fraud_run.apps_topic,
                               progress=False)
    assert summary.invalid == 2 and summary.sent == 0
    # and the same far-future record written past the validating producer, by a holder of the
    # producer's Kafka credentials: the stream's own bound keeps it from carrying the watermark
    from kafka import KafkaProducer

    raw = KafkaProducer(**fraud_run.settings.kafka(KAFKA_PRODUCER), acks="all")
    raw.send(fraud_run.apps_topic, key=b"U-H1", value=HOSTILE[0][0]).get(timeout=30)
    # a seed-rule case the stream could once not read (Infinity income; or a NUL in its city), or
    # could read only partly (a score as text): refused with the reason, in the DLQ, never silent
    seed_case = {"credit_score": 400, "loan_amount": 20000.0, "timestamp": now_iso(timedelta(minutes=-6))}
    unreadable = {
        "APP-HOSTILE-300": line(app(300, **seed_case, annual_income="@"), annual_income="Infinity"),
        "APP-HOSTILE-301": line(app(301, **{**seed_case, "city": "Ber\u0000lin"})),
        "APP-HOSTILE-302": line(app(302, **{**seed_case, "credit_score": "four hundred"})),
        "APP-HOSTILE-303": line(app(303, **seed_case))[:50],
    }
    offsets = {key: raw.send(fraud_run.apps_topic, key=b"U-H3", value=value).get(timeout=30).offset
               for key, value in unreadable.items()}
    # the same case with its time in another zone: read, judged and alerted
    zoned = app(304, **{**seed_case, "timestamp": (datetime.now(UTC) - timedelta(minutes=6)).astimezone(
        timezone(timedelta(hours=2))).isoformat(timespec="milliseconds")})
    raw.send(fraud_run.apps_topic, key=b"U-H3", value=line(zoned)).get(timeout=30)
    raw.close()
    base = datetime.now(UTC) - timedelta(minutes=20)
    burst = [app(100 + k, user_id="U-BURST", device_id="D-BURST", timestamp=(base + timedelta(minutes=k)).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")) for k in range(5)]
    seed = app(200, credit_score=400, loan_amount=20000.0, timestamp=now_iso(timedelta(minutes=-5)))
    sent = producer.produce(fraud_run.settings, APPLICATIONS_TOPIC, [line(e) for e in (*burst, seed)],
                            destination=fraud_run.apps_topic, progress=False)
    assert sent.sent == 6
    fraud_run.expected = {f"application_velocity:APP-HOSTILE-{100 + k}" for k in (3, 4)} | {
        "large_loan_low_score:APP-HOSTILE-200", "large_loan_low_score:APP-HOSTILE-304"}
    fraud_run.finish()
    got = fraud_run.wait_for_alerts(timeout=180)
    assert fraud_run.expected <= got, by_rule(fraud_run.expected - got)
    assert not {a for a in got if a.split(":")[1] in unreadable}
    refused = {r["offset"]: r for r in fraud_run.refused(at_least=len(unreadable))}
    reasons = {}
    for key, offset in offsets.items():
        envelope = refused[offset]
        assert envelope["source_topic"] == fraud_run.apps_topic and envelope["source"] == "fraud-stream"
        assert envelope["raw_payload"] == unreadable[key].decode() and envelope["refused_at"]
        reasons[key] = envelope["reason"]
    assert reasons["APP-HOSTILE-300"].startswith("not JSON: Non-standard token 'Infinity'"), reasons
    assert reasons["APP-HOSTILE-301"] == "city: contains a control character", reasons
    assert reasons["APP-HOSTILE-302"].startswith("a value of the wrong type"), reasons
    assert reasons["APP-HOSTILE-303"].startswith("not JSON"), reasons
    assert refused[offsets["APP-HOSTILE-301"]]["record_id"] == "APP-HOSTILE-301"
    assert len(refused) == len(unreadable)  # the valid records of the same topic are not in it


def test_a_day_with_hostile_rows_past_the_producer_still_loads(platform, landing_dir):
    """A foreign writer puts a NUL in a city and an Infinity income on the topic: landing keeps both
    (the one it cannot parse under the date of its Kafka timestamp, with the reason), the nightly job
    refuses the NUL row with its reason and loads every other row of the day."""
    day = datetime(1985, 1, 1, tzinfo=UTC).date() + timedelta(days=int(uuid.uuid4().int % 3000))
    tag = uuid.uuid4().hex[:6]
    rows = applications_for(day, tag, 20)
    nul, infinite = dict(rows[3]), dict(rows[4])
    nul["city"] = "Ber\u0000lin"
    infinite["annual_income"] = "@"
    payloads = [json.dumps(r).encode() for i, r in enumerate(rows) if i not in (3, 4)]
    payloads += [json.dumps(nul).encode(), line(infinite, annual_income="Infinity")]
    produce_raw(platform, APPLICATIONS_TOPIC, payloads)
    land({**os.environ, "CP_LANDING_DIR": str(landing_dir)})
    summary = score(platform, day, f"test-hostile-{tag}")
    table = summary["tables"]["credit_scores"]
    assert (table["landed"], table["invalid"], table["loaded"]) == (19, 1, 18)
    today = datetime.now(UTC).date()
    unparsed = pl.concat([pl.read_parquet(f) for f in landing.landed_files(platform, APPLICATIONS_TOPIC, today)],
                         how="diagonal_relaxed").filter(pl.col("_raw").str.contains(rows[4]["application_id"]))
    assert unparsed.height == 1 and unparsed["_error"][0].startswith("not a valid event")
    issues: dict[str, list[str]] = {}
    for record_id, issue in query(platform, "SELECT record_id, issue FROM data_quality_issues WHERE run_id = %s",
                                  f"test-hostile-{tag}"):
        issues.setdefault(record_id, []).append(issue)
    assert any("control character" in i for i in issues[rows[3]["application_id"]]), issues
    loaded = {r[0] for r in query(platform, "SELECT application_id FROM credit_scores WHERE business_date = %s", day)}
    assert loaded == {r["application_id"] for i, r in enumerate(rows) if i not in (3, 4)}
