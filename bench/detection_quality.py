"""Detection quality of the fraud job: generated data with known labels through the real job,
then precision and recall per rule and per injected pattern.

Needs a running platform (`credit-platform up`). Uses its own topics and alert collection.
`--reference`: the rules' Python reference instead of the job (no platform; the parity test holds
the job's SQL to it alert for alert), for a quick look at larger days.

    .venv/bin/python -m bench.detection_quality [--events 20000] [--fraud-share 0.02] [--seed 42]
        [--lookalike-share 0.005] [--days 1] [--reference]
"""

from __future__ import annotations

import argparse
import time

import polars as pl

from bench.fraud_bench import Phase, wait_for_alerts  # noqa: E402
from credit_platform import config
from credit_platform.ingest import generator
from credit_platform.ingest.scenario import GeneratorConfig
from credit_platform.quality import detection_report
from credit_platform.rules.fraud import reference_alerts


def generated(events: int, days: float, **scenario) -> dict[str, pl.DataFrame]:  # noqa: ANN003
    """`events` applications and as many transactions, spread over `days` (0: the generator's own
    rate), keyed by topic; `scenario`: further GeneratorConfig fields (seed, shares)."""
    rate = events / (days * 86_400) if days else GeneratorConfig.rate_per_second
    cfg = GeneratorConfig(rate_per_second=rate, **scenario)
    return {"credit_applications": generator.generate("applications", events, cfg),
            "transactions": generator.generate("transactions", events, cfg)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000, help="per stream")
    parser.add_argument("--fraud-share", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--lookalike-share", type=float, default=GeneratorConfig.lookalike_share)
    parser.add_argument("--days", type=float, default=0, help="spread the events over this many days "
                        "(default: the generator's 50 events/s)")
    parser.add_argument("--reference", action="store_true", help="score the rules' reference, no platform")
    args = parser.parse_args()
    frames = generated(args.events, args.days, seed=args.seed, fraud_share=args.fraud_share,
                       lookalike_share=args.lookalike_share)
    expected = reference_alerts(frames["credit_applications"], frames["transactions"])
    truth = detection_report.labels(frames["credit_applications"], frames["transactions"])
    if args.reference:
        alerts = detection_report.alerts_frame(expected)
        print(f"{args.events:,} applications + {args.events:,} transactions, fraud share {args.fraud_share}, "
              f"look-alikes {args.lookalike_share}, seed {args.seed}: {len(expected):,} alerts (the reference)\n")
        print(detection_report.score(truth, alerts).render())
        return
    settings = config.load()
    want = len(expected)
    phase = Phase(settings, "quality")
    job = phase.submit()
    started = time.monotonic()
    for kind, frame in frames.items():
        phase.produce(kind, frame)
    phase.sentinel(frames)
    try:
        wait_for_alerts(phase, job, want, timeout=600)
        docs = list(phase.alerts.find({}, {"event_id": 1, "rule": 1}))
    finally:
        phase.close(job)
    alerts = pl.DataFrame({"event_id": [d["event_id"] for d in docs], "rule": [d["rule"] for d in docs]})
    print(f"{args.events:,} applications + {args.events:,} transactions, fraud share {args.fraud_share}, seed "
          f"{args.seed}: {len(docs):,} alerts in {time.monotonic() - started:.0f}s\n")
    print(detection_report.score(truth, alerts).render())


if __name__ == "__main__":
    main()
