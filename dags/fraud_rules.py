"""
### Change the fraud rules

Triggered by hand with its form (never scheduled): the same change as `credit-platform rules set`.

1. `change_rules`: checks the change (known settings, types and bounds, a real change, an
   effective time that is not in the past), stores it in MongoDB `policies` as the next version of
   the fraud rules with its `reason`, `approved_by` and `effective_from`, and publishes it to the
   compacted Kafka topic `fraud_rules`. The running fraud job applies thresholds and on/off switches
   from the effective event time on, with no restart; every alert records the `rule_version` that
   raised it. A window's length (`*.window_minutes`, `amount_spike.history`) applies when the job is
   redeployed: `fraud_stream_supervisor` stops it with a savepoint and submits it again with the new
   windows on its next run;
2. one `metadata_table` row for the run, with the change.

`settings` is a JSON object of `RULE.KEY` to value, e.g.
`{"application_velocity.min_applications": 3, "shared_device.enabled": false}`;
`credit-platform rules show` lists every setting. A refused change fails the run with the reason.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag, task

from credit_platform.orchestration.dag_defaults import DEFAULT_ARGS, START


@dag(
    dag_id="fraud_rules",
    schedule=None,
    start_date=START,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=10),
    default_args=DEFAULT_ARGS,
    tags=["streaming", "fraud", "governance"],
    doc_md=__doc__,
    params={
        "settings": Param({}, type="object", description='RULE.KEY -> value, e.g. {"shared_device.min_users": 5}'),
        "reason": Param("", type="string", minLength=1, description="why the rules change (recorded)"),
        "approved_by": Param("", type="string", minLength=1, description="who approved the change (recorded)"),
        "effective_from": Param("", type="string", description="ISO-8601 event time with a zone from which it "
                                "applies; empty = now"),
    },
)
def fraud_rules() -> None:
    @task
    def change_rules(**context) -> dict:
        from datetime import datetime

        from credit_platform import config
        from credit_platform.rules.fraud_store import RulesStore, iso_millis, redeploy_settings

        params = context["params"]
        when = params["effective_from"].strip()
        effective_from = datetime.fromisoformat(when.replace("Z", "+00:00")) if when else None
        if effective_from is not None and effective_from.tzinfo is None:
            raise ValueError(f"effective_from {when!r} has no time zone")
        store = RulesStore(config.load())
        # a retry of this run publishes the version it stored, not a second one
        version = store.change(params["settings"], params["reason"], params["approved_by"], effective_from,
                               request_id=f"airflow:{context['ti'].dag_id}:{context['run_id']}")
        outcome = {"version": version.version, "effective_from": iso_millis(version.effective_from),
                   "changes": version.changes, "on_redeploy": redeploy_settings(version), "topic": store.topic}
        print(f"fraud rules version {version.version} stored and published: {outcome}")
        return outcome

    @task
    def record_lineage(outcome: dict, **context) -> None:
        from platform_operators import record_lineage as record

        record(context, source="airflow:fraud_rules form", target=f"mongo:credit.policies, kafka:{outcome['topic']}",
               rows_in=1, rows_out=1, details=outcome)

    record_lineage(change_rules())


fraud_rules()
