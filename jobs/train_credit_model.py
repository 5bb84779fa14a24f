"""Train the credit scorecard on landed applications and their outcomes; promote it when it beats
the champion out of time.

    spark-submit --master local[2] jobs/train_credit_model.py --as-of 2026-06-01 [--history-days 365]
    credit-platform train --as-of 2026-06-01            (the same, with the platform's settings)

Reads the applications landed within `--history-days` before `--as-of` whose performance window
has closed, validated against the contract, with their landed loan outcomes; fits the scorecard
(monotonic optimal binning, weights of evidence, logistic regression, points scaled as the policy
in MongoDB says) on all but the latest `--out-of-time-share` of them and judges it on those. The
model goes to the warehouse table `credit_models`; it becomes the champion when its out-of-time
AUC is no worse than the champion's on the same applications (`--promote auto`), or when forced
with a `--reason`. The report (ROC, KS, score distribution, calibration, points table) goes to
the model reports folder. Prints the run's summary as JSON on its last line.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import sys
import time
from datetime import UTC, date, datetime

from credit_platform import config
from credit_platform.model import HISTORY_DAYS, OUT_OF_TIME_SHARE, training


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--as-of", required=True, type=date.fromisoformat,
                        help="train on what was known at 00:00 UTC of this date")
    parser.add_argument("--history-days", type=int, default=HISTORY_DAYS, help="applications from this many days back")
    parser.add_argument("--out-of-time-share", type=float, default=OUT_OF_TIME_SHARE,
                        help="latest share of the sample held out to judge the model")
    parser.add_argument("--promote", choices=training.PROMOTE_MODES, default="auto",
                        help="auto: when no worse than the champion out of time; never; force (needs --reason)")
    parser.add_argument("--reason", default="", help="why a forced promotion is made (recorded)")
    parser.add_argument("--requested-by", default=training.JOB_NAME, help="who asked for the run (recorded)")
    parser.add_argument("--run-id", help="id for the model's record (Airflow passes its run id)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = config.load()
    run_id = args.run_id or f"{training.JOB_NAME}-{args.as_of}-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    options = training.TrainingOptions(as_of=args.as_of, run_id=run_id, history_days=args.history_days,
                                       out_of_time_share=args.out_of_time_share, promote=args.promote,
                                       reason=args.reason, requested_by=args.requested_by)
    started = time.monotonic()

    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.appName(f"train_credit_model {args.as_of}")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.sql.shuffle.partitions", 4)
             .getOrCreate())
    spark.sparkContext.setLogLevel("WARN")
    try:
        result = training.train(spark, settings, options)
    finally:
        spark.stop()
    summary = result.summary()
    summary["seconds"]["total"] = round(time.monotonic() - started, 2)
    summary["ran_as"] = pwd.getpwuid(os.getuid()).pw_name
    print(json.dumps(summary, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
