"""`credit-platform`: the platform's one command-line entry point (also `python -m credit_platform`)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

from credit_platform import config
from credit_platform.runtime.process import ServiceError

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
