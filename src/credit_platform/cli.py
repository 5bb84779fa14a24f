"""`credit-platform`: the platform's one command-line entry point (also `python -m credit_platform`)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from credit_platform import config
from credit_platform.runtime.process import ServiceError
from credit_platform.scenario import KINDS

SERVICE_HELP = "Services: postgres, kafka, mongo, flink-jobmanager, flink-taskmanager, prometheus, airflow-*."


def _settings() -> config.Settings:
    return config.load()


def cmd_setup(args: argparse.Namespace) -> int:
    from credit_platform.runtime import bootstrap

    bootstrap.setup(_settings())
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from credit_platform.runtime import manager

    settings = _settings()
    print(f"Starting the local platform (state in {settings.home}) ...")
    started = time.monotonic()
    manager.up(settings, only=args.only or None)
    print(f"Platform up in {time.monotonic() - started:.1f}s.\n")
    print(manager.format_status(manager.status(settings)))
    _print_airflow_password_once(settings)
    return 0


def _print_airflow_password_once(settings: config.Settings) -> None:
    marker = settings.run_dir / "airflow-password-shown"
    if marker.exists() or not settings.airflow_passwords_file.exists():
        return
    passwords = json.loads(settings.airflow_passwords_file.read_text())
    print(f"\nAirflow UI: {settings.airflow_url}  user: admin  password: {passwords.get('admin')}")
    print(f"(shown once; stored in {settings.airflow_passwords_file})")
    marker.touch()


def cmd_down(args: argparse.Namespace) -> int:
    from credit_platform.runtime import manager

    settings = _settings()
    print(f"Stopping the local platform (state in {settings.home}) ...")
    outcomes = manager.down(settings)
    return 0 if all(o.ok for o in outcomes) else 1


def cmd_status(args: argparse.Namespace) -> int:
    from credit_platform.runtime import manager

    report = manager.status(_settings())
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(manager.format_status(report))
    return 0 if report["healthy"] else 3


def cmd_demo(args: argparse.Namespace) -> int:
    from credit_platform.runtime import bootstrap, manager

    settings = _settings()
    bootstrap.setup(settings)
    print()
    cmd_up(args)
    report = manager.status(settings)
    print("\nThe platform is running; `credit-platform down` stops it.")
    print(f"  Airflow UI  {settings.airflow_url}   Flink UI  {settings.flink_rest_url}   "
          f"Prometheus  {settings.prometheus_url}")
    return 0 if report["healthy"] else 3


def _generator_config(args: argparse.Namespace):  # noqa: ANN202
    from datetime import datetime

    from credit_platform.scenario import GeneratorConfig

    start = datetime.fromisoformat(args.start.replace("Z", "+00:00")) if args.start else None
    if start is not None and start.tzinfo is None:
        raise SystemExit("--start needs a time zone, e.g. 2026-01-01T00:00:00Z")
    options = {"seed": args.seed, "customers": args.customers, "fraud_share": args.fraud_share,
               "rate_per_second": args.event_rate, "start": start}
    return GeneratorConfig(**{k: v for k, v in options.items() if v is not None})


def cmd_generate(args: argparse.Namespace) -> int:
    from credit_platform import generator

    started = time.monotonic()
    frame = generator.generate(args.kind, args.count, _generator_config(args))
    generator.write_json_lines(frame, args.out)
    counts = dict(frame["fraud_pattern"].drop_nulls().value_counts().sort("fraud_pattern").rows())
    took = time.monotonic() - started
    print(f"wrote {len(frame):,} {args.kind} to {args.out} in {took:.1f}s ({len(frame) / max(took, 1e-9):,.0f}/s); "
          f"injected fraud: {sum(counts.values()):,} " + (f"({', '.join(f'{k} {v}' for k, v in counts.items())})"
                                                           if counts else ""))
    return 0


def cmd_produce(args: argparse.Namespace) -> int:
    from credit_platform import generator, producer
    from credit_platform.schemas import contract_for

    settings = _settings()
    try:
        contract = contract_for(args.topic)
    except ValueError as exc:
        raise ServiceError(str(exc)) from None
    if args.from_file:
        if not args.from_file.exists():
            raise ServiceError(f"input file {args.from_file} does not exist")
        lines = producer.read_lines(args.from_file)
        total = None
        source = f"file:{args.from_file.name}"
    else:
        frame = generator.generate(contract.kind, args.generate, _generator_config(args))
        lines = generator.to_json_lines(frame).splitlines()
        total = len(frame)
        source = f"generator:seed={args.seed}"
    summary = producer.produce(settings, args.topic, lines, rate=args.rate, total=total, source=source,
                               metrics_port=args.metrics_port or settings.ports["producer_metrics"],
                               progress=not args.quiet)
    print(summary.render())
    return 0 if summary.complete else 2


def cmd_fraud_job(args: argparse.Namespace) -> int:
    from credit_platform import fraud_job

    settings = _settings()
    if args.action == "start":
        current, done = fraud_job.ensure_running(settings)
        print(f"{current.name}: {done}, job {current.job_id} {current.state}")
    elif args.action == "stop":
        savepoint = fraud_job.stop(settings)
        print(f"stopped with savepoint {savepoint}" if savepoint else "not running")
    else:
        current = fraud_job.status(settings)
        print(f"{current.name}: {current.state}" + (f" (job {current.job_id})" if current.job_id else ""))
        return 0 if current.running else 3
    return 0


def cmd_fraud_report(args: argparse.Namespace) -> int:
    from credit_platform import fraud_quality

    settings = _settings()
    print(fraud_quality.report_from_files(settings.mongo_uri, args.applications, args.transactions,
                                          collection=args.collection))
    return 0


def _add_generator_options(p: argparse.ArgumentParser) -> None:
    from credit_platform.scenario import GeneratorConfig

    d = GeneratorConfig()
    p.add_argument("--seed", type=int, help=f"same seed, same bytes (default {d.seed})")
    p.add_argument("--customers", type=int,
                   help=f"size of the synthetic population, shared by both kinds (default {d.customers})")
    p.add_argument("--fraud-share", type=float,
                   help=f"share of events from injected fraud patterns (default {d.fraud_share})")
    p.add_argument("--event-rate", type=float,
                   help=f"simulated events per second of event time (default {d.rate_per_second:g})")
    p.add_argument("--start", help="event time of the first event, ISO 8601 with zone "
                   f"(default {d.start:%Y-%m-%dT%H:%MZ})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="credit-platform",
        description="Credit scoring, lending and fraud-detection data platform. Runs every service as a "
                    "local process (state in .platform/, or $CP_HOME); see README.md.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log library debug output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("setup", help="install what the local services need (idempotent; cached)")
    p.set_defaults(func=cmd_setup)

    p = sub.add_parser("up", help="start every local service and apply schemas (idempotent)",
                       description="Start every local service, health-check it, and apply the warehouse "
                                   "schema, Kafka topics and MongoDB collections. " + SERVICE_HELP)
    p.add_argument("--only", nargs="+", metavar="SERVICE", help="start only these (and what they need)")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("down", help="stop every local service cleanly (no orphans, no data loss)")
    p.set_defaults(func=cmd_down)

    p = sub.add_parser("status", help="each service's state and connection URI (exit 3 if any is unhealthy)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("generate", help="write synthetic applications or transactions with labelled fraud (JSONL)",
                       description="Generate events from a synthetic customer population with injected, labelled "
                                   "fraud patterns (is_fraud, fraud_pattern). Reproducible: same seed, same bytes.")
    p.add_argument("kind", choices=KINDS)
    p.add_argument("--count", type=int, required=True, help="number of events")
    p.add_argument("--out", type=Path, required=True, help="output file (JSON lines)")
    _add_generator_options(p)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("produce", help="validate events and send them to Kafka (invalid ones to the DLQ)",
                       description="Validate each event against the topic's contract and send it to Kafka keyed by "
                                   "user id (acks=all, idempotent). Invalid records go to <topic>.dlq with the raw "
                                   "payload and the reason, and to data_quality_issues. Exit 0 when every record "
                                   "was sent or dead-lettered, 2 when Kafka refused some (kept for a replay).")
    p.add_argument("--topic", required=True, help=" or ".join(config.INPUT_TOPICS))
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-file", type=Path, metavar="FILE", help="JSON lines to send")
    source.add_argument("--generate", type=int, metavar="N", help="generate N events and send them")
    p.add_argument("--rate", type=float, help="send at most this many events per second (default: as fast as "
                   "possible)")
    p.add_argument("--metrics-port", type=int, help="serve Prometheus metrics here while running (default "
                   f"CP_PRODUCER_METRICS_PORT, {config.DEFAULT_PORTS['producer_metrics']})")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    _add_generator_options(p)
    p.set_defaults(func=cmd_produce)

    p = sub.add_parser("fraud-job", help="start (from the latest checkpoint), stop (with a savepoint) or show the "
                       "Flink fraud detection job")
    p.add_argument("action", choices=["start", "stop", "status"])
    p.set_defaults(func=cmd_fraud_job)

    p = sub.add_parser("fraud-report", help="precision and recall of the fraud alerts against generated labels",
                       description="Score the alerts in MongoDB against the ground-truth labels of generated "
                                   "files: per rule precision and recall, per injected pattern recall.")
    p.add_argument("--applications", type=Path, help="generated applications (JSON lines)")
    p.add_argument("--transactions", type=Path, help="generated transactions (JSON lines)")
    p.add_argument("--collection", default="fraud_alerts")
    p.set_defaults(func=cmd_fraud_report)

    p = sub.add_parser("demo", help="the main job, end to end on the embedded platform",
                       description="Install if needed, start the platform and show its status.")
    p.set_defaults(func=cmd_demo, only=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        logging.getLogger("kafka").setLevel(logging.CRITICAL)  # connection retries are reported by us
    try:
        return args.func(args)
    except ServiceError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
