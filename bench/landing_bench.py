"""Landing's parse with hostile records among the good ones, against the same records clean, measured
in the same run: what one bad record per N costs its neighbours.

The landing parses each chunk of Kafka payloads in one NDJSON pass (`landing.parse_chunk`); a chunk
that does not parse is screened record by record and parsed again in bulk. The bad records here
are the kinds that once made it re-parse every record of the chunk alone: `Infinity` (JSON the
bulk parser refuses) and a type error the strict JSON check accepts (found by halving).

    .venv/bin/python bench/landing_bench.py [--records 1000000] [--bad-every 10000] [--chunk 250000]
"""

from __future__ import annotations

import argparse
import time

from credit_platform.contracts.names import APPLICATIONS_TOPIC
from credit_platform.ingest import generator, landing
from credit_platform.ingest.scenario import GeneratorConfig


def spoil(lines: list[bytes], every: int) -> list[bytes]:
    bad = list(lines)
    for n, i in enumerate(range(every // 2, len(bad), every)):
        if n % 2:
            bad[i] = bad[i].replace(b'"annual_income":', b'"annual_income":Infinity,"x":', 1)
        else:
            bad[i] = bad[i].replace(b'"credit_score":', b'"credit_score":"high","y":', 1)
    return bad


def parse_all(lines: list[bytes], chunk: int) -> tuple[float, int]:
    started = time.perf_counter()
    errors = 0
    for start in range(0, len(lines), chunk):
        frame = landing.parse_chunk(APPLICATIONS_TOPIC, lines[start:start + chunk])
        errors += frame["_error"].drop_nulls().len()
    return time.perf_counter() - started, errors


def bulk_floor(lines: list[bytes], chunk: int) -> float:
    """One strict NDJSON parse per chunk and nothing else: what a parse of clean records costs at least."""
    import polars as pl

    schema = landing._polars_schema(APPLICATIONS_TOPIC)
    started = time.perf_counter()
    for start in range(0, len(lines), chunk):
        pl.read_ndjson(b"\n".join(lines[start:start + chunk]), schema=schema)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--bad-every", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=250_000, help="records per chunk (the lander's default)")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs each")
    args = parser.parse_args()
    lines = generator.to_json_lines(generator.generate("applications", args.records,
                                                       GeneratorConfig(seed=3))).splitlines()
    bad = spoil(lines, args.bad_every)
    floor_s = min(bulk_floor(lines, args.chunk) for _ in range(args.repeat))
    clean_s = min(parse_all(lines, args.chunk)[0] for _ in range(args.repeat))
    runs = [parse_all(bad, args.chunk) for _ in range(args.repeat)]
    bad_s, errors = min(runs)[0], runs[0][1]
    print(f"{args.records:,} applications in chunks of {args.chunk:,}; best of {args.repeat}\n")
    print(f"{'run':<40} {'seconds':>8} {'records/s':>12} {'vs clean':>9}")
    print(f"{'bulk NDJSON parse alone (floor)':<40} {floor_s:>8.2f} {args.records / floor_s:>12,.0f} "
          f"{floor_s / clean_s:>8.2f}x")
    print(f"{'clean (baseline)':<40} {clean_s:>8.2f} {args.records / clean_s:>12,.0f} {1:>8.2f}x")
    print(f"{f'one bad record per {args.bad_every:,} ({errors} bad)':<40} {bad_s:>8.2f} "
          f"{args.records / bad_s:>12,.0f} {bad_s / clean_s:>8.2f}x")


if __name__ == "__main__":
    main()
