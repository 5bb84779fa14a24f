"""What the platform burns when nothing flows: CPU of every service, as a share of one core.

Needs a running platform (`credit-platform up`, with the fraud job running as `make demo` leaves
it). Waits until every consumer group's lag is zero (the lag exporter's own collector), then reads
each service's CPU time (user + system of its whole process tree, from /proc) at the start and the
end of a quiet period and prints the share of one core per service and in total, against the
issue's aim (all services together under 15% of one core). Nothing is produced meanwhile.

    .venv/bin/python bench/idle_bench.py [--seconds 60] [--settle 30]
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
    args = parser.parse_args()
    settings = config.load()
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


if __name__ == "__main__":
    main()
