"""What the platform burns when nothing flows: CPU of every service, as a share of one core.

Needs a running platform (`credit-platform up`, with the fraud job running as `make demo` leaves
it). Waits until every consumer group's lag is zero (the lag exporter's own collector), then reads
each service's CPU time (user + system of its whole process tree, from /proc) at the start and the
end of a quiet period and prints the share of one core per service and in total, against the
issue's aim (all services together under 15% of one core). Nothing is produced meanwhile.

`--fill N` first produces N applications and N transactions dated over the last 70 minutes, so the
fraud job's windows hold state when the quiet period starts (their full snapshot every checkpoint is
what the TaskManager then spends). `--changelog` then stops the fraud job with a savepoint and
resumes it from there with Flink's changelog on its heap state (CLAIM mode: the changelog cannot
take the full first checkpoint NO_CLAIM asks for), so the same state is measured both ways.

    .venv/bin/python bench/idle_bench.py [--seconds 60] [--settle 30] [--fill 100000] [--changelog]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from credit_platform import config
from credit_platform.lag_exporter import LagCollector
from credit_platform.platform import process
from credit_platform.platform.services import all_services

AIM = 0.15  # of one core, all services together
TICKS = os.sysconf("SC_CLK_TCK")


def lag(collector: LagCollector) -> int:
    """Records behind, summed over every consumer group and topic (-1 when Kafka did not answer)."""
    total = 0
    for family in collector.collect():
        if family.name == "kafka_exporter_up" and not all(s.value for s in family.samples):
            return -1
        if family.name == "kafka_consumergroup_lag_sum":
            total += int(sum(s.value for s in family.samples))
    return total


def cpu_seconds(root: int) -> float:
    """User + system CPU of a process and every descendant alive now."""
    total = 0
    for pid in process.process_tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return total / TICKS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the quiet period measured")
    parser.add_argument("--settle", type=float, default=30.0, help="wait this long after the lag reaches zero")
    parser.add_argument("--fill", type=int, default=0, help="produce this many events of each kind first")
    parser.add_argument("--changelog", action="store_true",
                        help="measure, then resume the fraud job with the changelog and measure again")
    args = parser.parse_args()
    settings = config.load()
    if args.fill:
        fill(settings, args.fill)
    measure(settings, args)
    if args.changelog:
        from bench.fraud_bench import changelog
        from credit_platform.stream import fraud_job

        savepoint = fraud_job.stop(settings)
        fraud_job.submit(settings, *changelog(settings), "--set", "execution.state-recovery.claim-mode=CLAIM",
                         restore_from=savepoint)
        print(f"\nthe fraud job resumed from {savepoint} with the changelog")
        time.sleep(30)  # its first checkpoints
        measure(settings, args)


def fill(settings: config.Settings, events: int) -> None:
    from datetime import UTC, datetime, timedelta

    from credit_platform.contracts.names import APPLICATIONS_TOPIC, TRANSACTIONS_TOPIC
    from credit_platform.ingest import generator, producer
    from credit_platform.ingest.scenario import GeneratorConfig

    cfg = GeneratorConfig(seed=int(time.time()), start=datetime.now(UTC) - timedelta(minutes=70),
                          rate_per_second=events / 4000)  # spread over about 67 minutes
    for kind, topic in (("applications", APPLICATIONS_TOPIC), ("transactions", TRANSACTIONS_TOPIC)):
        lines = generator.to_json_lines(generator.generate(kind, events, cfg)).splitlines()
        print(producer.produce(settings, topic, lines, progress=False).render())


def checkpoint(settings: config.Settings) -> str:
    """The fraud job's last completed checkpoint, and what each stateful operator holds in it."""
    from credit_platform.stream import flink, fraud_job

    job = fraud_job.status(settings).job_id
    last = (flink._rest(settings, f"/jobs/{job}/checkpoints")["latest"]["completed"] or {}) if job else {}
    lines = [f"the fraud job's last checkpoint: {last.get('checkpointed_size', 0) / 2**20:.1f} MB written, "
             f"{last.get('state_size', 0) / 2**20:.1f} MB of state, {last.get('end_to_end_duration', 0)} ms"]
    if last:
        tasks = flink._rest(settings, f"/jobs/{job}/checkpoints/details/{last['id']}")["tasks"]
        plan = {node["id"]: node["description"] for node in flink._rest(settings, f"/jobs/{job}/plan")["plan"]["nodes"]}
        for vertex, task in sorted(tasks.items(), key=lambda kv: -kv[1].get("state_size", 0)):
            if task.get("state_size", 0) >= 2**17:
                lines.append(f"  {task['state_size'] / 2**20:8.1f} MB  {operator_label(plan.get(vertex, vertex))}")
    return "\n".join(lines)


def operator_label(description: str) -> str:
    """The head of a stateful operator's plan text: what it is, its key and its window or bounds."""
    import html
    import re

    text = html.unescape(description).split("\n")[0]
    text = re.split(r", (?:select|where)=", text)[0]
    return text[:130]


def measure(settings: config.Settings, args: argparse.Namespace) -> None:
    collector = LagCollector(settings)
    while (behind := lag(collector)) != 0:
        print(f"waiting for every consumer's lag to reach zero ({behind:,} records behind)")
        time.sleep(5)
    time.sleep(args.settle)
    services = {s.name: pid for s in all_services(settings) if not s.oneshot and (pid := s.pid())}
    before = {name: cpu_seconds(pid) for name, pid in services.items()}
    started = time.monotonic()
    time.sleep(args.seconds)
    elapsed = time.monotonic() - started
    share = {name: max(0.0, cpu_seconds(pid) - before[name]) / elapsed for name, pid in services.items()}
    behind = lag(collector)
    collector.close()
    print(f"\nCPU per service over {elapsed:.0f} s with nothing flowing (lag at the end: {behind:,}), % of one core:")
    for name, value in sorted(share.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<24} {100 * value:6.1f}%")
    total = sum(share.values())
    print(f"  {'total':<24} {100 * total:6.1f}%   aim < {100 * AIM:.0f}%: {total / AIM:.2f}x the aim")
    print(checkpoint(settings))


if __name__ == "__main__":
    main()
