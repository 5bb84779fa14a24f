"""Detection quality of the fraud job: generated data with known labels through the real job,
then precision and recall per rule and per injected pattern.

Needs a running platform (`credit-platform up`). Uses its own topics and alert collection.

    .venv/bin/python bench/detection_quality.py [--events 20000] [--fraud-share 0.02] [--seed 42]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000, help="per stream")
    parser.add_argument("--fraud-share", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    settings = config.load()
    cfg = GeneratorConfig(seed=args.seed, fraud_share=args.fraud_share)
    frames = {"credit_applications": generator.generate("applications", args.events, cfg),
              "transactions": generator.generate("transactions", args.events, cfg)}
    want = len(reference_alerts(frames["credit_applications"], frames["transactions"]))
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
    truth = detection_report.labels(frames["credit_applications"], frames["transactions"])
    print(f"{args.events:,} applications + {args.events:,} transactions, fraud share {args.fraud_share}, seed "
          f"{args.seed}: {len(docs):,} alerts in {time.monotonic() - started:.0f}s\n")
    print(detection_report.render(*detection_report.score(truth, alerts)))


if __name__ == "__main__":
    main()
