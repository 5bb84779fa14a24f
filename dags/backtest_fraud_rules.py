"""
### Backtest the fraud rules

Triggered by hand with its form (never scheduled): what would a change of the fraud rules have
done on days already landed, before it goes live? The same as `credit-platform rules backtest`.

1. `land_latest`: lands what Kafka holds beyond the last landing run;
2. `backtest`: runs the fraud stream's very rule SQL (the same source tables, rules' versioned
   table and rule queries as the running Flink job) on a local Flink mini-cluster over the landed
   applications and transactions of `date_from`..`date_to` (and `warmup_days` before, so that each
   customer's windows and purchase histories are filled as in the stream), once under the live rule
   versions and once with `settings` applied over each of them. Per rule: alerts live and proposed,
   the change in alert volume, precision (alerts on events labelled fraudulent) and recall (the
   rule's own pattern's events it alerts). Stored in the warehouse table `fraud_rule_backtests`
   and as JSON under the state dir's `backtests/`; the task log shows the table;
3. one `metadata_table` row for the run.

`settings` is a JSON object of `RULE.KEY` to value (`{}`: the live versions alone); apply a change
that looks right with the `fraud_rules` DAG.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag, task

from credit_platform import config
from credit_platform.orchestration.dag_defaults import DEFAULT_ARGS, START
from credit_platform.stream.backtest import WARMUP_DAYS


@dag(
    dag_id="backtest_fraud_rules",
    schedule=None,
    start_date=START,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=1),
    default_args=DEFAULT_ARGS,
    tags=["streaming", "fraud", "governance"],
    doc_md=__doc__,
    params={
        "date_from": Param("", type="string", description="first landed day, YYYY-MM-DD; empty = the run's date"),
        "date_to": Param("", type="string", description="last landed day, YYYY-MM-DD; empty = date_from"),
        "settings": Param({}, type="object", description='proposed RULE.KEY -> value, e.g. '
                          '{"application_velocity.min_applications": 3}'),
        "warmup_days": Param(WARMUP_DAYS, type="integer", minimum=0, maximum=60,
                             description="landed days read before date_from to fill windows and histories"),
    },
)
def backtest_fraud_rules() -> None:
    @task
    def land_latest(**context) -> int:
        from credit_platform.ingest import landing

        return landing.land_latest(config.load(), context["run_id"])

    @task(execution_timeout=timedelta(minutes=45))
    def backtest(landed: int, **context) -> dict:
        from datetime import date

        from credit_platform.stream import backtest as bt

        params = context["params"]
        first = date.fromisoformat(params["date_from"] or context["ds"])
        last = date.fromisoformat(params["date_to"]) if params["date_to"] else first
        report = bt.backtest(config.load(), first, last, params["settings"], warmup_days=params["warmup_days"],
                             run_id=f"airflow-{context['run_id']}")
        print(report.render())
        return {"run_id": report.run_id, "events": report.events, "report": str(report.report_path),
                "rules": {o.rule: {"live": o.live_alerts, "proposed": o.proposed_alerts} for o in report.outcomes}}

    @task
    def record_lineage(summary: dict, **context) -> None:
        from platform_operators import record_lineage as record

        record(context, source="landing/credit_applications+transactions", target="fraud_rule_backtests",
               rows_in=summary["events"], rows_out=len(summary["rules"]), details=summary)

    record_lineage(backtest(land_latest()))


backtest_fraud_rules()
