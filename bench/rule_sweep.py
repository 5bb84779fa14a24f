"""Tune one fraud-rule setting the way a fraud team does: sweep its values over labelled history,
choose on tuning data, confirm on held-out data.

Generated traffic with benign look-alikes (the generator's fraud follows its own `FraudWorld`, never
the rules' settings, so the sweep moves the alerts and not the fraud), scored by the rules'
reference (the parity tests hold the job's SQL to it alert for alert). Two regimes, each on its own
seeds: whole days (events spread over 24 hours, so customers have history and travellers fly) and
the demo's short streams at the generator's 50 events/s. The choice is the value with the highest
recall of the rule's own pattern whose precision reaches `--target` on every tuning set; the
held-out sets then show what it does on data it was not chosen on.

    .venv/bin/python -m bench.rule_sweep [--sweep amount_spike.factor=5,10,12,13,14,15]
        [--target 0.9] [--events 100000] [--stream-events 20000]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

from bench.detection_quality import generated
from credit_platform.quality import detection_report
from credit_platform.rules.fraud import DEFAULT_FRAUD_RULES, SETTING_BY_NAME, reference_alerts, rules_from_settings


@dataclass(frozen=True)
class DataSet:
    name: str
    seeds: tuple[int, ...]
    events: int
    days: float  # 0: the generator's own rate


def _seeds(text: str) -> tuple[int, ...]:
    return tuple(int(s) for s in text.split(","))


def score(data: DataSet, rule: str, setting: str, values: list[str]) -> dict[str, tuple[int, int, int, int]]:
    """Per value: alerts of the rule, of them on fraud, events of its pattern, of them alerted."""
    totals = {v: (0, 0, 0, 0) for v in values}
    for seed in data.seeds:
        frames = generated(data.events, data.days, seed=seed)
        apps, txs = frames["credit_applications"], frames["transactions"]
        truth = detection_report.labels(apps, txs)
        for v in values:
            rules = rules_from_settings({setting: v})
            report = detection_report.score(truth, detection_report.alerts_frame(reference_alerts(apps, txs, rules)))
            s = next(r for r in report.rules if r.rule == rule)
            a, o, e, c = totals[v]
            totals[v] = (a + s.alerts, o + s.on_fraud, e + s.pattern_events, c + s.pattern_caught)
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", default="amount_spike.factor=5,10,12,13,14,15", metavar="RULE.KEY=V1,V2,...")
    parser.add_argument("--target", type=float, default=0.9, help="least precision on every tuning set")
    parser.add_argument("--events", type=int, default=100_000, help="per stream, per day")
    parser.add_argument("--stream-events", type=int, default=20_000, help="per stream, per short stream")
    parser.add_argument("--tune-seeds", type=_seeds, default=(1, 2, 3))
    parser.add_argument("--holdout-seeds", type=_seeds, default=(4, 5, 6, 7, 8))
    args = parser.parse_args()

    setting, _, raw = args.sweep.partition("=")
    if setting not in SETTING_BY_NAME or not raw:
        parser.error(f"--sweep RULE.KEY=V1,V2,...; known settings: {', '.join(SETTING_BY_NAME)}")
    rule, values = setting.split(".")[0], raw.split(",")
    for v in values:
        try:
            rules_from_settings({setting: v})
        except ValueError as error:
            parser.error(f"--sweep {setting}={v}: {error}")
    deployed = getattr(DEFAULT_FRAUD_RULES, SETTING_BY_NAME[setting].field)
    tuning = [DataSet("days (tuning)", args.tune_seeds, args.events, 1),
              DataSet("short streams (tuning)", args.tune_seeds, args.stream_events, 0)]
    holdout = [DataSet("days (held out)", args.holdout_seeds, args.events, 1),
               DataSet("short streams (held out)", args.holdout_seeds, args.stream_events, 0)]
    started = time.monotonic()
    results = {d: score(d, rule, setting, values) for d in tuning + holdout}

    print(f"{setting}: precision and recall of `{rule}` on its own pattern (default {deployed}; "
          f"{args.events:,} events of each kind per day, {args.stream_events:,} per short stream)\n")
    print(f"{'data':<26} {'seeds':<12} {'value':>7} {'alerts':>7} {'precision':>9} {'recall':>7}")
    for data, totals in results.items():
        for v, (a, o, e, c) in totals.items():
            print(f"{data.name:<26} {','.join(map(str, data.seeds)):<12} {v:>7} {a:>7,} "
                  f"{o / a if a else 0:>9.3f} {c / e if e else 0:>7.3f}")
        print()

    def passes(v: str) -> bool:
        return all(results[d][v][0] and results[d][v][1] / results[d][v][0] >= args.target for d in tuning)

    chosen = max((v for v in values if passes(v)), default=None,
                 key=lambda v: (sum(results[d][v][3] for d in tuning) / max(1, sum(results[d][v][2] for d in tuning)),
                                -values.index(v)))
    if chosen is None:
        print(f"no value reaches precision {args.target} on every tuning set")
    else:
        held = ", ".join(f"{d.name}: precision {results[d][chosen][1] / max(1, results[d][chosen][0]):.3f} "
                         f"recall {results[d][chosen][3] / max(1, results[d][chosen][2]):.3f}" for d in holdout)
        print(f"chosen on the tuning sets (precision >= {args.target} on each, then the highest recall): "
              f"{setting}={chosen}; {held}")
    print(f"({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
