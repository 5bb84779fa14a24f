"""Soak: the whole pipeline at a steady rate for a long time, sampled every minute, with a report.

Needs a running platform (`credit-platform up`, either topology) with the fraud job running, as
`make demo` leaves it (`--start-job` submits it if it is not). For `--minutes` it produces
applications and transactions at `--rate` events per second in all (`--tx-share` of them
transactions), each minute's events generated ahead and dated at the time they are due, so the
stream's event time should follow the wall clock; it lands the topics every `--land-every` minutes
(`credit-platform land`, as the `kafka_landing` DAG does). Every `--sample` seconds it records:

- events produced (the topics' end offsets) and the producers' schedule slip (how late the latest
  minute began; a minute begun late is sent faster, so it ends when the next is due);
- the fraud job's event-time lag: the largest `watermarkLag` of its Kafka sources, wall clock minus
  the source's watermark (events are dated at their send time, and a source reads only as fast as
  the rules behind it take its records, so this is how far behind live traffic the job is), and its
  sources' `pendingRecords` (in Kafka, not yet read); each consumer group's lag in records (the
  fraud job commits at checkpoints, so its figure moves in steps of up to a checkpoint interval);
- the fraud job's last checkpoint: the state's whole size, what it wrote (less with RocksDB's
  incremental checkpoints), its duration; the job's restarts;
- each TaskManager's heap in use; every running service's RSS and CPU (share of one core).

Writes `samples.jsonl`, `report.md` and `soak.png` under `<state dir>/soak/<start time>/` and prints
the verdict: the largest event-time lag against the aim (5 s), whether lag grew (the last fifth of
the run against the second), and whether checkpointed state levelled off (its last fifth against its
middle fifth).

    .venv/bin/python -m bench.soak [--minutes 30] [--rate 5000] [--tx-share 0.75] [--sample 60]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.idle_bench import cpu_seconds
from credit_platform import config
from credit_platform.contracts.names import APPLICATIONS_TOPIC, TRANSACTIONS_TOPIC
from credit_platform.ingest import generator, producer
from credit_platform.ingest.scenario import GeneratorConfig
from credit_platform.lag_exporter import LagCollector
from credit_platform.platform import process
from credit_platform.platform.services import all_services
from credit_platform.stream import flink, fraud_job

LAG_AIM_SECONDS = 5.0
WARM_UP_MINUTES = 1.0


class Feed(threading.Thread):
    """One topic's producer: each minute's events generated a minute ahead, sent at `rate` from the
    minute they are dated at."""

    def __init__(self, settings: config.Settings, kind: str, topic: str, rate: float, start: datetime,
                 minutes: int, seed: int) -> None:
        super().__init__(daemon=True, name=f"feed-{topic}")
        self.settings, self.kind, self.topic, self.rate = settings, kind, topic, rate
        self.begin, self.minutes, self.seed = start, minutes, seed
        self.sent = self.invalid = 0
        self.slip = 0.0  # seconds the latest minute began after it was due
        self.error: BaseException | None = None

    def _chunk(self, minute: int) -> list[bytes]:
        due = self.begin + timedelta(minutes=minute)
        frame = generator.generate(self.kind, int(self.rate * 60), GeneratorConfig(
            seed=self.seed + minute, start=due, rate_per_second=self.rate))
        return generator.to_json_lines(frame).splitlines()

    def run(self) -> None:
        try:
            upcoming = self._chunk(0)
            for minute in range(self.minutes):
                lines, due = upcoming, self.begin + timedelta(minutes=minute)
                ahead = threading.Thread(target=lambda m=minute: setattr(self, "_next", self._chunk(m + 1)))
                ahead.start()
                wait = (due - datetime.now(UTC)).total_seconds()
                if wait > 0:
                    time.sleep(wait)
                self.slip = max(0.0, -wait)
                # the minute's events are sent by the time the next minute is due: a minute begun late
                # (each produce run connects anew) is sent that much faster, so send time keeps to event time
                left = (due + timedelta(minutes=1) - datetime.now(UTC)).total_seconds()
                rate = max(self.rate, len(lines) / left) if left > 1 else None
                summary = producer.produce(self.settings, self.topic, lines, rate=rate, progress=False)
                self.sent += summary.sent
                self.invalid += summary.invalid
                ahead.join()
                upcoming = self._next  # type: ignore[attr-defined]
        except BaseException as exc:  # reported by the main thread
            self.error = exc


def checkpoint(settings: config.Settings, job_id: str) -> dict:
    stats = flink._rest(settings, f"/jobs/{job_id}/checkpoints")
    last = (stats.get("latest") or {}).get("completed") or {}
    # the state's whole size, and what this checkpoint wrote (less than the whole with RocksDB's
    # incremental checkpoints, which upload only the files made since the last one)
    return {"state_mb": round(last.get("state_size", 0) / 2**20, 1),
            "checkpoint_mb": round(last.get("checkpointed_size", last.get("state_size", 0)) / 2**20, 1),
            "checkpoint_s": round(last.get("end_to_end_duration", 0) / 1000, 2),
            "checkpoints_failed": stats["counts"]["failed"]}


def source_lag(settings: config.Settings, job_id: str) -> tuple[float | None, int]:
    """How far the job's Kafka sources of the input topics are behind: the largest `watermarkLag` (wall
    clock minus the source's watermark; events are dated when sent) in seconds, and `pendingRecords`
    (records in Kafka not yet read) summed over the sources' subtasks."""
    lag, pending = None, 0
    for vertex in flink._rest(settings, f"/jobs/{job_id}")["vertices"]:
        if not (vertex["name"].startswith("Source: KafkaSource") and "_in" in vertex["name"]):
            continue
        path = f"/jobs/{job_id}/vertices/{vertex['id']}/metrics"
        wanted = [m["id"] for m in flink._rest(settings, path)
                  if m["id"].endswith((".watermarkLag", ".pendingRecords")) and ".split." not in m["id"]]
        if not wanted:
            continue
        for metric in flink._rest(settings, f"{path}?get={','.join(wanted)}"):
            value = float(metric["value"])
            if metric["id"].endswith(".watermarkLag"):
                lag = max(lag or 0.0, value / 1000)
            else:
                pending += max(0, int(value))
    return (round(lag, 2) if lag is not None else None), pending


def heaps(settings: config.Settings) -> dict[str, float]:
    used = {}
    for tm in flink._rest(settings, "/taskmanagers")["taskmanagers"]:
        metrics = flink._rest(settings, f"/taskmanagers/{tm['id']}/metrics?get=Status.JVM.Memory.Heap.Used")
        used[tm["id"]] = round(float(metrics[0]["value"]) / 2**20) if metrics else None
    return used


def lags(collector: LagCollector) -> tuple[dict[str, int], int]:
    """Records behind per consumer group, and the input topics' end offsets summed."""
    behind: dict[str, int] = {}
    end = 0
    for family in collector.collect():
        if family.name == "kafka_consumergroup_lag_sum":
            for s in family.samples:
                if s.labels["topic"] in (APPLICATIONS_TOPIC, TRANSACTIONS_TOPIC):
                    behind[s.labels["group"]] = behind.get(s.labels["group"], 0) + int(s.value)
        if family.name == "kafka_topic_end_offset":
            end += sum(int(s.value) for s in family.samples
                       if s.labels["topic"] in (APPLICATIONS_TOPIC, TRANSACTIONS_TOPIC))
    return behind, end


def land(settings: config.Settings, log: Path) -> float:
    started = time.monotonic()
    with open(log, "a") as out:
        subprocess.run([sys.executable, "-m", "credit_platform", "land", "--quiet"], stdout=out, stderr=out,
                       check=False)
    return round(time.monotonic() - started, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--rate", type=float, default=5000.0, help="events per second, both topics together")
    parser.add_argument("--tx-share", type=float, default=0.75, help="share of the events that are transactions")
    parser.add_argument("--sample", type=float, default=60.0, help="seconds between samples")
    parser.add_argument("--land-every", type=int, default=5, help="minutes between landing runs (0: never)")
    parser.add_argument("--start-job", action="store_true", help="submit the fraud job if it is not running")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a Flink setting for the job --start-job submits (repeatable), e.g. "
                             "state.backend.type=rocksdb")
    args = parser.parse_args()

    settings = config.load()
    if args.start_job:
        fraud_job.ensure_running(settings, *(arg for kv in args.set for arg in ("--set", kv)))
    job = fraud_job.status(settings)
    if not job.running:
        raise SystemExit("the fraud job is not running: start it (`credit-platform fraud-job start`) "
                         "or pass --start-job")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = settings.home / "soak" / stamp
    out.mkdir(parents=True, exist_ok=True)
    start = (datetime.now(UTC) + timedelta(seconds=20)).replace(microsecond=0)
    seed = int(time.time())
    feeds = [Feed(settings, "transactions", TRANSACTIONS_TOPIC, args.rate * args.tx_share, start, args.minutes, seed),
             Feed(settings, "applications", APPLICATIONS_TOPIC, args.rate * (1 - args.tx_share), start, args.minutes,
                  seed + 100_000)]
    print(f"soak: {settings.topology} topology, {args.rate:,.0f} events/s for {args.minutes} min "
          f"from {start:%H:%M:%S}; fraud job {job.job_id}; output in {out}", flush=True)
    for feed in feeds:
        feed.start()

    collector = LagCollector(settings)
    services = [s for s in all_services(settings) if not s.oneshot and s.pid()]
    cpu_before = {s.name: cpu_seconds(s.pid()) for s in services}
    _, end_before = lags(collector)
    samples: list[dict] = []
    next_land = args.land_every
    begun = time.monotonic()
    last = begun
    while any(f.is_alive() for f in feeds):
        time.sleep(max(0.0, args.sample - (time.monotonic() - last)))
        now_mono, now = time.monotonic(), datetime.now(UTC)
        interval, last = now_mono - last, now_mono
        current = fraud_job.status(settings)
        behind, end = lags(collector)
        row = {"minute": round((now_mono - begun) / 60, 2), "produced": end - end_before, "event_lag_s": None,
               "pending": None, "lag_records": behind, "slip_s": round(max(f.slip for f in feeds), 1),
               "job": current.state, "restarts": None}
        if current.job_id:
            row["event_lag_s"], row["pending"] = source_lag(settings, current.job_id) if now > start else (None, None)
            row.update(checkpoint(settings, current.job_id))
            row["restarts"] = flink._rest(settings, f"/jobs/{current.job_id}").get("status-counts", {}).get("FAILED")
        row["heap_mb"] = heaps(settings)
        row["rss_mb"] = {s.name: round(process.rss_bytes(process.process_tree(s.pid())) / 2**20)
                         for s in services if s.pid()}
        cpu_now = {s.name: cpu_seconds(s.pid()) for s in services if s.pid()}
        row["cpu"] = {n: round((cpu_now[n] - cpu_before.get(n, cpu_now[n])) / interval, 3) for n in cpu_now}
        cpu_before = cpu_now
        if args.land_every and row["minute"] >= next_land:
            row["land_s"] = land(settings, out / "land.log")
            next_land += args.land_every
        samples.append(row)
        with open(out / "samples.jsonl", "a") as handle:
            handle.write(json.dumps(row) + "\n")
        print(f"{row['minute']:6.1f} min  produced {row['produced']:>10,}  event lag {row['event_lag_s']} s  "
              f"unread {row['pending']}  committed lag {behind}  "
              f"state {row.get('state_mb')} MB, checkpoint {row.get('checkpoint_mb')} MB {row.get('checkpoint_s')} s  "
              f"heap {row['heap_mb']}  cpu {sum(row['cpu'].values()):.2f}", flush=True)
    for feed in feeds:
        if feed.error:
            raise SystemExit(f"{feed.name} failed: {feed.error!r}")
    collector.close()
    verdict = report(out, samples, args, settings, feeds)
    print(verdict)


def _fifth(values: list[float], which: int) -> float | None:
    """The median of the `which`-th fifth (0..4) of the values."""
    n = len(values)
    part = values[n * which // 5: max(n * (which + 1) // 5, n * which // 5 + 1)]
    return round(statistics.median(part), 2) if part else None


def report(out: Path, samples: list[dict], args: argparse.Namespace, settings: config.Settings,
           feeds: list[Feed]) -> str:
    # the first minute is warm-up: the sources' watermarks still stand at the traffic before the run
    lags_s = [s["event_lag_s"] for s in samples if s["event_lag_s"] is not None and s["minute"] > WARM_UP_MINUTES]
    sizes = [s.get("state_mb") or s.get("checkpoint_mb") or 0 for s in samples]
    worst = max(lags_s) if lags_s else None
    early, late = _fifth(lags_s, 1), _fifth(lags_s, 4)
    growing = early is None or late is None or late > max(early * 1.5, early + 1)
    middle, end = _fifth(sizes, 2), _fifth(sizes, 4)
    # 0 MB: no checkpoint completed in that fifth (the job was restarting), which says nothing of levelling off
    levelled = bool(middle) and bool(end) and end <= middle * 1.25
    sent = sum(f.sent for f in feeds)
    lines = [
        f"# Soak, {settings.topology} topology, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "",
        f"`python -m bench.soak --minutes {args.minutes} --rate {args.rate:g} --tx-share {args.tx_share:g}"
        + "".join(f" --set {kv}" for kv in args.set) + "`", "",
        f"- events sent: {sent:,} ({sent / (args.minutes * 60):,.0f}/s; refused by the contract: "
        f"{sum(f.invalid for f in feeds):,})",
        f"- largest event-time lag of the fraud job after the first minute: {worst} s (aim < {LAG_AIM_SECONDS:g} s: "
        f"{'met' if worst is not None and worst < LAG_AIM_SECONDS else 'missed'})",
        f"- lag, median of the second fifth vs the last fifth: {early} s → {late} s "
        f"({'growing' if growing else 'not growing'})",
        f"- checkpointed state, median of the middle fifth vs the last fifth: {middle} MB → {end} MB "
        f"({'levelled off' if levelled else 'not levelled off'})",
        f"- checkpoint duration: max {max((s.get('checkpoint_s') or 0) for s in samples):.2f} s; failed checkpoints: "
        f"{samples[-1].get('checkpoints_failed') if samples else None}; job state at the end: "
        f"{samples[-1]['job'] if samples else None}", "",
        "| minute | produced | event lag s | producers' slip s | unread | committed lag | state MB | checkpoint MB "
        "| checkpoint s | heap MB | RSS MB (all) | CPU (cores) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in samples:
        lines.append(f"| {s['minute']} | {s['produced']:,} | {s['event_lag_s']} | {s['slip_s']} | {s['pending']} "
                     f"| {s['lag_records']} | "
                     f"{s.get('state_mb')} | {s.get('checkpoint_mb')} | {s.get('checkpoint_s')} | {s['heap_mb']} | "
                     f"{sum(s['rss_mb'].values()):,} | {sum(s['cpu'].values()):.2f} |")
    if samples:
        lines += ["", "RSS and CPU per service at the end:", "",
                  "| service | RSS MB | CPU (cores) |", "|---|---|---|"]
        lines += [f"| {n} | {mb:,} | {samples[-1]['cpu'].get(n, 0):.2f} |" for n, mb in samples[-1]["rss_mb"].items()]
    _plot(out / "soak.png", samples, settings)
    lines += ["", "![soak](soak.png)"]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return "\n".join(lines[:9]) + f"\n\nreport: {out / 'report.md'}"


def _plot(path: Path, samples: list[dict], settings: config.Settings) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not samples:
        return
    minutes = [s["minute"] for s in samples]
    fig, axes = plt.subplots(2, 2, figsize=(12, 7))
    ax = axes[0][0]
    ax.plot(minutes, [s["event_lag_s"] for s in samples], label="fraud job event-time lag (s)")
    ax.axhline(LAG_AIM_SECONDS, color="red", linestyle="--", label="aim")
    ax.set_title("event-time lag (s)")
    ax.legend()
    ax = axes[0][1]
    ax.plot(minutes, [s.get("state_mb") for s in samples], label="state (MB)")
    ax.plot(minutes, [s.get("checkpoint_mb") for s in samples], color="green", label="written (MB)")
    ax2 = ax.twinx()
    ax2.plot(minutes, [s.get("checkpoint_s") for s in samples], color="red", label="duration (s)")
    ax.set_title("checkpoint: state (blue) and written (green) MB, duration (s, red)")
    ax = axes[1][0]
    for tm in samples[-1]["heap_mb"]:
        ax.plot(minutes, [s["heap_mb"].get(tm) for s in samples], label=tm)
    ax.set_title("TaskManager heap in use (MB)")
    ax.legend()
    ax = axes[1][1]
    ax.plot(minutes, [sum(s["rss_mb"].values()) / 1024 for s in samples], label="RSS, all services (GB)")
    ax.plot(minutes, [sum(s["cpu"].values()) for s in samples], label="CPU, all services (cores)")
    ax.set_title("RSS (GB) and CPU (cores)")
    ax.legend()
    for row in axes:
        for a in row:
            a.set_xlabel("minute")
    fig.suptitle(f"soak, {settings.topology} topology")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    main()
