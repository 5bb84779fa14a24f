"""Fraud job throughput and produce-to-alert latency on the local platform (Kafka -> Flink -> MongoDB).

Needs a running platform (`credit-platform up`). Each phase has its own topics (as many partitions
as the platform's input topics) and alert collection, on this machine's session cluster:

  throughput: N applications + N transactions are loaded into Kafka first. Baseline: the fraud job
              at parallelism 1, timed from RUNNING until its writer has inserted the last expected
              alert into MongoDB; beside it the same job at parallelism 2 (the cluster's two slots),
              best of two alternating runs each; and the rules alone at parallelism 1 (alerts
              dropped in the JVM), timed until the sink has taken every alert row.
  latency:    events are produced at a steady rate once the job is past its start-up, event time
              following send time; each alert's latency is its detected_at minus the Kafka timestamp
              of its event (p50/p99 per rule).
  backends:   the rules' state in the deployed backend (RocksDB with incremental checkpoints,
              CP_FLINK_STATE_BACKEND) against the others `--backends` names: the heap, the heap
              with Flink's changelog, RocksDB with its timers on the heap, with FLASH_SSD_OPTIMIZED,
              or both (not in the default phases; the throughput phase's data and timing).
  source:     what the contract check costs: the job (every rule, alerts dropped) with its
              contract-json source against the same job on Flink's own json format (the baseline).
  score:      what the learned score costs: the job with the hand-written rules only (the baseline)
              against the whole job with a model published (its 16 features per purchase, the
              join with the rules version, the score), parallelism 1, best of two alternating
              runs each, timed to each one's last alert; then both again with the event topics' reading
              aligned (`--align-drift`, default 5 s), which a catch-up on a backlog may use.

    .venv/bin/python bench/fraud_bench.py [--events 200000] [--latency-rate 1000] [--latency-seconds 30]
                                          [--phases throughput latency source backends score]
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from pymongo import MongoClient

from credit_platform import config
from credit_platform.contracts.names import FRAUD_GROUP, FRAUD_RULES_TOPIC, KAFKA_ADMIN, STREAM_TOPICS
from credit_platform.ingest import generator, producer
from credit_platform.ingest.scenario import GeneratorConfig
from credit_platform.model.fraud_score import fit
from credit_platform.rules.fraud import LEARNED_RULES, RULES, reference_alerts, rules_from_settings
from credit_platform.rules.fraud_features import reference_features
from credit_platform.rules.fraud_store import SEED_EFFECTIVE_FROM, RulesStore, RulesVersion
from credit_platform.stream import flink, fraud_job


class Phase:
    def __init__(self, settings: config.Settings, label: str, partitions: int | None = None) -> None:
        self.settings = settings
        # as many partitions as the platform's own input topics: a source subtask without one would
        # hold the stream's event time back (the job caps its sources' parallelism at the count)
        self.partitions = partitions or settings.kafka_partitions
        run = f"{label}_{uuid.uuid4().hex[:6]}"
        # named after the input topics and the fraud job's group: what the platform's Kafka users may use
        self.topics = {t: f"{t}.bench-{run}" for t in STREAM_TOPICS}
        self.group = f"{FRAUD_GROUP}-bench-{run}"
        self.name, self.collection = f"fraud_bench_{run}", f"bench_alerts_{run}"
        admin = KafkaAdminClient(**settings.kafka(KAFKA_ADMIN))
        admin.create_topics([NewTopic(t, self.partitions, 1) for t in self.topics.values()]
                            + [NewTopic(f"{t}.dlq", 1, 1) for t in self.topics.values()])
        admin.close()
        self.alerts = MongoClient(settings.mongo_uri)["credit"][self.collection]

    def produce(self, kind: str, frame, rate: float | None = None) -> None:  # noqa: ANN001
        summary = producer.produce(self.settings, kind, generator.to_json_lines(frame).splitlines(),
                                   destination=self.topics[kind], rate=rate, progress=False)
        assert summary.complete

    def sentinel(self, frames: dict) -> None:  # noqa: ANN001
        """One event on every partition of each topic (a customer and device of its own), stamped now or,
        if later, a second after the last generated event (a producer a little ahead of the events'
        schedule would otherwise stamp it before them): each partition's event time passes every
        generated event, so every window closes."""
        last_event = max(datetime.fromisoformat(str(frame["timestamp"].max()).replace("Z", "+00:00"))
                         for frame in frames.values())
        stamp = max(datetime.now(UTC), last_event + timedelta(seconds=1))
        stamp = stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        for kind, frame in frames.items():
            last = json.loads(generator.to_json_lines(frame[-1:]))
            id_column = "application_id" if kind == "credit_applications" else "transaction_id"
            last.update({"loan_amount": 100.0} if kind == "credit_applications" else {"amount": 1.0})
            lines = [json.dumps({**last, id_column: f"SENTINEL-{user}", "user_id": user, "device_id": f"D-{user}",
                                 "timestamp": stamp}).encode()
                     for user in producer.keys_for_every_partition(self.partitions)]
            producer.produce(self.settings, kind, lines, destination=self.topics[kind], progress=False)

    def submit(self, *extra: str, variant: str = "", rules: RulesStore | None = None) -> str:
        name = f"{self.name}{variant}"
        job = fraud_job.submit(self.settings, "--applications-topic", self.topics["credit_applications"],
                               "--transactions-topic", self.topics["transactions"], "--collection", self.collection,
                               "--group-id", f"{self.group}-{name}", *extra, name=name, from_latest_checkpoint=False,
                               rules=rules)
        while flink.job_state(self.settings, job) != "RUNNING":
            time.sleep(0.2)
        return job

    def close(self, job: str) -> None:
        flink.cancel(self.settings, job)
        self.close_topics()

    def close_topics(self) -> None:
        self.alerts.drop()
        admin = KafkaAdminClient(**self.settings.kafka(KAFKA_ADMIN))
        admin.delete_topics(list(self.topics.values()) + [f"{t}.dlq" for t in self.topics.values()])
        admin.close()


def wait_for_alerts(phase: Phase, job: str, want: int, timeout: float) -> None:
    """Until the job's writer has inserted `want` new alerts (its `fraud_alerts_written` counter, read
    through Flink's REST API: counting a FerretDB collection costs a full scan, ~0.6 s at 11k alerts,
    and polling it would load the very server the job writes to); then MongoDB's count must agree."""
    deadline = time.monotonic() + timeout
    while alerts_written(phase.settings, job) < want:
        state = flink.job_state(phase.settings, job)
        if state in ("FAILED", "CANCELED") or time.monotonic() > deadline:
            raise SystemExit(f"job {job} is {state} with {phase.alerts.count_documents({})}/{want} alerts; "
                             "see the Flink UI and .platform/logs/flink/")
        time.sleep(0.2)
    stored = phase.alerts.count_documents({})
    if stored != want:
        raise SystemExit(f"job {job}: its writer counted {want:,} new alerts, MongoDB holds {stored:,}")


def alerts_written(settings: config.Settings, job: str) -> int:
    """New alerts the job's writer has inserted (its `fraud_alerts_written` counter)."""
    return _operator_metric(settings, job, "PythonCalc", r".*\.fraud_alerts_written")


def loaded(settings: config.Settings, label: str, events: int) -> tuple[Phase, int]:
    """A phase whose topics hold N applications + N transactions and the end-of-stream events; and
    how many alerts the rules' reference raises on them."""
    phase = Phase(settings, label)
    cfg = GeneratorConfig(seed=21, rate_per_second=500)
    frames = {"credit_applications": generator.generate("applications", events, cfg),
              "transactions": generator.generate("transactions", events, cfg)}
    want = len(reference_alerts(frames["credit_applications"], frames["transactions"]))
    for kind, frame in frames.items():
        phase.produce(kind, frame)
    phase.sentinel(frames)
    return phase, want


def throughput(settings: config.Settings, events: int) -> None:
    phase, want = loaded(settings, "tp", events)
    total = 2 * events
    runs: dict[str, float] = {}
    rows = 0
    for n in range(2):  # alternating, best of 2 each: the first job of a TaskManager also warms its JIT
        for parallelism in (1, 2):
            phase.alerts.drop()
            job = phase.submit("--parallelism", str(parallelism), variant=f"_p{parallelism}_{n}")
            started = time.monotonic()
            wait_for_alerts(phase, job, want, timeout=900)
            runs[f"p{parallelism}"] = min(runs.get(f"p{parallelism}", float("inf")), time.monotonic() - started)
            rows = alert_rows(settings, job)
            flink.cancel(settings, job)
    # The rules alone: the same job with its alerts dropped in the JVM, timed until its sink has taken
    # every alert row the rules raise (a whole burst's events once per trigger: `rows` >= alerts).
    job = phase.submit("--sink", "blackhole", variant="_rules_only")
    started = time.monotonic()
    while sink_rows(settings, job) < rows:
        if time.monotonic() - started > 900:
            raise SystemExit(f"job {job} did not drop all {rows:,} alert rows")
        time.sleep(0.2)
    runs["rules"] = time.monotonic() - started
    flink.cancel(settings, job)
    phase.close_topics()
    base = runs["p1"]
    print(f"throughput: {total:,} events ({events:,} applications + {events:,} transactions, "
          f"{phase.partitions} partitions each), {want:,} alerts ({rows:,} alert rows before the writer drops "
          "repeats); times from RUNNING to the last alert, job start-up included (the rules topic holds the "
          "stream's event time for its idle timeout, 10 s)")
    print(f"  {'run':<56} {'seconds':>8} {'events/s':>10} {'ratio':>6}")
    for label, key in (("baseline: fraud job, parallelism 1, alerts into MongoDB", "p1"),
                       ("fraud job, parallelism 2 (two slots)", "p2"),
                       ("rules alone at parallelism 1, alerts dropped in the JVM", "rules")):
        print(f"  {label:<56} {runs[key]:>8.1f} {total / runs[key]:>10,.0f} {base / runs[key]:>5.2f}x")


def score(settings: config.Settings, events: int, align_drift: str = "") -> None:
    """The whole job with a model published (the version in force from the epoch on) against the job
    with the hand-written rules only, on the same events; with `align_drift`, both also with the event
    topics' reading aligned (`--align-drift`), each pair its own baseline."""
    cfg = GeneratorConfig(seed=21, rate_per_second=500)
    history = generator.generate("transactions", events, GeneratorConfig(seed=22, rate_per_second=500))
    labelled = reference_features(history).join(history.select("transaction_id", "is_fraud"), on="transaction_id")
    model = fit(labelled, labelled["is_fraud"].to_numpy(), "fraud-logistic-bench")
    version = RulesVersion(1, SEED_EFFECTIVE_FROM, rules_from_settings(model.settings()), "bench: a model",
                           "bench", datetime.now(UTC))
    phase = Phase(settings, "sc")
    rules = RulesStore(settings, collection=f"rules_{phase.name}", topic=f"{FRAUD_RULES_TOPIC}.bench-{phase.name}")
    admin = KafkaAdminClient(**settings.kafka(KAFKA_ADMIN))
    admin.create_topics([NewTopic(rules.topic, 1, 1)])
    admin.close()
    rules.publish([version])  # the topic only: the store's collection stays empty (no check of its time)
    frames = {"credit_applications": generator.generate("applications", events, cfg),
              "transactions": generator.generate("transactions", events, cfg)}
    for kind, frame in frames.items():
        phase.produce(kind, frame)
    phase.sentinel(frames)
    apps, txs = frames["credit_applications"], frames["transactions"]
    scored = reference_alerts(apps, txs, versions=[version.in_force()])
    want = {"rules": len(reference_alerts(apps, txs)), "score": len(scored)}
    written = sum(1 for a in scored if a.startswith("fraud_score:"))
    hand_written = ",".join(r for r in RULES if r not in LEARNED_RULES)
    jobs = {"rules": ("--rules", hand_written), "score": ()}
    if align_drift:
        jobs |= {f"{label}_aligned": (*extra, "--align-drift", align_drift) for label, extra in list(jobs.items())}
    runs: dict[str, float] = {}
    for n in range(2):
        for label, extra in jobs.items():
            phase.alerts.drop()
            job = phase.submit("--parallelism", "1", *extra, variant=f"_{label}_{n}", rules=rules)
            started = time.monotonic()
            wait_for_alerts(phase, job, want[label.removesuffix("_aligned")], timeout=900)
            runs[label] = min(runs.get(label, float("inf")), time.monotonic() - started)
            flink.cancel(settings, job)
    phase.close_topics()
    admin = KafkaAdminClient(**settings.kafka(KAFKA_ADMIN))
    admin.delete_topics([rules.topic])
    admin.close()
    print(f"learned score: {2 * events:,} events, parallelism 1, times from RUNNING to the last alert; the model "
          f"raised {written:,} of the {want['score']:,} alerts")
    print(f"  {'run':<58} {'seconds':>8} {'events/s':>10} {'ratio':>6}")
    for suffix, heading in (("", "the deployed job"), ("_aligned", f"both topics read within {align_drift} "
                                                                   "of each other (--align-drift)")):
        if f"score{suffix}" not in runs:
            continue
        print(f"  {heading}:")
        base = runs[f"rules{suffix}"]
        for label, key in (("baseline: the hand-written rules only", "rules"),
                           ("every rule and the learned score (16 features, a model)", "score")):
            took = runs[key + suffix]
            print(f"    {label:<56} {took:>8.1f} {2 * events / took:>10,.0f} {base / took:>5.2f}x")


def changelog(settings: config.Settings) -> tuple[str, ...]:
    """The heap state with Flink's changelog: each state change also appended to a log on the file
    system, so a checkpoint uploads the changes since the last one rather than the whole heap."""
    base = settings.service_dir("flink") / "changelog"
    return ("--state-backend", "hashmap", "--set", "state.changelog.enabled=true",
            "--set", "state.changelog.storage=filesystem", "--set", f"state.changelog.dstl.dfs.base-path=file://{base}")


BACKENDS = {"rocksdb": "RocksDB, incremental checkpoints", "heap": "heap state, whole snapshots",
            "changelog": "heap state with the changelog (file system)",
            "rocksdb-heap-timers": "RocksDB, its timers on the heap",
            "rocksdb-ssd": "RocksDB, FLASH_SSD_OPTIMIZED options",
            "rocksdb-both": "RocksDB, heap timers and FLASH_SSD_OPTIMIZED"}


def backends(settings: config.Settings, events: int, which: list[str]) -> None:
    """The job's rule state in the deployed backend (CP_FLINK_STATE_BACKEND, the baseline) against the
    others asked for (RocksDB with incremental checkpoints, the heap, the heap with the changelog),
    parallelism 1, best of two alternating runs, each timed to its last alert; with the size and
    duration of the last checkpoint each took. Managed memory is the TaskManager's, whatever the backend."""
    phase, want = loaded(settings, "sb", events)
    deployed = "heap" if settings.flink_state_backend == "hashmap" else settings.flink_state_backend
    labels = [deployed, *(label for label in which if label != deployed)]
    runs: dict[str, tuple[float, dict]] = {}
    for n in range(2):
        variants = {"heap": ("--state-backend", "hashmap"), "rocksdb": ("--state-backend", "rocksdb"),
                    "changelog": changelog(settings),
                    "rocksdb-heap-timers": ("--state-backend", "rocksdb",
                                            "--set", "state.backend.rocksdb.timer-service.factory=HEAP"),
                    "rocksdb-ssd": ("--state-backend", "rocksdb",
                                    "--set", "state.backend.rocksdb.predefined-options=FLASH_SSD_OPTIMIZED"),
                    "rocksdb-both": ("--state-backend", "rocksdb",
                                     "--set", "state.backend.rocksdb.timer-service.factory=HEAP",
                                     "--set", "state.backend.rocksdb.predefined-options=FLASH_SSD_OPTIMIZED")}
        for label in labels:
            phase.alerts.drop()
            job = phase.submit(*variants[label], variant=f"_{label}_{n}")
            started = time.monotonic()
            wait_for_alerts(phase, job, want, timeout=900)
            seconds = time.monotonic() - started
            time.sleep(12)  # one more checkpoint with every event's state in it
            checkpoint = flink._rest(settings, f"/jobs/{job}/checkpoints")["latest"]["completed"] or {}
            if seconds < runs.get(label, (float("inf"), {}))[0]:
                runs[label] = seconds, checkpoint
            flink.cancel(settings, job)
    phase.close_topics()
    base = runs[deployed][0]
    print(f"state backends: {2 * events:,} events, {want:,} alerts, parallelism 1, managed-memory fraction "
          f"{settings.flink_managed_fraction}, times from RUNNING to the last alert; checkpoint: the last one "
          "completed after it (state: its whole size; written: what it uploaded)")
    print(f"  {'run':<54} {'seconds':>8} {'events/s':>10} {'ratio':>6} {'state':>10} {'written':>10} {'took':>8}")
    for label in labels:
        seconds, checkpoint = runs[label]
        name = ("baseline (as deployed): " if label == deployed else "") + BACKENDS[label]
        state = checkpoint.get("state_size", 0) / 2**20
        written = checkpoint.get("checkpointed_size", checkpoint.get("state_size", 0)) / 2**20
        took = checkpoint.get("end_to_end_duration", 0) / 1000
        print(f"  {name:<54} {seconds:>8.1f} {2 * events / seconds:>10,.0f} {base / seconds:>5.2f}x "
              f"{state:>7.1f} MB {written:>7.1f} MB {took:>7.2f}s")


def _operator_metric(settings: config.Settings, job: str, vertex_has: str, pattern: str) -> int:
    """The sum over the job's subtasks of the metrics whose id matches `pattern` (a regular expression,
    `SUBTASK.` left off) on the vertices whose name contains `vertex_has` (REST; fresh every second)."""
    found = 0
    for vertex in flink._rest(settings, f"/jobs/{job}")["vertices"]:
        if vertex_has not in vertex["name"]:
            continue
        path = f"/jobs/{job}/vertices/{vertex['id']}/metrics"
        ids = [m["id"] for m in flink._rest(settings, path) if re.fullmatch(rf"\d+\.{pattern}", m["id"])]
        if ids:
            found += sum(int(float(m["value"])) for m in flink._rest(settings, f"{path}?get={','.join(ids)}"))
    return found


def alert_rows(settings: config.Settings, job: str) -> int:
    """Alert rows the job's writer has taken: new alerts plus ids it had written already."""
    return (_operator_metric(settings, job, "PythonCalc", r".*\.fraud_alerts_written")
            + _operator_metric(settings, job, "PythonCalc", r".*\.fraud_alerts_repeated"))


def sink_rows(settings: config.Settings, job: str) -> int:
    """Rows the blackhole alert sink has taken."""
    return _operator_metric(settings, job, "alert_sink", r"alert_sink\[\d+\]__Writer\.numRecordsIn")


def read_all(settings: config.Settings, job: str, total: int) -> float:
    """Seconds from RUNNING until the job's sources have read `total` records."""
    started = time.monotonic()
    while records_read(settings, job) < total:
        if flink.job_state(settings, job) != "RUNNING" or time.monotonic() - started > 900:
            raise SystemExit(f"job {job} did not read all {total:,} records")
        time.sleep(0.5)
    return time.monotonic() - started


def source_cost(settings: config.Settings, events: int) -> None:
    """What the contract check costs: the job (every rule, alerts dropped) reading with its
    contract-json source against the same job reading with Flink's own JSON format, same records."""
    phase = Phase(settings, "src")
    cfg = GeneratorConfig(seed=22, rate_per_second=500)
    for kind, frame in (("credit_applications", generator.generate("applications", events, cfg)),
                        ("transactions", generator.generate("transactions", events, cfg))):
        phase.produce(kind, frame)
    total = 2 * events
    runs: dict[str, float] = {}
    for n in range(3):  # alternating, best of 3 each: the first job of a TaskManager also warms its JIT
        for variant, extra in (("json", ("--source-format", "json")), ("contract", ())):
            job = phase.submit("--sink", "blackhole", *extra, variant=f"_{variant}{n}")
            runs[variant] = min(runs.get(variant, float("inf")), read_all(settings, job, total))
            flink.cancel(settings, job)
    phase.close_topics()
    base = runs["json"]
    print(f"source: {total:,} events, every rule, alerts dropped; best of 3, alternating; times from RUNNING")
    print(f"  {'run':<52} {'seconds':>8} {'events/s':>10} {'vs json':>8}")
    for label, variant in (("Flink's json format (skips what it cannot parse)", "json"),
                           ("contract-json (checks the contract, drops nothing)", "contract")):
        print(f"  {label:<52} {runs[variant]:>8.1f} {total / runs[variant]:>10,.0f} {runs[variant] / base:>7.2f}x")


def records_read(settings: config.Settings, job: str) -> int:
    """Records the job's Kafka sources have read (REST metrics, refreshed every second locally)."""
    read = 0
    for vertex in flink._rest(settings, f"/jobs/{job}")["vertices"]:
        if vertex["name"].startswith("Source"):
            metric = flink._rest(settings, f"/jobs/{job}/vertices/{vertex['id']}/metrics?get=0.numRecordsIn")
            read += int(float(metric[0]["value"])) if metric else 0
    return read


def latency(settings: config.Settings, rate: float, seconds: float) -> None:
    phase = Phase(settings, "lat")
    job = phase.submit()
    count = int(rate * seconds)
    # steady state: past the job's start-up, where the rules topic holds the event time for 10 s
    start = datetime.now(UTC) + timedelta(seconds=15)
    cfg = GeneratorConfig(seed=22, rate_per_second=rate, start=start, fraud_share=0.05)
    frames = {"credit_applications": generator.generate("applications", count, cfg),
              "transactions": generator.generate("transactions", count, cfg)}
    want = len(reference_alerts(frames["credit_applications"], frames["transactions"]))
    time.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()))
    threads = [threading.Thread(target=phase.produce, args=(kind, frame, rate)) for kind, frame in frames.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # An OVER window emits a row once the watermark passes it, and only newer events move the
    # watermark: in production the next events do. When the bench stops sending, one event per topic
    # stamped now (later than every generated one; a customer and device of its own, alerting nothing)
    # plays their part.
    phase.sentinel(frames)
    try:
        wait_for_alerts(phase, job, want, timeout=60)
    except SystemExit as exc:
        print(f"  ({exc})")
    docs = list(phase.alerts.find({}, {"rule": 1, "event_id": 1, "detected_at": 1}))
    sent = send_times(settings, list(phase.topics.values()))
    phase.close(job)
    lat = {}
    for d in docs:
        detected_ms = d["detected_at"].replace(tzinfo=UTC).timestamp() * 1000
        lat.setdefault(d["rule"], []).append(detected_ms - sent[d["event_id"]])
    every = np.array([v for values in lat.values() for v in values])
    print(f"latency: {2 * rate:,.0f} events/s for {seconds:.0f}s ({2 * count:,} events), {len(docs):,}/{want:,} "
          "alerts; latency = alert written to MongoDB - event sent to Kafka")
    print(f"  {'rule':<22} {'alerts':>7} {'p50 ms':>8} {'p99 ms':>8}")
    for rule, values in sorted(lat.items()):
        print(f"  {rule:<22} {len(values):>7} {np.percentile(values, 50):>8.0f} {np.percentile(values, 99):>8.0f}")
    print(f"  {'all':<22} {len(every):>7} {np.percentile(every, 50):>8.0f} {np.percentile(every, 99):>8.0f}")


def send_times(settings: config.Settings, topics: list[str]) -> dict[str, int]:
    """event id -> the Kafka timestamp the producer stamped when it sent the event (ms)."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(*topics, **settings.kafka(KAFKA_ADMIN), auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=5_000)
    times = {}
    for record in consumer:
        event = json.loads(record.value)
        times[event.get("application_id") or event.get("transaction_id")] = record.timestamp
    consumer.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000, help="per stream, for the throughput phase")
    parser.add_argument("--latency-rate", type=float, default=1000, help="events/s per stream")
    parser.add_argument("--latency-seconds", type=float, default=30)
    parser.add_argument("--backends", nargs="+", choices=list(BACKENDS), default=["rocksdb", "heap"],
                        help="what the backends phase compares with the deployed backend (the changelog ran this "
                             "machine's TaskManager out of heap at 400,000 events: README)")
    parser.add_argument("--align-drift", default="5 s", help="score phase: also both jobs with the event topics' "
                        "reading aligned within this much event time (the job's --align-drift); '' to skip")
    parser.add_argument("--phases", nargs="+", choices=["throughput", "latency", "source", "backends", "score"],
                        default=["throughput", "latency", "source"])
    args = parser.parse_args()
    settings = config.load()
    if "throughput" in args.phases:
        throughput(settings, args.events)
    if "latency" in args.phases:
        latency(settings, args.latency_rate, args.latency_seconds)
    if "source" in args.phases:
        source_cost(settings, args.events)
    if "backends" in args.phases:
        backends(settings, args.events, args.backends)
    if "score" in args.phases:
        score(settings, args.events, args.align_drift)


if __name__ == "__main__":
    main()
