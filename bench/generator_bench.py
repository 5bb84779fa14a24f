"""Generator throughput against the seed's approach, measured in the same run.

Baseline: a plain per-row loop calling Faker and json.dumps for each event, the way the seed
generated data. Ours: `credit_platform.generator` (vectorised; polars writes the JSON lines).
Both produce JSON lines in memory; the figure is rows per second of finished output.

    .venv/bin/python bench/generator_bench.py [--rows 1000000] [--baseline-rows 20000]
"""

from __future__ import annotations

import argparse
import json
import random
import time

from faker import Faker

from credit_platform.ingest import generator
from credit_platform.ingest.scenario import GeneratorConfig


def seed_style(kind: str, rows: int, seed: int) -> bytes:
    fake = Faker()
    Faker.seed(seed)
    random.seed(seed)
    out = []
    for _ in range(rows):
        score = random.randint(300, 850)
        if kind == "applications":
            event = {"application_id": fake.uuid4(), "user_id": fake.uuid4(), "credit_score": score,
                     "loan_amount": round(random.uniform(500, 60000), 2), "timestamp": fake.iso8601(),
                     "city": fake.city(), "device_id": fake.uuid4(), "is_fraud": random.random() < 0.02}
        else:
            event = {"transaction_id": fake.uuid4(), "user_id": fake.uuid4(),
                     "amount": round(random.uniform(1, 500), 2),
                     "timestamp": fake.iso8601(), "location": fake.city(), "merchant": fake.company(),
                     "card_type": random.choice(["VISA", "MASTERCARD", "AMEX"]), "device_id": fake.uuid4(),
                     "credit_score": score,
                     "risk_level": "Low" if score >= 700 else "Medium" if score >= 500 else "High",
                     "is_fraud": random.random() < 0.02}
        out.append(json.dumps(event))
    return ("\n".join(out) + "\n").encode()


def timed(fn, *args) -> tuple[float, object]:  # noqa: ANN001
    started = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--baseline-rows", type=int, default=20_000)
    args = parser.parse_args()
    print(f"{'kind':<13} {'approach':<26} {'rows':>10} {'seconds':>8} {'rows/s':>12} {'ratio':>7}")
    for kind in generator.KINDS:
        base_s, base_out = timed(seed_style, kind, args.baseline_rows, 42)
        base_rate = args.baseline_rows / base_s
        ours_s, ours_out = timed(lambda k=kind: generator.to_json_lines(
            generator.generate(k, args.rows, GeneratorConfig(seed=42))))
        ours_rate = args.rows / ours_s
        assert ours_out.count(b"\n") == args.rows and base_out.count(b"\n") == args.baseline_rows
        print(f"{kind:<13} {'seed: per-row Faker loop':<26} {args.baseline_rows:>10,} {base_s:>8.2f} "
              f"{base_rate:>12,.0f} {1.0:>6.1f}x")
        print(f"{kind:<13} {'credit_platform.generator':<26} {args.rows:>10,} {ours_s:>8.2f} "
              f"{ours_rate:>12,.0f} {ours_rate / base_rate:>6.1f}x")


if __name__ == "__main__":
    main()
