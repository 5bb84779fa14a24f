"""Landing: Kafka topics → Parquet files partitioned by event date, exactly-once in effect.

A run reads every partition of `credit_applications` and `transactions` from the offsets the
landing directory has committed up to the end offsets seen when the run started, in chunks. For each
chunk of one Kafka partition it

1. writes one Parquet file per event date, named after the Kafka partition and the first and last
   offset it holds (`landing/<topic>/dt=YYYY-MM-DD/<topic>-p<P>-<first>-<last>.parquet`); written to
   a temporary name, fsynced, renamed, and the directory fsynced;
2. adds the files to their date's completion marker (`dt=…/_SUCCESS`, a JSON manifest of the files,
   their offsets and row counts; replaced atomically);
3. commits: `landing/<topic>/_offsets.json` (the next offset of each partition, replaced atomically)
   is the commit point; the same offsets are then committed to Kafka for the consumer group
   `credit-platform-landing`, so lag monitoring sees them.

Readers take exactly the marker's files whose offsets are below the committed offset. A crash before
step 3 leaves files past the committed offset; the next run deletes them and their marker entries,
reads the same offsets again and writes the same file names: nothing is lost and nothing is landed
twice. The landing directory, not Kafka, is the source of truth, so expired consumer-group offsets
cannot skip data, and an emptied landing directory is landed again from the start of the log.
One run at a time (a lock file).

Every record is landed, also a malformed one: its typed columns are null, `_raw` keeps the payload
and `_error` says what is wrong. It also goes to `<topic>.dlq` and `data_quality_issues`, so the
scoring job can refuse it without a record ever disappearing.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from credit_platform.config import Settings
from credit_platform.contracts import names
from credit_platform.contracts.events import contract_for, field_rules
from credit_platform.contracts.names import INPUT_TOPICS, KAFKA_LANDER, dlq_topic
from credit_platform.lineage import Lineage, Step
from credit_platform.quality.issues import Issue, write_issues

log = logging.getLogger(__name__)

GROUP_ID = names.LANDING_GROUP
MARKER = "_SUCCESS"
OFFSETS = "_offsets.json"
_FILE = re.compile(r"^(?P<topic>.+)-p(?P<partition>\d+)-(?P<first>\d+)-(?P<last>\d+)\.parquet$")


def landing_root(settings: Settings) -> Path:
    return Path(os.environ.get("CP_LANDING_DIR", settings.home / "landing")).resolve()


def date_dir(root: Path, topic: str, day: date | str) -> Path:
    return root / topic / f"dt={day}"


def read_marker(directory: Path) -> dict:
    path = directory / MARKER
    if not path.exists():
        return {"files": {}}
    return json.loads(path.read_text())


def committed_offsets(root: Path, topic: str) -> dict[int, int]:
    """Next offset to land per partition (the landing's commit point)."""
    path = root / topic / OFFSETS
    return {int(p): o for p, o in json.loads(path.read_text()).items()} if path.exists() else {}


def landed_files(settings: Settings, topic: str, day: date | str) -> list[Path]:
    """The committed files of one topic and date, in offset order (what readers must read)."""
    root = landing_root(settings)
    directory = date_dir(root, topic, day)
    files = read_marker(directory)["files"]
    committed = committed_offsets(root, topic)
    names = [n for n, f in files.items() if f["first_offset"] < committed.get(f["partition"], 0)]
    return [directory / n for n in sorted(names, key=lambda n: (files[n]["partition"], files[n]["first_offset"]))]


# ---- durable writes ----------------------------------------------------------------------------
def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, write) -> None:  # noqa: ANN001
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    tmp.replace(path)
    _fsync_dir(path.parent)


def _write_marker(directory: Path, topic: str, day: str, files: dict) -> None:
    body = {"topic": topic, "dt": day, "rows": sum(f["rows"] for f in files.values()),
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"), "files": files}
    _atomic_write(directory / MARKER, lambda p: p.write_text(json.dumps(body, indent=1, sort_keys=True)))


# ---- parsing -----------------------------------------------------------------------------------
def _polars_schema(topic: str):  # noqa: ANN202
    import polars as pl

    types = {"string": pl.String, "int": pl.Int64, "float": pl.Float64, "bool": pl.Boolean, "timestamp": pl.String}
    return {r.name: types[r.type] for r in field_rules(contract_for(topic).model)}


def _null_non_json_numbers(joined: bytes) -> bytes:
    """`Infinity`, `-Infinity` and `NaN` written as values (strict JSON has no such numbers, and one
    fails a bulk parse of the whole chunk) read as null; the same words inside strings stay. Found
    with bytes.find (memchr speed): a regular expression over the chunk cost more than its parse."""
    cuts: list[tuple[int, int]] = []
    for token in (b"Infinity", b"NaN"):
        at = joined.find(token)
        while at != -1:
            start, end = at, at + len(token)
            if start > 0 and joined[start - 1:start] == b"-":
                start -= 1
            back = start - 1
            while back >= 0 and joined[back] in b" \t\r":
                back -= 1
            before = joined[back:back + 1] if back >= 0 else b""
            after = joined[end:end + 1]
            if before in (b":", b"[", b",") and not (after.isalnum() or after == b"_"):
                cuts.append((start, end))
            at = joined.find(token, end)
    if not cuts:
        return joined
    parts, last = [], 0
    for start, end in sorted(cuts):
        parts += [joined[last:start], b"null"]
        last = end
    parts.append(joined[last:])
    return b"".join(parts)


def parse_chunk(topic: str, values: list[bytes]):  # noqa: ANN201
    """Typed columns for the payloads, plus `_raw`/`_error` for those that do not parse.

    One bulk NDJSON pass, tolerant of type errors (they read as nulls); if the chunk holds non-JSON
    numbers (`Infinity`, `NaN`), a second pass reads them as nulls. Only the rows with a required
    value missing are looked at again, one by one: a payload that is not strict JSON, or has a value
    where the typed row has none, is marked with the reason and keeps its raw text. A bad record
    never costs its neighbours a parse of their own. Should the bulk pass still fail (truncated JSON,
    a raw control character), each payload is screened first and the rest parsed in bulk again.
    """
    import polars as pl

    schema = _polars_schema(topic)
    joined = b"\n".join(values)
    frame = _tolerant_parse(joined, schema)
    if frame is None:  # only then look for non-JSON numbers: the scan costs a third of a parse
        frame = _tolerant_parse(_null_non_json_numbers(joined), schema)
    if frame is None or frame.height != len(values):  # not JSON at all, an empty or multi-line payload
        return _screened(topic, values, schema)
    errors = _mistyped(topic, frame, [None] * len(values), values, list(range(len(values))))
    raws = [None if e is None else v.decode("utf-8", errors="replace") for v, e in zip(values, errors, strict=True)]
    return frame.with_columns(pl.Series("_raw", raws, pl.String), pl.Series("_error", errors, pl.String))


def _tolerant_parse(joined: bytes, schema):  # noqa: ANN001, ANN202
    import polars as pl

    try:
        return pl.read_ndjson(joined, schema=schema, ignore_errors=True)
    except Exception:  # noqa: BLE001 - not JSON somewhere in the chunk
        return None


def _mistyped(topic: str, typed, errors: list[str | None], values: list[bytes],  # noqa: ANN001
              positions: list[int]) -> list[str | None]:
    """Mark the rows of `typed` (payload i at row k: positions[k] = i) with a null where the payload
    has a value (a type error, or a non-JSON number), or whose payload is not
    strict JSON."""
    import polars as pl

    # every field a record normally carries (required, or with a default): a null there is suspect;
    # labels that are mostly absent (fraud_pattern) are left to the nightly job's checks
    fields = contract_for(topic).model.model_fields
    required = [name for name, info in fields.items() if info.is_required() or info.default is not None]
    suspects = typed.with_row_index("_pos").filter(pl.any_horizontal(pl.col(required).is_null()))
    for row, *nulls in suspects.select("_pos", *required).iter_rows():
        i = positions[row]
        error, document = _screen(values[i])
        if error is not None:
            errors[i] = error
            continue
        wrong = [c for c, v in zip(required, nulls, strict=True) if v is None and document.get(c) is not None]
        if wrong:
            errors[i] = f"not a valid event: {wrong[0]} has the wrong type (got {str(document[wrong[0]])[:80]!r})"
    return errors


def _screened(topic: str, values: list[bytes], schema):  # noqa: ANN001, ANN202
    """The slow path: each payload screened by strict JSON rules, the good ones parsed in bulk."""
    import polars as pl

    errors: list[str | None] = [_screen(v)[0] for v in values]
    good = [i for i, e in enumerate(errors) if e is None]
    typed = pl.read_ndjson(b"\n".join(values[i].strip() for i in good), schema=schema, ignore_errors=True) \
        if good else pl.DataFrame(schema=schema)
    errors = _mistyped(topic, typed, errors, values, good)
    nulls = pl.DataFrame({n: pl.Series(n, [None] * len(values), t) for n, t in schema.items()})
    rows = nulls.with_row_index("_i").update(typed.with_columns(pl.Series("_i", good, pl.UInt32)), on="_i")
    raws = [None if e is None else v.decode("utf-8", errors="replace") for v, e in zip(values, errors, strict=True)]
    return rows.drop("_i").with_columns(pl.Series("_raw", raws, pl.String), pl.Series("_error", errors, pl.String))


def _screen(value: bytes) -> tuple[str | None, dict | None]:
    """(why the payload is not an event, None) or (None, the parsed object), by strict JSON rules."""
    import orjson

    stripped = value.strip()
    if not stripped:
        return "not a valid event: empty payload", None
    if b"\n" in stripped:
        return "not a valid event: payload spans several lines", None
    try:
        document = orjson.loads(stripped)
    except orjson.JSONDecodeError as exc:
        return _parse_error(exc), None
    if not isinstance(document, dict):
        return "not a valid event: not a JSON object", None
    return None, document


def _parse_error(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"not a valid event: {text}"[:300]


# ---- the run -----------------------------------------------------------------------------------
@dataclass
class TopicSummary:
    topic: str
    records: int = 0
    invalid: int = 0
    files: int = 0
    dates: set[str] = field(default_factory=set)
    recovered_files: int = 0  # files of a crashed run removed before landing again


@dataclass
class LandingSummary:
    run_id: str
    topics: dict[str, TopicSummary]
    seconds: float = 0.0

    @property
    def records(self) -> int:
        return sum(t.records for t in self.topics.values())

    def render(self) -> str:
        lines = [f"landing run {self.run_id}: {self.records:,} records in {self.seconds:.1f}s "
                 f"({self.records / max(self.seconds, 1e-9):,.0f}/s)"]
        for t in self.topics.values():
            lines.append(f"  {t.topic}: {t.records:,} records ({t.invalid:,} invalid) into {t.files} files, "
                         f"dates {', '.join(sorted(t.dates)) or '-'}"
                         + (f"; removed {t.recovered_files} files of an unfinished run" if t.recovered_files else ""))
        return "\n".join(lines)


class Lander:
    def __init__(self, settings: Settings, topics: Iterable[str] = INPUT_TOPICS, *, run_id: str | None = None,
                 chunk_records: int = 250_000, progress: bool = True) -> None:
        self.settings, self.topics = settings, tuple(topics)
        self.run_id = run_id or f"landing-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        self.chunk_records, self.progress = chunk_records, progress
        self.root = landing_root(settings)
        self.summary = LandingSummary(self.run_id, {t: TopicSummary(t) for t in self.topics})
        self._steps: dict[tuple[str, str], Step] = {}
        self._dlq = None  # one DLQ producer per run, opened at the first bad record

    def run(self) -> LandingSummary:
        started = time.monotonic()
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as lock:
            self._lock(lock)
            try:
                self._run()
            finally:
                if self._dlq is not None:
                    self._dlq.close(timeout=10)
        self.summary.seconds = time.monotonic() - started
        self._push_metrics()
        return self.summary

    def _lock(self, lock, timeout: float = 900) -> None:  # noqa: ANN001
        """One run at a time: a second run (hourly landing vs the nightly catch-up) waits its turn."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"another landing run has held {self.root / '.lock'} for {timeout:.0f}s; "
                                       "is it stuck? (see its log)") from None
                log.info("another landing run is active; waiting for it to finish")
                time.sleep(1)

    def _consumer(self):  # noqa: ANN202
        from kafka import KafkaConsumer

        return KafkaConsumer(**self.settings.kafka(KAFKA_LANDER), group_id=GROUP_ID,
                             enable_auto_commit=False, auto_offset_reset="earliest",
                             fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=16 * 1024 * 1024,
                             max_poll_records=50_000, client_id=f"landing-{self.run_id}")

    def _run(self) -> None:
        from kafka import TopicPartition

        consumer = self._consumer()
        try:
            partitions = []
            for topic in self.topics:
                ids = consumer.partitions_for_topic(topic)
                if not ids:
                    raise RuntimeError(f"topic {topic} does not exist on {self.settings.kafka_bootstrap}; "
                                       "run `credit-platform up` to create the topics")
                partitions += [TopicPartition(topic, p) for p in sorted(ids)]
            consumer.assign(partitions)
            beginning = consumer.beginning_offsets(partitions)
            end = consumer.end_offsets(partitions)
            self._committed = {topic: committed_offsets(self.root, topic) for topic in self.topics}
            start = {tp: max(self._committed[tp.topic].get(tp.partition, 0), beginning[tp]) for tp in partitions}
            for topic in self.topics:
                self._recover(topic, self._committed[topic])
            todo = {tp for tp in partitions if start[tp] < end[tp]}
            backlog = sum(end[tp] - start[tp] for tp in todo)
            log.info("landing %s records from %d partitions", f"{backlog:,}", len(todo))
            for tp in partitions:
                if tp in todo:
                    consumer.seek(tp, start[tp])
                else:
                    consumer.pause(tp)
            self._consume(consumer, todo, end, backlog)
        finally:
            consumer.close(autocommit=False)
        Lineage(self.settings, names.LANDING_JOB, self.run_id).record(*self._steps.values())

    def _consume(self, consumer, todo: set, end: dict, backlog: int) -> None:  # noqa: ANN001
        buffers: dict = {tp: [] for tp in todo}
        done = 0
        last_report = time.monotonic()
        while todo:
            batch = consumer.poll(timeout_ms=1000)
            for tp, records in batch.items():
                if tp not in todo:
                    continue
                buffer = buffers[tp]
                buffer.extend(r for r in records if r.offset < end[tp])
                finished = consumer.position(tp) >= end[tp]
                while len(buffer) >= self.chunk_records or (finished and buffer):
                    chunk, buffer[:] = buffer[: self.chunk_records], buffer[self.chunk_records:]
                    self._land_chunk(consumer, tp, chunk)
                    done += len(chunk)
                if finished and not buffer:
                    todo.discard(tp)
                    consumer.pause(tp)
            if self.progress and time.monotonic() - last_report > 5:
                log.info("landed %s / %s records", f"{done:,}", f"{backlog:,}")
                last_report = time.monotonic()

    def _recover(self, topic: str, committed: dict[int, int]) -> None:
        """Remove what a crashed run wrote past the committed offsets (it is read again now)."""
        base = self.root / topic
        for directory in sorted(base.glob("dt=*")):
            for tmp in directory.glob(".*.tmp"):
                tmp.unlink()
            marker = read_marker(directory)
            kept = dict(marker["files"])
            for path in directory.glob("*.parquet"):
                match = _FILE.match(path.name)
                if not match or match["topic"] != topic:
                    continue
                partition, first = int(match["partition"]), int(match["first"])
                if first >= committed.get(partition, 0):
                    log.warning("removing %s: written by a run that did not commit its offsets", path)
                    path.unlink()
                    kept.pop(path.name, None)
                    self.summary.topics[topic].recovered_files += 1
            stale = [name for name in kept if not (directory / name).exists()]
            for name in stale:
                kept.pop(name)
            if kept != marker["files"]:
                _write_marker(directory, topic, directory.name.removeprefix("dt="), kept)

    def _land_chunk(self, consumer, tp, records: list) -> None:  # noqa: ANN001
        import polars as pl
        from kafka.structs import OffsetAndMetadata

        topic = tp.topic
        frame = parse_chunk(topic, [r.value or b"" for r in records])
        kafka_ts = pl.Series("_kafka_timestamp", [r.timestamp for r in records], pl.Int64)
        frame = frame.with_columns(
            pl.lit(tp.partition, pl.Int32).alias("_partition"),
            pl.Series("_offset", [r.offset for r in records], pl.Int64),
            pl.from_epoch(kafka_ts, time_unit="ms").dt.replace_time_zone("UTC").alias("_kafka_timestamp"),
            pl.Series("_key", [r.key.decode("utf-8", "replace") if r.key else None for r in records], pl.String),
        )
        time_field = contract_for(topic).time_field
        parsed = frame[time_field].str.to_datetime(time_zone="UTC", strict=False)
        bad_ts = parsed.is_null() & frame["_error"].is_null()
        if bad_ts.any():  # a record without a usable event time: keep it, dated by Kafka's timestamp
            raws = pl.Series([r.value.decode("utf-8", "replace") if r.value else "" for r in records])
            frame = frame.with_columns(
                pl.when(bad_ts).then(raws).otherwise(pl.col("_raw")).alias("_raw"),
                pl.when(bad_ts).then(pl.lit(f"{time_field}: missing, or not an ISO-8601 time with a zone"))
                .otherwise(pl.col("_error")).alias("_error"))
        frame = frame.with_columns(parsed.alias(time_field))
        frame = frame.with_columns(
            pl.coalesce(time_field, "_kafka_timestamp").dt.date().cast(pl.String).alias("_dt"))
        self._report_invalid(topic, frame.filter(pl.col("_error").is_not_null()))
        summary = self.summary.topics[topic]
        for (day,), part in frame.group_by(["_dt"], maintain_order=True):
            part = part.drop("_dt")
            first, last = part["_offset"].min(), part["_offset"].max()
            directory = date_dir(self.root, topic, day)
            directory.mkdir(parents=True, exist_ok=True)
            name = f"{topic}-p{tp.partition}-{first:012d}-{last:012d}.parquet"
            _atomic_write(directory / name, lambda p, part=part: part.write_parquet(p, compression="zstd",
                                                                                   compression_level=1))
            invalid = int(part["_error"].is_not_null().sum())
            marker = read_marker(directory)
            marker["files"][name] = {"partition": tp.partition, "first_offset": first, "last_offset": last,
                                     "rows": part.height, "invalid_rows": invalid, "run_id": self.run_id}
            _write_marker(directory, topic, day, marker["files"])
            summary.files += 1
            summary.dates.add(day)
            step = self._steps.setdefault((topic, day), Step(
                f"kafka:{topic}", f"landing/{topic}/dt={day}", rows_in=0, rows_out=0,
                details={"files": [], "offsets": {}, "bootstrap": self.settings.kafka_bootstrap}))
            step.rows_in += part.height
            step.rows_out += part.height
            step.details["files"].append(str(directory / name))
            span = step.details["offsets"].setdefault(str(tp.partition), [first, last])
            step.details["offsets"][str(tp.partition)] = [min(span[0], first), max(span[1], last)]
        next_offset = records[-1].offset + 1
        self._committed[topic][tp.partition] = next_offset
        offsets = {str(p): o for p, o in sorted(self._committed[topic].items())}
        _atomic_write(self.root / topic / OFFSETS, lambda p: p.write_text(json.dumps(offsets)))
        consumer.commit({tp: OffsetAndMetadata(next_offset, self.run_id, -1)})
        summary.records += len(records)
        summary.invalid += int(frame["_error"].is_not_null().sum())
        now = datetime.now(UTC)
        for (t, _), step in self._steps.items():
            if t == topic:
                step.finished_at, step.status = now, "success"

    def _report_invalid(self, topic: str, bad) -> None:  # noqa: ANN001
        if bad.is_empty():
            return
        id_field, time_field = contract_for(topic).id_field, contract_for(topic).time_field
        issues = [
            Issue(record_id=row[id_field] or f"{topic}:{row['_partition']}:{row['_offset']}", issue=row["_error"],
                  source="landing", table_name=topic, column_name=time_field if row["_error"].startswith(time_field)
                  else None, rule="unparseable", severity="error", run_id=self.run_id, raw_payload=row["_raw"])
            for row in bad.iter_rows(named=True)
        ]
        write_issues(self.settings, issues)
        if self._dlq is None:
            from kafka import KafkaProducer

            self._dlq = KafkaProducer(**self.settings.kafka(KAFKA_LANDER), acks="all", retries=5)
        _send_dlq(self._dlq, topic, issues, bad)

    def _push_metrics(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge

        from credit_platform.metrics import push

        registry = CollectorRegistry()
        records = Counter("landing_records", "Records landed to Parquet", ["topic"], registry=registry)
        invalid = Counter("landing_invalid_records", "Landed records that did not parse", ["topic"], registry=registry)
        files = Counter("landing_files", "Parquet files written", ["topic"], registry=registry)
        seconds = Gauge("landing_run_seconds", "Wall time of the last landing run", registry=registry)
        success = Gauge("landing_last_success_timestamp_seconds", "When the last landing run finished",
                        registry=registry)
        for t in self.summary.topics.values():
            records.labels(t.topic).inc(t.records)
            invalid.labels(t.topic).inc(t.invalid)
            files.labels(t.topic).inc(t.files)
        seconds.set(self.summary.seconds)
        success.set_to_current_time()
        push(self.settings, "landing", registry)


def _send_dlq(producer, topic: str, issues: list[Issue], bad) -> None:  # noqa: ANN001
    """Send a chunk's bad records to the topic's DLQ; flushed before the chunk's offsets are committed."""
    for issue, row in zip(issues, bad.iter_rows(named=True), strict=True):
        envelope = {"reason": issue.issue, "raw_payload": issue.raw_payload, "source_topic": topic,
                    "source": "landing", "record_id": issue.record_id, "run_id": issue.run_id,
                    "partition": row["_partition"], "offset": row["_offset"],
                    "refused_at": datetime.now(UTC).isoformat(timespec="milliseconds")}
        producer.send(dlq_topic(topic), key=(row["_key"] or "").encode() or None, value=json.dumps(envelope).encode())
    producer.flush(timeout=30)


def land_latest(settings: Settings, run_id: str) -> int:
    """What Kafka holds beyond the last landing run, landed before a batch task reads the landing
    (the nightly scoring's and the model training's first step). Returns the records landed."""
    summary = Lander(settings, run_id=f"{run_id}:land_latest", progress=False).run()
    print(summary.render())
    return summary.records


def read_landed(settings: Settings, topic: str, day: date | str):  # noqa: ANN201
    """The landed rows of one topic and date as one polars frame (for tests and small checks)."""
    import polars as pl

    files = landed_files(settings, topic, day)
    return pl.concat([pl.read_parquet(f) for f in files]) if files else None
