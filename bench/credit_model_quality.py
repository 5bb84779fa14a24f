"""Quality of the credit scorecard as a risk team judges it, on a fresh seed, in one run:

- out of time: the scorecard's AUC and KS on the latest applications, beside the true PD's AUC
  (the generator's label: the best any model of the characteristics can do, the ceiling) and the
  bureau score alone (the seed's baseline); ratio to the ceiling;
- lending: at the seed's approval rate (instant approval for bureau score >= 700 and a loan up to
  15,000), the bad rate among the approved under the seed's rule and under the scorecard; the
  policy's cut-offs: approval, manual-review and decline shares, the bad rate among its approvals
  and among the same share approved by bureau score;
- monitoring: the PSI of score_points and of each characteristic on an undrifted and a drifted day;
- speed: fitting the scorecard on 1M applications; with `--job-applications N` (needs a running
  platform: `credit-platform up`), also the whole training job (`spark-submit
  jobs/train_credit_model.py`) on a history of N applications with outcomes produced to Kafka
  and landed, beside the landing of the same history (the baseline of the same run).

Without `--job-applications` no platform is needed; the scorecard is fitted and applied by the
same code the training job runs.

    .venv/bin/python bench/credit_model_quality.py [--applications 400000] [--seed 7] [--fit-rows 1000000]
                                                   [--job-applications 1250000]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, date, datetime, timedelta

import polars as pl

from credit_platform.ingest import generator
from credit_platform.ingest.scenario import GeneratorConfig
from credit_platform.model import evaluation
from credit_platform.model.fit import fit_scorecard
from credit_platform.model.training import split_out_of_time
from credit_platform.rules.credit import score_frame
from credit_platform.rules.lending import DEFAULT_POLICY

AS_OF = date(2026, 6, 1)
HISTORY_DAYS = 365


def closed_history(n: int, seed: int) -> pl.DataFrame:
    """Applications of the year before AS_OF whose performance window has closed, with outcomes."""
    config = GeneratorConfig(seed=seed, start=datetime(AS_OF.year, AS_OF.month, AS_OF.day, tzinfo=UTC))
    apps, outcomes = generator.history(n, HISTORY_DAYS, config)
    window_end = (AS_OF - timedelta(days=DEFAULT_POLICY.performance_window_days)).isoformat()
    return apps.filter(pl.col("timestamp") < window_end).join(outcomes, on="application_id")


def day_psi(card, seed: int, drift: bool) -> dict[str, float]:
    """PSI of one generated day (20,000 applications) against the scorecard's training sample, with
    the bins the Python reference assigns (as the nightly job's Spark twin does)."""
    from collections import Counter

    from credit_platform.batch.scoring import SCORE_POINTS, population_stability
    from credit_platform.rules.credit import characteristic_value, score_bin_index

    start = datetime(AS_OF.year, AS_OF.month, AS_OF.day, tzinfo=UTC)
    config = GeneratorConfig(seed=seed, start=start, rate_per_second=0.2, drift_from=start if drift else None)
    apps = generator.applications(20_000, config)
    points = score_frame(card, apps)["score_points"].to_list()
    counts: dict[str, Counter] = {c.name: Counter() for c in card.characteristics}
    for row in apps.iter_rows(named=True):
        for c in card.characteristics:
            counts[c.name][c.bin_index(characteristic_value(c.name, row))] += 1
    counts[SCORE_POINTS] = Counter(score_bin_index(p, card.score_bins) for p in points)
    shares = {name: {i: n / apps.height for i, n in bins.items()} for name, bins in counts.items()}
    return population_stability(card, shares)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--applications", type=int, default=400_000, help="history generated (a year)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fit-rows", type=int, default=1_000_000, help="applications for the timing of a fit")
    parser.add_argument("--job-applications", type=int, default=0,
                        help="also time the training job on a landed history of this many applications")
    args = parser.parse_args()
    policy = DEFAULT_POLICY

    sample = closed_history(args.applications, args.seed)
    train, oot, oot_from = split_out_of_time(sample, 0.2)
    started = time.monotonic()
    card = fit_scorecard(train, policy, AS_OF)
    fit_seconds = time.monotonic() - started
    scored = score_frame(card, oot)
    y = oot["defaulted"].cast(int).to_numpy()
    pd_, points = scored["probability_of_default"].to_numpy(), scored["score_points"].to_numpy()
    auc, ks = evaluation.auc(y, -points), evaluation.ks(y, -points)
    ceiling = evaluation.auc(y, oot["true_pd"].to_numpy())
    bureau = evaluation.auc(y, -oot["credit_score"].to_numpy())

    seed_approved = ((oot["credit_score"] >= policy.low_risk_min_score)
                     & (oot["loan_amount"] <= float(policy.instant_approval_max_amount))).to_numpy()
    seed_rate = float(seed_approved.mean())
    approve = pd_ <= float(policy.approve_max_pd)
    decline = pd_ >= float(policy.decline_min_pd)
    shares = evaluation.decision_shares(pd_, policy)

    calm, drifted = day_psi(card, args.seed + 100, False), day_psi(card, args.seed + 100, True)

    fit_n = args.fit_rows
    big = generator.applications(fit_n, GeneratorConfig(seed=args.seed + 1, rate_per_second=fit_n / (300 * 86400)))
    big_config = GeneratorConfig(seed=args.seed + 1)
    big = big.join(generator.outcomes_of(big, big_config, as_of=datetime(2030, 1, 1, tzinfo=UTC)), on="application_id")
    started = time.monotonic()
    fit_scorecard(big, policy, AS_OF)
    big_seconds = time.monotonic() - started

    figures = {
        "seed": args.seed, "train_rows": train.height, "out_of_time_rows": oot.height,
        "out_of_time_from": str(oot_from),
        "default_rate_oot": round(float(y.mean()), 4),
        "auc": round(auc, 4), "ks": round(ks, 4), "true_pd_auc": round(ceiling, 4), "bureau_auc": round(bureau, 4),
        "auc_vs_ceiling": round(auc / ceiling, 4),
        "seed_approval_rate": round(seed_rate, 4),
        "bad_rate_seed_rule": round(float(y[seed_approved].mean()), 4),
        "bad_rate_scorecard_same_rate": round(evaluation.bad_rate_at(y, pd_, seed_rate), 4),
        "policy_shares": shares,
        "bad_rate_policy_approved": round(float(y[approve].mean()), 4),
        "bad_rate_bureau_same_rate": round(evaluation.bad_rate_at(y, -oot["credit_score"].to_numpy(),
                                                                  float(approve.mean())), 4),
        "declined_bad_rate": round(float(y[decline].mean()), 4),
        "psi_undrifted": {k: round(v, 4) for k, v in calm.items()},
        "psi_drifted": {k: round(v, 4) for k, v in drifted.items()},
        "fit_seconds": round(fit_seconds, 1), "fit_rows_timed": big.height, "fit_seconds_timed": round(big_seconds, 1),
    }
    print(f"credit scorecard, seed {args.seed}: trained on {train.height:,} applications, judged out of time on "
          f"{oot.height:,} from {oot_from} (default rate {y.mean():.2%})\n")
    print(f"  AUC        scorecard {auc:.4f}   true PD (ceiling) {ceiling:.4f}   bureau score only {bureau:.4f}")
    print(f"             scorecard / ceiling = {auc / ceiling:.3f}  (aim >= 0.95);  KS {ks:.4f}")
    print(f"  approvals  at the seed's rate ({seed_rate:.1%}): bad rate {figures['bad_rate_seed_rule']:.2%} under "
          f"the seed's buckets, {figures['bad_rate_scorecard_same_rate']:.2%} under the scorecard")
    print(f"  policy     approve {shares['approve']:.1%} (PD <= {policy.approve_max_pd}), manual review "
          f"{shares['manual_review']:.1%} (aim <= 25%), decline {shares['decline']:.1%} "
          f"(PD >= {policy.decline_min_pd})")
    print(f"             bad rate among its approvals {figures['bad_rate_policy_approved']:.2%}; the same share "
          f"approved by bureau score: {figures['bad_rate_bureau_same_rate']:.2%}; among declines "
          f"{figures['declined_bad_rate']:.2%}")
    print(f"  PSI        undrifted day: score_points {calm['score_points']:.3f}, max {max(calm.values()):.3f} "
          f"(aim < 0.10);  drifted day: score_points {drifted['score_points']:.3f} (aim >= 0.25), "
          f"credit_score {drifted['credit_score']:.3f}")
    print(f"  speed      fit on {train.height:,}: {fit_seconds:.1f}s;  fit on {big.height:,}: {big_seconds:.1f}s "
          "(aim <= 120s)")
    if args.job_applications:
        figures["job"] = training_job(args.job_applications, args.seed + 2)
        job = figures["job"]
        print(f"  job        produce {job['produced']:,} events {job['produce_seconds']:.0f}s, land them "
              f"{job['land_seconds']:.0f}s (baseline); training job on {job['sample_rows']:,} applications with "
              f"outcomes: {job['job_seconds']:.0f}s (sample {job['sample_seconds']:.0f}s, fit "
              f"{job['fit_seconds']:.0f}s; {job['job_seconds'] / job['land_seconds']:.2f}x the landing)")
    print(json.dumps(figures))


def training_job(applications: int, seed: int) -> dict:
    """The whole training job on a landed history: produce, land, spark-submit (a running platform)."""
    import subprocess

    from credit_platform import config
    from credit_platform.batch import spark_submit
    from credit_platform.contracts.names import APPLICATIONS_TOPIC, LOAN_OUTCOMES_TOPIC
    from credit_platform.ingest import landing, producer

    settings = config.load()
    day = date(2015, 1, 1) + timedelta(days=seed % 1000)  # a date of its own, in the past
    days = 365 + DEFAULT_POLICY.performance_window_days
    apps, outcomes = generator.history(applications, days, GeneratorConfig(seed=seed, start=datetime(
        day.year, day.month, day.day, tzinfo=UTC)))
    started = time.monotonic()
    for topic, frame in ((APPLICATIONS_TOPIC, apps), (LOAN_OUTCOMES_TOPIC, outcomes)):
        assert producer.produce(settings, topic, generator.to_json_lines(frame).splitlines(), progress=False).complete
    produced = time.monotonic() - started
    started = time.monotonic()
    landing.Lander(settings, progress=False).run()
    landed = time.monotonic() - started
    started = time.monotonic()
    result = spark_submit.submit(settings, "train_credit_model", [
        "--as-of", str(day), "--history-days", str(days), "--promote", "never", "--requested-by", "bench"])
    job_seconds = time.monotonic() - started
    if result.returncode:
        raise subprocess.CalledProcessError(result.returncode, result.args, result.stdout)
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    return {"produced": apps.height + outcomes.height, "produce_seconds": round(produced, 1),
            "land_seconds": round(landed, 1), "job_seconds": round(job_seconds, 1),
            "sample_rows": summary["sample"]["with_outcome"], "sample_seconds": summary["seconds"]["sample"],
            "fit_seconds": summary["seconds"]["fit"], "model": summary["version"], "auc": summary["auc"]}


if __name__ == "__main__":
    main()
