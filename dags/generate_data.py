"""
### Generate synthetic lending and card data

Generates loan applications and card transactions from a seeded synthetic population with
labelled, injected fraud patterns, and sends them through the **validated producer** into Kafka
(`credit_applications`, `transactions`; invalid records go to the `.dlq` topics and
`data_quality_issues`). Every parameter is editable in the trigger form.

- `start`: event time of the first event (ISO 8601 with zone). Empty: 00:00 UTC of the run's
  logical date, so the data belongs to that business date.
- `history_days`, `history_applications`: first, that many applications spread over the days
  before `start`, and their loan outcomes (`loan_outcomes`) observed by `start`: the history the
  credit scorecard is trained on (`train_credit_model`).
- `history_transactions`: likewise that many card transactions over the `history_days`, and the
  chargebacks (`chargebacks`) of their fraud reported by `start`: the fraud labels as a bank has
  them (the last days' fraud mostly not yet reported).
- `applications_file` / `transactions_file`: replay these JSON-lines files instead of generating.

Idempotent: generated data is keyed by its parameters (seed, start, count, fraud share, rate).
If the lineage in `metadata_table` shows the same data was already produced, by this run or an
earlier one, the task sends nothing again (a cleared task, a retry after success or a repeated
demo never doubles events). Replayed files are always sent.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag, task

from credit_platform.contracts import names
from credit_platform.orchestration.dag_defaults import DEFAULT_ARGS, START

KINDS = {"applications": "credit_applications", "transactions": "transactions"}


@dag(
    dag_id="generate_data",
    schedule=None,
    start_date=START,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=30),
    default_args=DEFAULT_ARGS,
    tags=["ingestion"],
    doc_md=__doc__,
    params={
        "applications": Param(20_000, type="integer", minimum=0, maximum=5_000_000,
                              description="loan applications to generate"),
        "transactions": Param(20_000, type="integer", minimum=0, maximum=5_000_000,
                              description="card transactions to generate"),
        "seed": Param(42, type="integer", description="same seed, same data"),
        "fraud_share": Param(0.02, type="number", minimum=0, maximum=0.5,
                             description="share of events from injected fraud patterns"),
        "rate": Param(50.0, type="number", exclusiveMinimum=0,
                      description="simulated events per second of event time"),
        "start": Param("", type="string", description="event time of the first event; empty = the logical date"),
        "invalid": Param(0, type="integer", minimum=0, description="of each kind, this many records broken on "
                         "purpose (bad score, missing user, time without zone, negative amount, truncated JSON) "
                         "to watch them reach the DLQ and data_quality_issues"),
        "history_days": Param(0, type="integer", minimum=0, maximum=3650,
                              description="also generate this many days of earlier applications, with their loan "
                              "outcomes observed by `start` (what the credit scorecard learns from)"),
        "history_applications": Param(0, type="integer", minimum=0, maximum=5_000_000,
                                      description="applications in that history"),
        "history_transactions": Param(0, type="integer", minimum=0, maximum=5_000_000,
                                      description="card transactions in that history, with the chargebacks of "
                                      "their fraud reported by `start`"),
        "applications_file": Param("", type="string", description="replay this JSON-lines file instead"),
        "transactions_file": Param("", type="string", description="replay this JSON-lines file instead"),
    },
)
def generate_data() -> None:
    @task(execution_timeout=timedelta(minutes=20))
    def produce(kind: str, **context) -> dict:
        from pathlib import Path

        from credit_platform.ingest import generator, producer

        params, topic = context["params"], KINDS[kind]
        replay = params[f"{kind}_file"]
        if replay:
            return _send(context, topic, f"kafka:{topic}", f"file:{replay}", lambda: producer.read_lines(Path(replay)))
        if not params[kind]:
            return {"sent": 0}
        cfg = _config(context)
        source = (f"generator:{kind},count={params[kind]},seed={cfg.seed},start={cfg.start.isoformat()},"
                  f"fraud_share={cfg.fraud_share},rate={cfg.rate_per_second},invalid={params['invalid']}")
        return _send(context, topic, f"kafka:{topic}", source, lambda: generator.corrupt(
            generator.to_json_lines(generator.generate(kind, params[kind], cfg)).splitlines(), params["invalid"]))

    @task(execution_timeout=timedelta(minutes=20))
    def produce_history(**context) -> dict:
        """Applications and transactions of the `history_days` before `start`, and their loan outcomes
        and chargebacks observed by then."""
        from credit_platform.ingest import generator

        params, sent = context["params"], {}
        cfg, days = _config(context), params["history_days"]
        for what, make, kinds in (
                ("history", generator.history, (("applications", KINDS["applications"]),
                                                ("outcomes", names.LOAN_OUTCOMES_TOPIC))),
                ("transaction-history", generator.transaction_history, (("transactions", KINDS["transactions"]),
                                                                         ("chargebacks", names.CHARGEBACKS_TOPIC)))):
            count = params[f"history_{kinds[0][0]}"]
            if not (days and count):
                continue
            source = (f"generator:{what},count={count},days={days},seed={cfg.seed},until={cfg.start.isoformat()},"
                      f"fraud_share={cfg.fraud_share}")
            for (kind, topic), frame in zip(kinds, make(count, days, cfg), strict=True):
                sent[kind] = _send(context, topic, f"kafka:{topic} (history)", source,
                                   lambda frame=frame: generator.to_json_lines(frame).splitlines())
        return sent

    history = produce_history()
    history >> produce.override(task_id="produce_applications")("applications")
    history >> produce.override(task_id="produce_transactions")("transactions")


def _config(context: dict):  # noqa: ANN202
    from datetime import UTC, datetime

    from credit_platform.ingest.scenario import GeneratorConfig

    params = context["params"]
    start = (datetime.fromisoformat(params["start"].replace("Z", "+00:00")) if params["start"]
             else context["logical_date"].astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0))
    return GeneratorConfig(seed=params["seed"], fraud_share=params["fraud_share"], rate_per_second=params["rate"],
                           start=start)


def _send(context: dict, topic: str, target: str, source: str, lines) -> dict:  # noqa: ANN001
    """Produce `lines()` to `topic` through the validated producer, once: skipped when this run, or an
    earlier one from the same generated source, already did; one lineage row either way."""
    from platform_operators import record_lineage

    from credit_platform import config
    from credit_platform.ingest import producer
    from credit_platform.lineage import already_done

    settings = config.load()
    if already_done(settings, "generate_data", target, run_id=context["run_id"]):
        print(f"{target}: already produced by this run; nothing sent again")
        return {"skipped": True}
    earlier = None if source.startswith("file:") else already_done(settings, "generate_data", target, source=source)
    if earlier:
        print(f"{target}: the same data was already produced by run {earlier}; nothing sent again")
        record_lineage(context, source=source, target=target, rows_in=0, rows_out=0, prior_run_id=earlier,
                       status="skipped")
        return {"skipped": True, "already_produced_by": earlier}
    summary = producer.produce(settings, topic, lines(), run_id=context["run_id"], progress=False)
    print(summary.render())
    record_lineage(context, source=source, target=target, rows_in=summary.read, rows_out=summary.sent,
                   rows_rejected=summary.invalid, status="success" if summary.complete else "failed",
                   details={"dlq": f"{topic}.dlq", "failed": summary.failed})
    if not summary.complete:
        raise RuntimeError(f"{summary.failed} records were not accepted by Kafka; kept in {summary.failed_file}")
    return {"sent": summary.sent, "invalid": summary.invalid}


generate_data()
