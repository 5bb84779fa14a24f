"""Validated ingestion into Kafka.

Each input line is validated against the topic's contract (`credit_platform.contracts.events`): first by
its compiled `Screen`, which only accepts, then, for anything it does not accept, by the pydantic model,
which decides and gives the reasons. A valid
record is sent unchanged to the topic, keyed by user id (acks=all, idempotent, retried, batched).
An invalid one (including a line that is not JSON) never reaches the topic: it goes to
`<topic>.dlq` with the raw payload and the reasons, and to `data_quality_issues`. The producer
never stops on bad input, and accounts for every line: read = sent + invalid + failed.
"""

from __future__ import annotations

import functools
import gc
import json
import logging
import sys
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
from pydantic import ValidationError

from credit_platform.config import Settings
from credit_platform.contracts.events import MAX_RECORD_BYTES, Problem, Screen, contract_for, problems_of
from credit_platform.contracts.names import KAFKA_PRODUCER, dlq_topic
from credit_platform.errors import PlatformError
from credit_platform.metrics import push
from credit_platform.quality.issues import Issue, write_issues

log = logging.getLogger(__name__)
DQ_BATCH = 5_000
YOUNG_GC_THRESHOLD = 50_000  # see Producer.produce
BOM = b"\xef\xbb\xbf"  # a UTF-8 byte order mark some editors put before the first line


@dataclass
class ProduceSummary:
    topic: str
    run_id: str
    read: int = 0
    sent: int = 0
    invalid: int = 0
    failed: int = 0  # valid records Kafka did not accept after all retries
    dlq_failed: int = 0  # invalid records whose dead-letter send failed
    dq_rows: int = 0
    seconds: float = 0.0
    invalid_by_rule: dict[str, int] = field(default_factory=dict)
    failed_file: str | None = None

    @property
    def rate(self) -> float:
        return self.read / self.seconds if self.seconds else 0.0

    @property
    def complete(self) -> bool:
        return self.failed == 0 and self.dlq_failed == 0 and self.read == self.sent + self.invalid

    def render(self) -> str:
        lines = [f"{self.topic}: read {self.read:,}  sent {self.sent:,}  invalid {self.invalid:,} (to "
                 f"{dlq_topic(self.topic)})  failed {self.failed + self.dlq_failed:,}  "
                 f"in {self.seconds:.1f}s ({self.rate:,.0f}/s)"]
        if self.invalid_by_rule:
            lines.append("  invalid by rule: " + ", ".join(f"{k} {v}" for k, v in sorted(self.invalid_by_rule.items())))
        if self.failed_file:
            lines.append(f"  failed records kept in {self.failed_file}; replay them with "
                         f"`credit-platform produce --topic {self.topic} --from-file {self.failed_file}`")
        return "\n".join(lines)


class _Metrics:
    """Producer metrics for Prometheus, on an HTTP port while running and pushed at the end."""

    def __init__(self, topic: str) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge

        self.registry = CollectorRegistry()
        self.sent = Counter("producer_records_sent", "Records sent to the topic", ["topic"], registry=self.registry)
        self.invalid = Counter("producer_records_invalid", "Records refused by validation (sent to the DLQ)",
                               ["topic", "rule"], registry=self.registry)
        self.errors = Counter("producer_send_errors", "Records Kafka did not accept after all retries", ["topic"],
                              registry=self.registry)
        self.rate = Gauge("producer_records_per_second", "Recent records read per second", ["topic"],
                          registry=self.registry)
        self.topic = topic
        for family in (self.sent, self.errors, self.rate):  # series exist (at 0) from the first scrape
            family.labels(topic)

    def serve(self, host: str, port: int) -> None:
        from prometheus_client import start_http_server

        try:
            start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            log.warning("producer metrics not served on %s:%s (%s); they are still pushed at the end", host, port, exc)

    def push(self, settings: Settings) -> None:
        push(settings, "producer", self.registry, {"topic": self.topic})


class _Progress:
    def __init__(self, topic: str, total: int | None, enabled: bool) -> None:
        self.topic, self.total, self.enabled = topic, total, enabled
        self.tty = sys.stderr.isatty()
        self.started = self.last = time.monotonic()
        self.last_count = 0
        self.interval = 0.5 if self.tty else 5.0

    def update(self, summary: ProduceSummary, metrics: _Metrics, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.last < self.interval:
            return
        recent = (summary.read - self.last_count) / max(now - self.last, 1e-6)
        metrics.rate.labels(self.topic).set(recent)
        self.last, self.last_count = now, summary.read
        if not self.enabled:
            return
        done = f"{summary.read:,}" + (f"/{self.total:,} ({100 * summary.read / self.total:.0f}%)" if self.total else "")
        text = (f"{self.topic}: {done}  queued {summary.read - summary.invalid:,}  invalid {summary.invalid:,}  "
                f"{recent:,.0f}/s")
        if self.tty:
            sys.stderr.write("\r" + text.ljust(100) + ("\n" if final else ""))
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()


def partitioner(partitions: list[int]):  # noqa: ANN202
    """Kafka's default partitioner (murmur2 of the key), cached per key: users repeat, hashing in
    pure Python is not free, and the result must match every other Kafka client's."""
    from kafka.partitioner.default import murmur2

    count = len(partitions)
    ordered = sorted(partitions)

    @functools.lru_cache(maxsize=200_000)
    def partition(key: bytes) -> int:
        return ordered[(murmur2(key) & 0x7FFFFFFF) % count]

    return partition


def keys_for_every_partition(partitions: int, prefix: str = "U-sentinel") -> list[str]:
    """One key per partition, in partition order: the key `{prefix}-N` with the lowest N that the
    producer's partitioner sends there (for a record that must reach every partition, such as an
    end-of-stream marker that moves each partition's event time on)."""
    partition_of = partitioner(list(range(partitions)))
    keys: dict[int, str] = {}
    k = 0
    while len(keys) < partitions:
        keys.setdefault(partition_of(f"{prefix}-{k}".encode()), f"{prefix}-{k}")
        k += 1
    return [keys[p] for p in range(partitions)]


class Producer:
    def __init__(self, settings: Settings, topic: str, *, run_id: str | None = None, rate: float | None = None,
                 metrics_port: int | None = None, progress: bool = True, total: int | None = None,
                 source: str = "producer", linger_ms: int = 20, batch_size: int = 512 * 1024,
                 compression: str | None = None, destination: str | None = None) -> None:
        """`topic` names the contract; records go to it, or to `destination` (tests, benchmarks).
        `compression`: the codec of the record batches (default: the platform's `kafka_compression`)."""
        self.contract = contract_for(topic)  # unknown topics are refused before anything is sent
        topic = destination or topic
        self.settings, self.topic, self.dlq = settings, topic, dlq_topic(topic)
        self.run_id = run_id or f"produce-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        self.rate, self.source = rate, source
        self.summary = ProduceSummary(topic, self.run_id)
        self.metrics = _Metrics(topic)
        self.progress = _Progress(topic, total, progress)
        self._in_flight: deque[tuple[object, bytes, bool]] = deque()
        self._failed: list[bytes] = []
        self._issues: list[Issue] = []
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        try:
            self.kafka = KafkaProducer(
                **settings.kafka(KAFKA_PRODUCER), client_id=f"credit-platform-{self.run_id}",
                acks="all", enable_idempotence=True, retries=sys.maxsize, max_in_flight_requests_per_connection=5,
                delivery_timeout_ms=180_000, max_block_ms=180_000, request_timeout_ms=30_000,
                linger_ms=linger_ms, batch_size=batch_size, max_request_size=4 * 1024 * 1024,
                compression_type=_codec(compression or settings.kafka_compression),
            )
        except KafkaError as exc:
            raise PlatformError(f"Kafka at {settings.kafka_bootstrap} is not reachable; is the platform up? "
                               "(`credit-platform status`)") from exc
        partitions = self.kafka.partitions_for(topic)
        if not partitions:
            self.kafka.close()
            raise PlatformError(f"topic {topic} does not exist on {settings.kafka_bootstrap}; run `credit-platform up`")
        self._partition = partitioner(list(partitions))
        if metrics_port:
            self.metrics.serve(settings.host, metrics_port)

    # -- per record --------------------------------------------------------------------------
    def _reap(self) -> None:
        """Settle records Kafka has answered for. A per-record callback costs ~13 us in kafka-python;
        checking finished futures in send order costs well under one."""
        in_flight = self._in_flight
        delivered = 0
        while in_flight and in_flight[0][0].is_done:
            future, raw, to_dlq = in_flight.popleft()
            if future.failed():
                self._on_error(raw, future.exception, dlq=to_dlq)
            elif not to_dlq:
                delivered += 1
        if delivered:
            self.metrics.sent.labels(self.topic).inc(delivered)

    def _on_error(self, raw: bytes, exc: BaseException, *, dlq: bool = False) -> None:
        """Kafka gave up on a record after every retry: count it and keep it for a replay."""
        if dlq:
            self.summary.dlq_failed += 1
        else:
            self.summary.failed += 1
        self._failed.append(raw)
        self.metrics.errors.labels(self.dlq if dlq else self.topic).inc()
        log.error("send to %s failed after retries: %s", self.dlq if dlq else self.topic, exc)

    def _refuse(self, raw: bytes, line_no: int, problems: list[Problem]) -> None:
        record_id, key = None, None
        if len(raw) <= MAX_RECORD_BYTES:
            parsed = _lenient_json(raw)  # the id of a record with Infinity or NaN in it, too
            if isinstance(parsed, dict):
                record_id = parsed.get(self.contract.id_field)
                key = parsed.get(self.contract.key_field)
        record_id = (str(record_id)[:64] if isinstance(record_id, str | int) and record_id != ""
                     else f"{self.source}:line {line_no}")
        # the DLQ record and the issue row keep at most MAX_RECORD_BYTES of the payload, so an
        # oversized record is refused, not bounced by the broker a second time
        text = raw[:MAX_RECORD_BYTES].decode("utf-8", errors="replace")
        reason = "; ".join(p.message for p in problems)
        envelope = {
            "reason": reason,
            "errors": [{"column": p.column, "rule": p.rule, "message": p.message, "observed": p.observed}
                       for p in problems],
            "raw_payload": text,
            "raw_bytes": len(raw),
            "source_topic": self.topic,
            "source": self.source,
            "line": line_no,
            "record_id": record_id,
            "run_id": self.run_id,
            "refused_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
        future = self.kafka.send(self.dlq, key=str(key)[:64].encode() if isinstance(key, str | int) else None,
                                 value=orjson.dumps(envelope))
        self._in_flight.append((future, raw, True))
        for p in problems:
            self._issues.append(Issue(record_id=record_id, issue=p.message, source=self.source,
                                      table_name=self.topic, column_name=p.column, rule=p.rule,
                                      observed_value=p.observed, run_id=self.run_id, raw_payload=text))
            self.summary.invalid_by_rule[p.rule] = self.summary.invalid_by_rule.get(p.rule, 0) + 1
        self.summary.invalid += 1
        self.metrics.invalid.labels(self.topic, problems[0].rule if problems else "unknown").inc()
        if len(self._issues) >= DQ_BATCH:
            self._flush_issues()

    def _flush_issues(self) -> None:
        batch, self._issues = self._issues, []
        self.summary.dq_rows += write_issues(self.settings, batch)

    # -- the run -------------------------------------------------------------------------------
    def produce(self, lines: Iterable[bytes]) -> ProduceSummary:
        screen, validate = Screen(self.contract), self.contract.model.model_validate_json
        key_field, id_field = self.contract.key_field, self.contract.id_field
        seen: dict[str, int] = {}  # event id -> line: a repeated id within one run is refused
        send, topic, partition_of = self.kafka.send, self.topic, self._partition
        in_flight = self._in_flight
        pace_every = 50 if self.rate else 1000  # with --rate, stay within ~50 records of the schedule
        started = time.monotonic()
        summary = self.summary
        # kafka-python keeps several objects per record alive until the broker answers, and the
        # collector's default (a young collection every 700 new objects, a full one every 100 of
        # those) walked them for a quarter of the run (bench/producer_bench.py). A young collection
        # every YOUNG_GC_THRESHOLD objects still collects every cycle, a few times per run.
        thresholds = gc.get_threshold()
        gc.set_threshold(YOUNG_GC_THRESHOLD, *thresholds[1:])
        try:
            for line_no, line in enumerate(lines, start=1):
                raw = line.rstrip(b"\r\n")
                if line_no == 1 and raw.startswith(BOM):
                    raw = raw[len(BOM):]
                if not raw.strip():
                    continue  # blank lines carry no record
                summary.read += 1
                if len(raw) > MAX_RECORD_BYTES:
                    self._refuse(raw, line_no, [Problem(None, "record_size", f"record is {len(raw):,} bytes; at "
                                                        f"most {MAX_RECORD_BYTES:,} are accepted", str(len(raw)))])
                    continue
                found = screen(raw)
                if found is None:  # not plainly valid: the contract decides, and says why
                    try:
                        event = validate(raw)
                    except ValidationError as error:
                        self._refuse(raw, line_no, problems_of(error))
                        continue
                    found = getattr(event, id_field), getattr(event, key_field)
                event_id, key_text = found
                first = seen.setdefault(event_id, line_no)
                if first != line_no:
                    self._refuse(raw, line_no, [Problem(id_field, "unique", f"{id_field}: duplicate of line {first} "
                                                        "of this run (the first copy was sent)", event_id)])
                    continue
                key = key_text.encode()
                in_flight.append((send(topic, key=key, value=raw, partition=partition_of(key)), raw, False))
                if summary.read % pace_every == 0:
                    self._pace(started)
                if summary.read % 1000 == 0:
                    screen.refresh()
                    self._reap()
                    self.progress.update(summary, self.metrics)
        finally:
            gc.set_threshold(*thresholds)
            self.kafka.flush()
            self._reap()
            summary.seconds = time.monotonic() - started
            summary.sent = summary.read - summary.invalid - summary.failed
            self.progress.update(summary, self.metrics, final=True)
            self.kafka.close()
            self._flush_issues()
            self._keep_failed()
            self.metrics.push(self.settings)
        return summary

    def _pace(self, started: float) -> None:
        if self.rate:
            ahead = self.summary.read / self.rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)

    def _keep_failed(self) -> None:
        if not self._failed:
            return
        path = self.settings.home / "failed" / f"{self.run_id}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\n".join(self._failed) + b"\n")
        self.summary.failed_file = str(path)


def _codec(name: str) -> str | None:
    if name not in COMPRESSION:
        raise PlatformError(f"Kafka compression {name!r} is not one of {', '.join(COMPRESSION)} (CP_KAFKA_COMPRESSION)")
    return None if name == "none" else name


# what both ends have here: kafka-python's codecs (zstandard; gzip from the standard library) and
# Flink's connector (zstd-jni in its lib/, gzip from the JDK)
COMPRESSION = ("zstd", "gzip", "none")


def _lenient_json(raw: bytes) -> object:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            return json.loads(raw)  # the standard library reads Infinity and NaN, which orjson refuses
        except ValueError:
            return None


def read_lines(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        yield from handle


def produce(settings: Settings, topic: str, lines: Iterable[bytes], **options: object) -> ProduceSummary:
    return Producer(settings, topic, **options).produce(lines)  # type: ignore[arg-type]
