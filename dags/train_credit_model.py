"""
### Train the credit scorecard

On the 1st of each month at 04:00 UTC, or when triggered with its form:

1. `land_latest`: lands what Kafka holds beyond the last landing run (outcomes included);
2. `train`: `spark-submit jobs/train_credit_model.py` (as the nightly job runs its Spark job: only
   its own secrets, as the unprivileged `credit-spark` user when Airflow runs as root). It learns
   the scorecard from the landed applications whose performance window has closed by `as_of` and
   their loan outcomes: monotonic optimal binning, weights of evidence, logistic regression,
   points scaled as the lending policy says (600 points at 50:1 odds, 20 to double them, by
   default). The latest `out_of_time_share` of the applications is held out to judge it: AUC,
   Gini, KS, calibration by risk grade, beside the bureau score alone;
3. the model is stored in the warehouse table `credit_models` and becomes the **champion** when
   its out-of-time AUC is no worse than the champion's on the same applications (`promote=auto`);
   `never` keeps it as a challenger; `force` promotes it anyway and needs a `reason`. Who and why
   are recorded on the row. The nightly risk scoring scores with the champion;
4. `record_lineage`: one `metadata_table` row for the run.

The model report (ROC, KS curve, score distribution, calibration, points table) is in the UI
under Browse > Credit Model Reports.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag, task

from credit_platform import config
from credit_platform.model import HISTORY_DAYS, OUT_OF_TIME_SHARE
from credit_platform.orchestration.dag_defaults import DEFAULT_ARGS, START


@dag(
    dag_id="train_credit_model",
    schedule="0 4 1 * *",
    start_date=START,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    default_args=DEFAULT_ARGS,
    tags=["batch", "risk", "model"],
    doc_md=__doc__,
    params={
        "as_of": Param("", type="string", description="YYYY-MM-DD: train on what was known at its start; "
                       "empty = the run's logical date"),
        "history_days": Param(HISTORY_DAYS, type="integer", minimum=100, maximum=3650,
                              description="applications from this many days before as_of"),
        "out_of_time_share": Param(OUT_OF_TIME_SHARE, type="number", minimum=0.05, maximum=0.5,
                                   description="latest share of the applications held out to judge the model"),
        "promote": Param("auto", enum=["auto", "never", "force"],
                         description="auto: when its out-of-time AUC is no worse than the champion's"),
        "reason": Param("", type="string", description="why a forced promotion is made (recorded)"),
    },
)
def train_credit_model() -> None:
    @task
    def land_latest(**context) -> int:
        from credit_platform.ingest import landing

        return landing.land_latest(config.load(), context["run_id"])

    @task(execution_timeout=timedelta(hours=1))
    def train(as_of: str, **context) -> dict:
        from credit_platform.batch import spark_submit

        params = context["params"]
        who = getattr(context["dag_run"], "triggering_user_name", None) or "scheduler"
        args = ["--as-of", as_of, "--history-days", str(params["history_days"]),
                "--out-of-time-share", str(params["out_of_time_share"]), "--promote", params["promote"],
                "--requested-by", f"airflow:{who}", "--run-id", context["run_id"]]
        if params["reason"]:
            args += ["--reason", params["reason"]]
        return spark_submit.run_task(config.load(), "train_credit_model", args)

    @task
    def record_lineage(summary: dict, **context) -> None:
        from platform_operators import record_lineage as record

        sample = summary["sample"]
        record(context, source="landing/credit_applications+loan_outcomes", target="credit_models",
               rows_in=sample["with_outcome"], rows_out=1, details=summary)

    as_of = "{{ params.as_of or ds }}"
    record_lineage(land_latest() >> train(as_of))


train_credit_model()
