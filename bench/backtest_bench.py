"""How long a backtest of the fraud rules takes: the stream's rule SQL on a local Flink mini-cluster
over one generated day (applications and transactions, JSON lines as the backtest writes them),
under the live version and a proposal, beside the polars/numpy reference of the same rules on the
same events (the baseline, measured in the same run). No platform needed.

    .venv/bin/python bench/backtest_bench.py [--events 100000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from credit_platform.ingest import generator
from credit_platform.ingest.scenario import GeneratorConfig
from credit_platform.rules.fraud import DEFAULT_FRAUD_RULES, reference_alerts, rules_from_settings
from credit_platform.stream.backtest import run_rule_rows, run_rules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000, help="events in the day, half of each kind")
    args = parser.parse_args()
    half = args.events // 2
    config = GeneratorConfig(seed=5, rate_per_second=half / 86_400, start=datetime(2026, 3, 2, tzinfo=UTC))
    apps, txs = generator.generate("applications", half, config), generator.generate("transactions", half, config)
    app_lines, tx_lines = generator.to_json_lines(apps).splitlines(), generator.to_json_lines(txs).splitlines()
    live = [(datetime(1970, 1, 1, tzinfo=UTC), 1, DEFAULT_FRAUD_RULES)]
    proposal = [(t, v, rules_from_settings({"application_velocity.min_applications": "3"}, r)) for t, v, r in live]

    started = time.monotonic()
    want = reference_alerts(apps, txs, versions=live)
    baseline = time.monotonic() - started
    timings = []
    with tempfile.TemporaryDirectory() as work:
        started = time.monotonic()  # the first run starts the JVM
        got = run_rules(Path(work) / "live", app_lines, tx_lines, DEFAULT_FRAUD_RULES, live)
        timings.append(("live versions (JVM start included)", time.monotonic() - started, len(got)))
        assert set(got) == want, "the backtest's alerts differ from the reference"
        started = time.monotonic()
        rows = run_rule_rows(Path(work) / "both", app_lines, tx_lines,
                             {"": (DEFAULT_FRAUD_RULES, live), "_proposed": (DEFAULT_FRAUD_RULES, proposal)})
        timings.append(("a backtest: live + proposal, 1 job", time.monotonic() - started,
                        len({r[0] for r in rows["_proposed"]})))
        assert {r[0] for r in rows[""]} == want
    print(f"{args.events:,} events over one day ({half:,} applications + {half:,} transactions), 2 cores")
    print(f"  {'run (Flink mini-cluster but the first)':<34} {'seconds':>8} {'alerts':>8} {'events/s':>10} "
          f"{'ratio':>7}")
    print(f"  {'baseline: polars/numpy reference':<34} {baseline:>8.1f} {len(want):>8,} "
          f"{args.events / baseline:>10,.0f} {1:>6.2f}x")
    for name, seconds, alerts in timings:
        print(f"  {name:<34} {seconds:>8.1f} {alerts:>8,} {args.events / seconds:>10,.0f} "
              f"{seconds / baseline:>6.2f}x")


if __name__ == "__main__":
    main()
