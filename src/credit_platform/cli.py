"""`credit-platform`: the platform's one command-line entry point (also `python -m credit_platform`)."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
import time
from pathlib import Path

from credit_platform import config
from credit_platform.contracts import names
from credit_platform.demo import DemoOptions
from credit_platform.errors import PlatformError
from credit_platform.ingest.scenario import KINDS
from credit_platform.model import HISTORY_DAYS
from credit_platform.platform.setup import SETUP_STEPS


# ---- argument types: every argument is checked before anything starts, with a one-line error ----
def business_date(text: str) -> str:
    from datetime import date

    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; give YYYY-MM-DD") from None


def event_time(text: str) -> str:
    from datetime import datetime

    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time, e.g. 2026-01-01T00:00:00Z") from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a time zone, e.g. 2026-01-01T00:00:00Z")
    return text


def input_file(text: str) -> Path:
    """An existing, readable file with at least one non-blank line."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{path} does not exist")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{path} is not a file")
    try:
        with open(path, "rb") as handle:
            if not any(line.strip() for line in handle):
                raise argparse.ArgumentTypeError(f"{path} is empty: no record to send")
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"{path} cannot be read: {exc.strerror}") from None
    return path


def output_file(text: str) -> Path:
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a directory; give a file name")
    if path.parent.exists() and not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"{path.parent} is not a directory")
    return path


def _number(kind: type, minimum: float, strict: bool = False):  # noqa: ANN202
    def parse(text: str):  # noqa: ANN202
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a{'n integer' if kind is int else ' number'}") from None
        if value < minimum or (strict and value == minimum) or value != value:  # value != value: NaN
            raise argparse.ArgumentTypeError(f"{text} must be {'>' if strict else '>='} {minimum:g}")
        return value

    return parse


COUNT = _number(int, 0)
POSITIVE = _number(float, 0, strict=True)


def _service_help() -> str:
    from credit_platform.platform.services import SERVICE_CLASSES

    return "Services: " + ", ".join(cls.name for cls in SERVICE_CLASSES) + "."


def _settings() -> config.Settings:
    return config.load()


def cmd_setup(args: argparse.Namespace) -> int:
    from credit_platform.platform import setup

    setup.setup(_settings(), only=args.only)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """The stores' schemas on servers the platform does not start (a deployment)."""
    from credit_platform.platform import migrate, services

    settings = _settings()
    steps = [
        ("warehouse", lambda: f"applied {len(migrate.apply_warehouse(settings))} SQL files, role passwords set"),
        ("airflow database", lambda: (migrate.ensure_airflow_database(settings), "ready")[1]),
        ("airflow db migrate", lambda: services.AirflowDatabase(settings).start()),
        ("superset database", lambda: (migrate.ensure_superset_database(settings), "ready")[1]),
        ("superset init", lambda: services.SupersetInit(settings).start()),
        ("kafka topics", lambda: f"created {migrate.ensure_kafka_topics(settings) or 'none (all present)'}"),
        ("kafka users and ACLs", lambda: (migrate.ensure_kafka_users(settings),
                                          "set" if settings.kafka_sasl else "skipped (CP_KAFKA_SASL off)")[1]),
        ("mongodb collections", lambda: (migrate.ensure_mongo_collections(settings), "ready")[1]),
    ]
    for name, step in steps:
        started = time.monotonic()
        print(f"[ ok ] {name:<20} {step()} ({time.monotonic() - started:.1f}s)", flush=True)
    return 0


def _service(name: str):  # noqa: ANN202 (a runtime.services.Service)
    from credit_platform.platform import services

    known = {s.name: s for s in services.all_services(_settings())}
    if name not in known:
        raise PlatformError(f"unknown service {name!r}; choose from {', '.join(known)}")
    return known[name]


def cmd_serve(args: argparse.Namespace) -> int:
    """Run one service in the foreground in place of this process (a container's command)."""
    import os

    service = _service(args.service)
    if service.oneshot:
        print(service.start())
        return 0
    service.prepare()
    spec = service.launch()
    if spec.cwd:
        os.chdir(spec.cwd)
    print(f"serve {service.name}: {' '.join(spec.argv)}", flush=True)
    os.execvpe(spec.argv[0], spec.argv, spec.env or dict(os.environ))
    return 1  # not reached


def cmd_health(args: argparse.Namespace) -> int:
    """Exit 0 when the service answers its health check (a container's healthcheck)."""
    service = _service(args.service)
    try:
        ok = bool(service.healthy())
    except Exception as exc:  # noqa: BLE001 (any failure is "unhealthy", with its reason)
        print(f"{service.name}: unhealthy ({exc})")
        return 1
    print(f"{service.name}: {'healthy' if ok else 'unhealthy'}")
    return 0 if ok else 1


def cmd_up(args: argparse.Namespace) -> int:
    import os

    from credit_platform.platform import manager

    if getattr(args, "topology", None):  # `demo` starts the platform too, in CP_TOPOLOGY's (or the recorded) one
        os.environ["CP_TOPOLOGY"] = args.topology  # also for what `up` starts and runs
    settings = _settings()
    print(f"Starting the local platform, {settings.topology} topology (state in {settings.home}) ...")
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
    from credit_platform.platform import manager

    settings = _settings()
    print(f"Stopping the local platform (state in {settings.home}) ...")
    outcomes = manager.down(settings)
    return 0 if all(o.ok for o in outcomes) else 1


def cmd_status(args: argparse.Namespace) -> int:
    from credit_platform.platform import manager

    report = manager.status(_settings())
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(manager.format_status(report))
    return 0 if report["healthy"] else 3


def cmd_alerts(args: argparse.Namespace) -> int:
    """The alerts Alertmanager holds (what Prometheus fired), from its API v2."""
    from credit_platform import alerting

    settings = _settings()
    found = alerting.alerts(settings, suppressed=args.all)
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    print(alerting.format_alerts(found))
    receivers = alerting.local_receiver_summary(settings)
    print(f"\n{len(found)} alert(s) at {settings.alertmanager_url}" + (f"; sent to {receivers}" if receivers else ""))
    return 0


def cmd_dashboards(args: argparse.Namespace) -> int:
    """Superset's business dashboards as code: import dashboards/superset/ (what `up` does), or export
    what Superset holds now back into it (a reviewable diff of what an analyst changed in the UI)."""
    from credit_platform.platform import superset

    settings = _settings()
    if args.action == "import":
        count = superset.import_dashboards(settings)
        print(f"imported {len(superset.asset_files())} asset files into {settings.superset_url}: {count} dashboards")
    else:
        written = superset.export_dashboards(settings)
        print(f"exported {len(written)} asset files into {superset.ASSETS_DIR}")
    return 0


def cmd_alertmanager_config(args: argparse.Namespace) -> int:
    import os

    from credit_platform import alerting
    from credit_platform.platform.process import private_file

    environ = {} if args.defaults else os.environ
    text = alerting.render_alertmanager_config(environ, "compose" if args.compose else "local")
    if args.out is None:
        print(text, end="")
        return 0
    receivers = alerting.receiver_summary(alerting.alertmanager_config(environ))
    if not args.defaults:  # receivers' URLs and passwords: the owner's only
        private_file(args.out)
    args.out.write_text(text)
    print(f"wrote {args.out}: alerts go to {receivers}", file=sys.stderr)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from datetime import date

    from credit_platform import demo
    from credit_platform.platform import setup

    settings = _settings()
    started = time.monotonic()
    setup.setup(settings)
    print()
    cmd_up(args)
    print()
    options = demo.DemoOptions(applications=args.count, transactions=args.count, seed=args.seed, invalid=args.invalid,
                               applications_file=args.applications, transactions_file=args.transactions,
                               business_date=date.fromisoformat(args.date) if args.date else None,
                               history_days=args.history_days, history_applications=args.history_applications)
    result = demo.run(settings, options)
    print()
    print(demo.render(result))
    print(f"\n(summary saved to {demo.save(settings, result)}; demo took {time.monotonic() - started:.0f}s)")
    print("The platform keeps running; `credit-platform down` stops it.")
    return 0


def _generator_config(args: argparse.Namespace):  # noqa: ANN202
    from datetime import UTC, datetime

    from credit_platform.ingest.scenario import GeneratorConfig

    start = datetime.fromisoformat(args.start.replace("Z", "+00:00")) if args.start else None
    drift_from = datetime.fromisoformat(args.drift_from).replace(tzinfo=UTC) if args.drift_from else None
    options = {"seed": args.seed, "customers": args.customers, "fraud_share": args.fraud_share,
               "rate_per_second": args.event_rate, "start": start, "drift_from": drift_from,
               "performance_window_days": args.performance_window_days}
    return GeneratorConfig(**{k: v for k, v in options.items() if v is not None})


def cmd_generate(args: argparse.Namespace) -> int:
    from credit_platform.ingest import generator

    started = time.monotonic()
    frame = generator.generate(args.kind, args.count, _generator_config(args))
    generator.write_json_lines(frame, args.out)
    took = time.monotonic() - started
    if args.kind == "outcomes":
        print(f"wrote {len(frame):,} outcomes (observed by now, of {args.count:,} applications) to {args.out} in "
              f"{took:.1f}s; defaulted: {int(frame['defaulted'].sum()):,}")
        return 0
    if args.kind == "chargebacks":
        print(f"wrote {len(frame):,} chargebacks (reported by now, of the fraud among {args.count:,} transactions) to "
              f"{args.out} in {took:.1f}s")
        return 0
    counts = dict(frame["fraud_pattern"].drop_nulls().value_counts().sort("fraud_pattern").rows())
    print(f"wrote {len(frame):,} {args.kind} to {args.out} in {took:.1f}s ({len(frame) / max(took, 1e-9):,.0f}/s); "
          f"injected fraud: {sum(counts.values()):,} " + (f"({', '.join(f'{k} {v}' for k, v in counts.items())})"
                                                           if counts else ""))
    return 0


def cmd_produce(args: argparse.Namespace) -> int:
    from credit_platform.contracts.events import contract_for
    from credit_platform.ingest import generator, producer

    settings = _settings()
    try:
        contract = contract_for(args.topic)
    except ValueError as exc:
        raise PlatformError(str(exc)) from None
    if args.from_file:
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


def _utc_time(text: str):  # noqa: ANN202 (a datetime)
    from datetime import datetime

    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO-8601 time") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone (e.g. 2026-12-04T00:00:00Z)")
    return value


def _flink_duration(text: str) -> str:
    from credit_platform.stream.flink_config import flink_duration

    return flink_duration(text)


def cmd_fraud_job(args: argparse.Namespace) -> int:
    from credit_platform.stream import fraud_job

    settings = _settings()
    if args.action == "start":
        current, done = fraud_job.ensure_running(
            settings, *(("--align-drift", args.align_drift) if args.align_drift else ()))
        print(f"{current.name}: {done}, job {current.job_id} {current.state}")
        if args.align_drift and done == "running":
            print("already running, as it was started: stop it first to start it with --align-drift")
    elif args.action == "stop":
        savepoint = fraud_job.stop(settings)
        print(f"stopped with savepoint {savepoint}" if savepoint else "not running")
    else:
        current = fraud_job.status(settings)
        print(f"{current.name}: {current.state}" + (f" (job {current.job_id})" if current.job_id else ""))
        return 0 if current.running else 3
    return 0


def cmd_rules(args: argparse.Namespace) -> int:
    from credit_platform.rules import fraud_store

    store = fraud_store.RulesStore(_settings())
    changes = {}
    for item in args.settings + args.set:
        name, sep, value = item.partition("=")
        if not sep:
            print(f"error: {item!r}: give settings as RULE.KEY=VALUE", file=sys.stderr)
            return 2
        changes[name.strip()] = value.strip()
    if args.model:  # a stored model's coefficients, as settings of the change or of the proposal
        from credit_platform.model.fraud_training import stored_model

        try:
            changes = {**stored_model(_settings(), args.model).settings(), **changes}
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args.action == "backtest":
        return _backtest(args, changes)
    if args.action == "show":
        print(fraud_store.render(store.history()))
    elif args.action == "history":
        print(fraud_store.render_history(store.history()))
    else:
        try:
            version = store.change(changes, args.reason, args.approved_by, args.effective_from)
        except ValueError as exc:
            print(f"error: change refused: {exc}", file=sys.stderr)
            return 2
        changed = fraud_store.describe(version.changes)
        print(f"fraud rules version {version.version} stored and published to {store.topic}: {changed}; "
              f"effective from {fraud_store.iso_millis(version.effective_from)}")
        if later := fraud_store.redeploy_settings(version):
            print(f"{', '.join(later)}: a window's length applies when the job is redeployed (the "
                  "fraud_stream_supervisor DAG does it within 5 minutes, or `credit-platform fraud-job start`); "
                  "the other settings apply live")
        else:
            print("applies live: the running job judges events from that time on by this version")
    return 0


def _backtest(args: argparse.Namespace, proposal: dict[str, str]) -> int:
    from datetime import date

    from credit_platform.stream import backtest

    if not (args.date_from and args.date_to):
        print("error: backtest needs --from and --to (YYYY-MM-DD)", file=sys.stderr)
        return 2
    first, last = date.fromisoformat(args.date_from), date.fromisoformat(args.date_to)
    if last < first:
        print(f"error: --to {last} is before --from {first}", file=sys.stderr)
        return 2
    print(f"backtest {first}..{last}: the stream's rule SQL over the landed events, live versions and proposal ...",
          flush=True)
    try:
        report = backtest.backtest(_settings(), first, last, proposal, warmup_days=args.warmup_days)
    except ValueError as exc:
        print(f"error: proposal refused: {exc}", file=sys.stderr)
        return 2
    print(report.render())
    return 0


def cmd_fraud_report(args: argparse.Namespace) -> int:
    from credit_platform.quality import detection_report

    settings = _settings()
    if args.date:
        if args.applications or args.transactions:
            raise SystemExit("fraud-report: give --date, or --applications/--transactions, not both")
        from datetime import date

        print(detection_report.day_report(settings, date.fromisoformat(args.date),
                                          collection=args.collection).render())
        print(f"(stored in fraud_detection_report for {args.date}; view bi.fraud_detection)")
        return 0
    if not (args.applications or args.transactions):
        raise SystemExit("fraud-report: give --date D, or --applications/--transactions files")
    print(detection_report.report_from_files(settings.mongo_uri, args.applications, args.transactions,
                                          collection=args.collection))
    return 0


def cmd_land(args: argparse.Namespace) -> int:
    from credit_platform.ingest import landing

    settings = _settings()
    if not args.quiet:
        logging.getLogger(landing.__name__).setLevel(logging.INFO)
    summary = landing.Lander(settings, args.topics, run_id=args.run_id, chunk_records=args.chunk_records).run()
    print(summary.render())
    print(f"landing directory: {landing.landing_root(settings)}")
    return 0


def _spark_job(job: str, job_args: list[str], what: str) -> int:
    from credit_platform.batch import spark_submit

    settings = _settings()
    print(f"spark-submit {job} for {what} on {settings.spark_master} ...", flush=True)
    result = spark_submit.submit(settings, job, job_args)
    print(result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "(no summary)")
    if result.returncode:
        print(f"error: {job} failed with exit code {result.returncode}; its log is above", file=sys.stderr)
    return result.returncode


def cmd_score(args: argparse.Namespace) -> int:
    return _spark_job("risk_scoring", ["--date", args.date] + (["--run-id", args.run_id] if args.run_id else []),
                      args.date)


def cmd_train(args: argparse.Namespace) -> int:
    job_args = ["--as-of", args.as_of, "--history-days", str(args.history_days), "--promote", args.promote,
                "--requested-by", args.requested_by or f"cli:{getpass.getuser()}"]
    job_args += (["--reason", args.reason] if args.reason else []) + (["--run-id", args.run_id] if args.run_id else [])
    return _spark_job("train_credit_model", job_args, f"as of {args.as_of}")


def cmd_train_fraud(args: argparse.Namespace) -> int:
    from datetime import UTC, date, datetime

    from credit_platform.model import fraud_training

    try:
        options = fraud_training.FraudTrainingOptions(
            as_of=date.fromisoformat(args.as_of), train_days=args.train_days, label_delay_days=args.label_delay_days,
            validation_days=args.validation_days, promote=args.promote, reason=args.reason or "",
            publish=args.publish, rules_weight=args.rules_weight, alert_share=args.alert_share,
            run_id=args.run_id or f"train-fraud-{args.as_of}-{datetime.now(UTC):%Y%m%dT%H%M%S}")
        summary = fraud_training.train(_settings(), options)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    mean = summary["mean"]
    print(f"fraud model {summary['version']} ({summary['status']}): trained on {summary['train_rows']:,} purchases "
          f"{summary['train'][0]}..{summary['train'][1]} ({summary['trained_on']}; {summary['train_chargebacks']:,} "
          f"charged back by {summary['validation'][0]}), judged on {summary['validation_rows']:,} of "
          f"{summary['validation'][0]}..{summary['validation'][1]} in {summary['seconds']}s")
    for name, m in mean.items():
        for label, key in (("alone", ""), ("the rules then it", fraud_training.SERVED)):
            print(f"  {name:<9} {label:<17} mean per day: AUC {m[key + 'auc']:.3f}, average precision "
                  f"{m[key + 'average_precision']:.3f}, card precision@100 {m[key + 'card_precision_at_100']:.3f}")
    print(f"  beside the rules on the validation days (fraud_score_report; caught: charged back by {args.as_of}):")
    print(f"    {'day or scenario':<22} {'purchases':>9} {'charged back':>12} {'rules alerts/caught':>20} "
          f"{'model alerts/caught':>20} {'both alerts/caught':>19}")
    for r in summary["side_by_side"]:
        print(f"    {r['name']:<22} {r['purchases']:>9,} {r['chargebacks']:>12,} "
              f"{r['rules_alerts']:>10,}/{r['rules_caught']:<9,} {r['model_alerts']:>10,}/{r['model_caught']:<9,} "
              f"{r['both_alerts']:>9,}/{r['both_caught']:<9,}")
    if summary["rules_version"]:
        print(f"  published as fraud rules version {summary['rules_version']}: the running job scores with it "
              "from now on")
    elif args.publish:
        print("  not published: " + ("the latest fraud rules version already holds it" if summary["status"] ==
                                     "champion" else "it is not the champion"))
    if summary.get("champion_features_recorded_in"):
        print(f"  the live champion's feature definition recorded in fraud rules version "
              f"{summary['champion_features_recorded_in']} (the latest version lacked it, so the job scored nothing)")
    return 0


def cmd_dq(args: argparse.Namespace) -> int:
    from datetime import UTC, date, datetime

    from credit_platform.quality import expectations

    settings = _settings()
    run_id = args.run_id or f"dq-{args.date}-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    summary = expectations.run_checks(settings, date.fromisoformat(args.date), run_id,
                            landed=args.scope in ("all", "landing"), warehouse=args.scope in ("all", "warehouse"))
    print(summary.render())
    if summary.blocking:
        print(f"error: {len(summary.blocking)} blocking expectation(s) failed; every failure is in "
              "data_quality_issues", file=sys.stderr)
        return 1
    return 0


def _add_generator_options(p: argparse.ArgumentParser) -> None:
    from credit_platform.ingest.scenario import GeneratorConfig

    d = GeneratorConfig()
    p.add_argument("--seed", type=int, help=f"same seed, same bytes (default {d.seed})")
    p.add_argument("--customers", type=_number(int, 100),
                   help=f"size of the synthetic population, shared by both kinds (default {d.customers})")
    p.add_argument("--fraud-share", type=_number(float, 0),
                   help=f"share of events from injected fraud patterns (default {d.fraud_share})")
    p.add_argument("--event-rate", type=POSITIVE,
                   help=f"simulated events per second of event time (default {d.rate_per_second:g})")
    p.add_argument("--start", type=event_time, help="event time of the first event, ISO 8601 with zone "
                   f"(default {d.start:%Y-%m-%dT%H:%MZ})")
    p.add_argument("--drift-from", type=business_date, metavar="DATE",
                   help="applicants from this date (UTC) on come from a shifted population: lower bureau scores, "
                   "larger loans (for model-monitoring tests)")
    p.add_argument("--performance-window-days", type=_number(int, 1),
                   help="outcomes: days after an application by which its loan counts as repaid "
                   f"(default {d.performance_window_days})")


def _add_date_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--date", required=True, type=business_date, help="business date, YYYY-MM-DD")
    p.add_argument("--run-id", help="id written with the lineage rows and issues")


def _add_lifecycle_commands(sub) -> None:  # noqa: ANN001 (argparse's subparsers action)
    """setup, up, down, status, migrate, serve, health, alerts, alertmanager-config: the platform itself."""
    p = sub.add_parser("setup", help="install what the local services need (idempotent; cached)")
    p.add_argument("--only", nargs="+", metavar="STEP", choices=SETUP_STEPS,
                   help=f"run only these steps ({', '.join(SETUP_STEPS)}); a container image needs jars, "
                        "flink-format and datadocs")
    p.set_defaults(func=cmd_setup)

    p = sub.add_parser("up", help="start every local service and apply schemas (idempotent)",
                       description="Start every local service, health-check it, and apply the warehouse "
                                   "schema, Kafka topics and MongoDB collections. " + _service_help())
    p.add_argument("--only", nargs="+", metavar="SERVICE", help="start only these (and what they need)")
    p.add_argument("--topology", choices=config.TOPOLOGIES,
                   help="single (the default: one process an engine) or cluster (three Kafka nodes, replication "
                        "factor 3 and min.insync.replicas 2; a JobManager and two TaskManagers, the fraud job at "
                        "parallelism 2; a Spark standalone master and two workers). Also CP_TOPOLOGY; kept in the "
                        "state dir for later commands. Switching needs `down` first.")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("down", help="stop every local service cleanly (no orphans, no data loss)")
    p.set_defaults(func=cmd_down)

    p = sub.add_parser("status", help="each service's state and connection URI (exit 3 if any is unhealthy)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("migrate", help="apply schemas, roles, Airflow's database, topics, Kafka users and ACLs "
                                       "(when clients log in) and collections to the configured servers (a "
                                       "deployment's init step; idempotent)")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("serve", help="run one service in the foreground (docker-compose runs each service so)",
                       description="Prepare one service's config and replace this process with it. "
                                   + _service_help())
    p.add_argument("service", metavar="SERVICE")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("health", help="exit 0 if one service answers its health check (container healthchecks)")
    p.add_argument("service", metavar="SERVICE")
    p.set_defaults(func=cmd_health)

    p = sub.add_parser("alerts", help="the alerts firing now (Alertmanager's API), and where they are sent",
                       description="List the alerts Prometheus fired that Alertmanager holds (CP_ALERTMANAGER_URL, "
                                   "default the local one, as the platform's Alertmanager user): since when, "
                                   "severity, name, labels and summary. Receivers: the CP_ALERT_* variables, see "
                                   "monitoring/alertmanager.yml.")
    p.add_argument("--all", action="store_true", help="also the silenced and inhibited ones")
    p.add_argument("--json", action="store_true", help="Alertmanager's JSON as it is")
    p.set_defaults(func=cmd_alerts)

    p = sub.add_parser("dashboards", help="import the Superset dashboards of dashboards/superset/, or export "
                       "Superset's current ones into it",
                       description="The business dashboards as code (Superset's export format, one YAML file per "
                                   "database, dataset, chart and dashboard). `up` imports them; `export` writes what "
                                   "Superset holds back into dashboards/superset/ (the warehouse password is never "
                                   "written).")
    p.add_argument("action", choices=("import", "export"))
    p.set_defaults(func=cmd_dashboards)

    p = sub.add_parser("alertmanager-config", help="render Alertmanager's configuration from the CP_ALERT_* "
                       "variables (what `up` writes; docker-compose's monitoring/alertmanager.yml)")
    p.add_argument("--compose", action="store_true", help="for docker-compose (its header)")
    p.add_argument("--defaults", action="store_true", help="ignore the environment: no receiver (the committed "
                   "monitoring/alertmanager.yml)")
    p.add_argument("--out", type=output_file, help="write it here (mode 0600 unless --defaults) instead of stdout")
    p.set_defaults(func=cmd_alertmanager_config)



def _add_data_commands(sub) -> None:  # noqa: ANN001 (argparse's subparsers action)
    """generate and produce: data in."""
    p = sub.add_parser("generate", help="write synthetic applications, transactions (labelled fraud), their "
                                        "outcomes or chargebacks (JSONL)",
                       description="Generate events from a synthetic customer population with injected, labelled "
                                   "fraud patterns (is_fraud, fraud_pattern). Reproducible: same seed, same bytes. "
                                   "outcomes and chargebacks are the labels that arrive later: the loan outcomes of "
                                   "the --count applications, and the chargebacks of the fraud among the --count "
                                   "transactions, that same seed and start generate, as far as observed by now.")
    p.add_argument("kind", choices=KINDS)
    p.add_argument("--count", type=COUNT, required=True,
                   help="number of events (outcomes, chargebacks: of that many applications, transactions)")
    p.add_argument("--out", type=output_file, required=True, help="output file (JSON lines)")
    _add_generator_options(p)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("produce", help="validate events and send them to Kafka (invalid ones to the DLQ)",
                       description="Validate each event against the topic's contract and send it to Kafka keyed by "
                                   "user id (outcomes: application id; chargebacks: transaction id; acks=all, "
                                   "idempotent, batches compressed as CP_KAFKA_COMPRESSION says: zstd by default). "
                                   "Invalid records go to <topic>.dlq with the raw "
                                   "payload and the reason, and to data_quality_issues. Exit 0 when every record "
                                   "was sent or dead-lettered, 2 when Kafka refused some (kept for a replay).")
    p.add_argument("--topic", required=True, choices=names.INPUT_TOPICS)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-file", type=input_file, metavar="FILE", help="JSON lines to send")
    source.add_argument("--generate", type=COUNT, metavar="N", help="generate N events and send them")
    p.add_argument("--rate", type=POSITIVE, help="send at most this many events per second (default: as fast as "
                   "possible)")
    p.add_argument("--metrics-port", type=int, help="serve Prometheus metrics here while running (default "
                   f"CP_PRODUCER_METRICS_PORT, {config.DEFAULT_PORTS['producer_metrics']})")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    _add_generator_options(p)
    p.set_defaults(func=cmd_produce)



def _add_job_commands(sub) -> None:  # noqa: ANN001 (argparse's subparsers action)
    """fraud-job, fraud-report, land, score, dq: the jobs, one at a time."""
    p = sub.add_parser("fraud-job", help="start (from the latest checkpoint), stop (with a savepoint) or show the "
                       "Flink fraud detection job")
    p.add_argument("action", choices=["start", "stop", "status"])
    p.add_argument("--align-drift", metavar="INTERVAL", type=_flink_duration,
                   help="start: to catch up on a backlog, read the two event "
                   "topics within this much event time of each other (e.g. '5 s'); the state of the rules that "
                   "join them stays small. Not for live running: a quiet topic would hold back the other's reading. "
                   "Stop, and start without it, once caught up")
    p.set_defaults(func=cmd_fraud_job)

    p = sub.add_parser("rules", help="show, change (set), list the history of, or backtest the governed fraud rules",
                       description="The fraud rules' thresholds and on/off switches, versioned in MongoDB "
                                   "`policies` and published to the Kafka topic `fraud_rules`, which the running "
                                   "fraud job applies from each version's effective event time on, with no "
                                   "restart. Window lengths apply when the job is redeployed. `backtest` runs the "
                                   "stream's rule SQL over landed days under the live versions and under proposed "
                                   "settings, and reports alerts, precision, recall and the change per rule.",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  credit-platform rules backtest --from 2026-11-20 --to 2026-11-28 "
                              "--set application_velocity.min_applications=3\n"
                              "  credit-platform rules set application_velocity.min_applications=3 "
                              "shared_device.enabled=false \\\n      --reason 'burst seen on partner channel' "
                              "--approved-by 'fraud lead'\n"
                              "  credit-platform rules backtest --from 2026-11-20 --to 2026-11-28 --model "
                              "fraud-logistic-20261130-1a2b3c4d\n"
                              "  credit-platform rules set --model fraud-logistic-20261130-1a2b3c4d "
                              "fraud_score.threshold=0.9 --reason 'weekly model' --approved-by 'fraud lead'")
    p.add_argument("action", choices=["show", "set", "history", "backtest"])
    p.add_argument("settings", nargs="*", metavar="RULE.KEY=VALUE", help="for set: the settings to change "
                   "(`rules show` lists them)")
    p.add_argument("--from", dest="date_from", type=business_date, help="for backtest: first landed day, YYYY-MM-DD")
    p.add_argument("--to", dest="date_to", type=business_date, help="for backtest: last landed day, YYYY-MM-DD")
    p.add_argument("--set", action="append", default=[], metavar="RULE.KEY=VALUE",
                   help="for backtest: a proposed setting, applied over each live version (repeatable)")
    p.add_argument("--warmup-days", type=int, default=7, help="for backtest: landed days read before --from, so "
                   "windows and purchase histories are filled as in the stream (default 7)")
    p.add_argument("--model", metavar="VERSION", help="for set and backtest: a trained fraud model (table "
                   "fraud_models) whose coefficients, threshold and version are set or proposed as the fraud_score "
                   "settings (the score switched on); other settings given override them")
    p.add_argument("--reason", default="", help="for set: why (required)")
    p.add_argument("--approved-by", default="", help="for set: who approved the change (required)")
    p.add_argument("--effective-from", type=_utc_time, help="for set: event time from which it applies, ISO-8601 "
                   "with a zone (default: now; not in the past)")
    p.set_defaults(func=cmd_rules)

    p = sub.add_parser("fraud-report", help="precision and recall of the fraud alerts against generated labels",
                       description="Score the alerts in MongoDB against the ground-truth labels: per rule "
                                   "alerts, precision, recall, false positives (and of them on benign look-alikes), "
                                   "alerts per 1,000 events; per pattern the share alerted; card precision@100 per "
                                   "day. --date: the landed day, stored in fraud_detection_report (as the nightly "
                                   "DAG does); or the events of generated files, printed only.")
    p.add_argument("--date", type=business_date, help="a landed business date (YYYY-MM-DD)")
    p.add_argument("--applications", type=Path, help="generated applications (JSON lines)")
    p.add_argument("--transactions", type=Path, help="generated transactions (JSON lines)")
    p.add_argument("--collection", default=names.FRAUD_ALERTS_COLLECTION)
    p.set_defaults(func=cmd_fraud_report)

    p = sub.add_parser("land", help="land Kafka topics into Parquet files by event date (exactly-once)",
                       description="Read each input topic from the landing's committed offsets up to the end "
                                   "offsets seen at start and write Parquet files partitioned by event date "
                                   "(landing/<topic>/dt=YYYY-MM-DD/), a completion marker per date, then commit "
                                   "the offsets. A rerun after a crash rewrites the same files: no loss, no "
                                   "duplicate. Records that do not parse are landed with the reason and also sent "
                                   "to the DLQ and data_quality_issues.")
    p.add_argument("--topics", nargs="+", default=list(names.INPUT_TOPICS), choices=names.INPUT_TOPICS)
    p.add_argument("--run-id", help="id for lineage rows (default: landing-<time>-<random>)")
    p.add_argument("--chunk-records", type=_number(int, 1), default=250_000,
                   help="records per partition landed and committed at a time (default 250000)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_land)

    p = sub.add_parser("score", help="run the nightly Spark risk scoring for one date (spark-submit)",
                       description="spark-submit jobs/risk_scoring.py for one business date: validate the landed "
                                   "rows, score them with the champion credit scorecard and decide per the lending "
                                   "policy, join the fraud alerts and replace the date's rows of credit_scores, "
                                   "processed_transactions, loan_outcomes, chargebacks and credit_model_monitoring. "
                                   "Master: SPARK_MASTER (default local[2]).")
    _add_date_options(p)
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("train", help="train the credit scorecard on landed outcomes (spark-submit)",
                       description="spark-submit jobs/train_credit_model.py: fit the scorecard on the landed "
                                   "applications whose performance window closed by --as-of and their outcomes, "
                                   "judge it out of time, store it in credit_models and promote it when its "
                                   "out-of-time AUC is no worse than the champion's. Writes its report to the "
                                   "model reports folder (Airflow: Browse > Credit Model Reports).")
    p.add_argument("--as-of", required=True, type=business_date, help="YYYY-MM-DD: what was known at its start")
    p.add_argument("--history-days", type=_number(int, 100), default=HISTORY_DAYS, help="applications this far back")
    p.add_argument("--promote", choices=["auto", "never", "force"], default="auto")
    p.add_argument("--reason", help="why (required with --promote force; recorded)")
    p.add_argument("--requested-by", help="who asks (recorded; default cli:<your user>)")
    p.add_argument("--run-id", help="id for the model's record")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("train-fraud", help="train the learned fraud score on landed transactions and chargebacks",
                       description="Compute the platform's fraud features (their Flink SQL, on a local mini-cluster) "
                                   "over the landed transactions before --as-of, label them with the landed "
                                   "chargebacks only, fit a logistic regression on the training days (labels "
                                   "reported by the first validation day; a purchase a rule alerts weighs "
                                   "--rules-weight) and judge it on the validation days (labels reported by "
                                   "--as-of): AUC, average precision and card precision@100 per day, of the score "
                                   "alone and of the "
                                   "rules' alerts then the score (how the job serves it), beside the champion's. "
                                   "Stored in fraud_models; promoted when the rules then its score reach a mean "
                                   "average precision no worse than the rules then the champion's.")
    p.add_argument("--as-of", required=True, type=business_date, help="YYYY-MM-DD: what was known at its start")
    from credit_platform.model.fraud_training import FraudTrainingOptions

    d = FraudTrainingOptions.__dataclass_fields__
    p.add_argument("--train-days", type=_number(int, 1), default=d["train_days"].default,
                   help="days of purchases to learn from (default %(default)s)")
    p.add_argument("--label-delay-days", type=_number(int, 0), default=d["label_delay_days"].default,
                   help="days a chargeback may take: between the training and validation days, and before --as-of "
                   "(default %(default)s)")
    p.add_argument("--validation-days", type=_number(int, 1), default=d["validation_days"].default,
                   help="days to judge it on (default %(default)s)")
    p.add_argument("--promote", choices=["auto", "never", "force"], default="auto")
    p.add_argument("--reason", help="why (required with --promote force; recorded)")
    p.add_argument("--publish", action="store_true", help="when the model is the champion, publish it: its "
                   "coefficients become the next fraud rules version, live in the running job from now on")
    p.add_argument("--rules-weight", type=_number(float, 0), default=d["rules_weight"].default,
                   help="what a training purchase a rule alerts weighs in the fit, 0 to 1; every other purchase "
                   "weighs 1 (default %(default)s: the score learns mostly behind the rules, whose alerts the job "
                   "raises anyway; 1: every purchase alike)")
    p.add_argument("--alert-share", type=_number(float, 0, strict=True), default=d["alert_share"].default,
                   help="the score's alert threshold: the score above which this share of the training purchases "
                   "lie (default %(default)s; below 1)")
    p.add_argument("--run-id", help="id for the model's record")
    p.set_defaults(func=cmd_train_fraud)

    p = sub.add_parser("dq", help="Great Expectations checks of one date's landed files and warehouse rows",
                       description="Validate one business date with the GX suites built from the shared contract "
                                   "(landed applications/transactions/outcomes/chargebacks, credit_scores, "
                                   "processed_transactions; "
                                   "credit_model_monitoring warns without blocking). "
                                   "Every failed expectation becomes rows in data_quality_issues (a rerun replaces "
                                   "them); Data Docs are rebuilt. Exit 1 when a blocking (critical) expectation "
                                   "fails.")
    _add_date_options(p)
    p.add_argument("--scope", choices=["all", "landing", "warehouse"], default="all")
    p.set_defaults(func=cmd_dq)



def _add_demo_command(sub) -> None:  # noqa: ANN001 (argparse's subparsers action)
    """demo: the main job, end to end."""
    p = sub.add_parser("demo", help="the main job, end to end on the embedded platform, through Airflow",
                       description="Install what is missing, start the platform, then drive the DAGs through "
                                   "Airflow's REST API: generate_data (the day and a history with loan outcomes) -> "
                                   "fraud_stream_supervisor (starts the Flink job) -> kafka_landing -> "
                                   "train_credit_model (the first champion scorecard) -> nightly_risk_scoring for "
                                   "the data's date -> data_quality. Prints a summary (events, alerts by rule, "
                                   "warehouse rows, model, decisions, grades, PSI, DQ issues, lineage, URLs) and "
                                   "leaves the platform running.")
    p.add_argument("--applications", type=input_file, metavar="FILE", help="replay these applications (JSON lines) "
                   "instead of generating")
    p.add_argument("--transactions", type=input_file, metavar="FILE", help="replay these transactions (JSON lines)")
    p.add_argument("--count", type=COUNT, default=20_000, help="events of each kind to generate (default 20000)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--invalid", type=COUNT, default=25, help="of each kind, records broken on purpose to show the "
                   "DLQ and data_quality_issues at work (default 25)")
    p.add_argument("--history-days", type=COUNT, default=DemoOptions.history_days,
                   help="days of earlier applications with their loan outcomes, which the first champion scorecard "
                   f"is trained on (default {DemoOptions.history_days}; 0: no history, no model)")
    p.add_argument("--history-applications", type=COUNT, default=DemoOptions.history_applications,
                   help=f"applications in that history (default {DemoOptions.history_applications})")
    p.add_argument("--date", type=business_date,
                   help="business date of the generated data, YYYY-MM-DD (default: yesterday, UTC)")
    p.set_defaults(func=cmd_demo, only=None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="credit-platform",
        description="Credit scoring, lending and fraud-detection data platform. Runs every service as a "
                    "local process (state in .platform/, or $CP_HOME); see README.md.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log library debug output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for add in (_add_lifecycle_commands, _add_data_commands, _add_job_commands, _add_demo_command):
        add(sub)
    return parser


def unreachable(exc: BaseException) -> str | None:
    """What a service that did not answer says, in a line (None: the error is something else). The
    drivers' texts name host and port, never a password."""
    kind = f"{type(exc).__module__.split('.')[0]}.{type(exc).__name__}"
    if kind in ("pymongo.ServerSelectionTimeoutError", "pymongo.AutoReconnect"):
        return f"MongoDB did not answer ({str(exc).split(' (configured')[0].split(', Timeout')[0]})"
    if kind == "psycopg.OperationalError":
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return f"PostgreSQL did not answer ({first})"
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        logging.getLogger("kafka").setLevel(logging.CRITICAL)  # connection retries are reported by us
    try:
        return args.func(args)
    except PlatformError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        if (reason := unreachable(exc)) is None:
            raise
        print(f"\nerror: {reason}; is the platform up? (`credit-platform status`)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
