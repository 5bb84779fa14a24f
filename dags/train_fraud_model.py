"""
### Train the learned fraud score

Every night at 05:00 UTC (the DAG is created paused: unpause it once a history with chargebacks is
landed), or when triggered with its form. The same as `credit-platform train-fraud`.

1. `land_latest`: lands what Kafka holds beyond the last landing run (chargebacks included);
2. `train`: the platform's fraud features (their Flink SQL, the computation the stream serves,
   on a local mini-cluster) over the landed transactions before `as_of`; labels from the landed
   chargebacks only. A logistic regression is fitted on `train_days` of purchases (one a rule
   alerts weighs `rules_weight`, default 0.02, the rest 1: the job raises the rules' alerts anyway),
   labelled by the chargebacks reported by the first validation day, and judged on the
   `validation_days` that end `label_delay_days` before `as_of` (labels reported by `as_of`): AUC,
   average precision and card precision@100 per day, of the score alone and of the rules' alerts
   then the score (how the job serves it), beside the champion's on the same days. Stored in
   `fraud_models`; it becomes the **champion** when the rules then its score reach a mean average
   precision no worse than the rules then the champion's (`promote=auto`), never
   (`never`), or anyway with a `reason` (`force`). A champion is then published (`publish`, on by
   default): its coefficients, threshold and version become the next fraud rules version, which the
   running fraud job applies from now on with no restart (`fraud_score` alerts). With too little
   landed history the task is skipped and says what is missing;
3. `record_lineage`: one `metadata_table` row for the run.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag, task

from credit_platform import config
from credit_platform.model.fraud_training import FraudTrainingOptions
from credit_platform.orchestration.dag_defaults import DEFAULT_ARGS, START

D = FraudTrainingOptions.__dataclass_fields__


@dag(
    dag_id="train_fraud_model",
    schedule="0 5 * * *",
    start_date=START,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    default_args=DEFAULT_ARGS,
    tags=["fraud", "model"],
    doc_md=__doc__,
    params={
        "as_of": Param("", type="string", description="YYYY-MM-DD: train on what was known at its start; "
                       "empty = the run's logical date"),
        "train_days": Param(D["train_days"].default, type="integer", minimum=1, maximum=365,
                            description="days of purchases to learn from"),
        "label_delay_days": Param(D["label_delay_days"].default, type="integer", minimum=0, maximum=120,
                                  description="days a chargeback may take to be reported"),
        "validation_days": Param(D["validation_days"].default, type="integer", minimum=1, maximum=90,
                                 description="days to judge the model on"),
        "promote": Param("auto", enum=["auto", "never", "force"],
                         description="auto: when the rules then its score reach a mean average precision no worse "
                         "than the rules then the champion's"),
        "alert_share": Param(D["alert_share"].default, type="number", exclusiveMinimum=0, exclusiveMaximum=1,
                             description="the score's alert threshold: the score above which this share of the "
                             "training purchases lie"),
        "rules_weight": Param(D["rules_weight"].default, type="number", minimum=0, maximum=1,
                              description="what a training purchase a rule alerts weighs in the fit (others: 1); "
                              "1: every purchase alike"),
        "reason": Param("", type="string", description="why a forced promotion is made (recorded)"),
        "publish": Param(True, type="boolean", description="a champion goes live: its coefficients become the "
                         "next fraud rules version, which the running fraud job applies from now on"),
    },
)
def train_fraud_model() -> None:
    @task
    def land_latest(**context) -> int:
        from credit_platform.ingest import landing

        return landing.land_latest(config.load(), context["run_id"])

    @task(execution_timeout=timedelta(hours=1))
    def train(landed: int, **context) -> dict:
        from datetime import date

        from airflow.exceptions import AirflowSkipException

        from credit_platform.model import fraud_training

        params = context["params"]
        options = fraud_training.FraudTrainingOptions(
            as_of=date.fromisoformat(params["as_of"] or context["ds"]), run_id=context["run_id"],
            train_days=params["train_days"], label_delay_days=params["label_delay_days"],
            validation_days=params["validation_days"], promote=params["promote"], reason=params["reason"],
            publish=params["publish"], rules_weight=params["rules_weight"],
            alert_share=params["alert_share"])
        try:
            return fraud_training.train(config.load(), options)
        except fraud_training.NothingToLearn as exc:
            raise AirflowSkipException(str(exc)) from exc

    @task
    def record_lineage(summary: dict, **context) -> None:
        from platform_operators import record_lineage as record

        record(context, source="landing/transactions+chargebacks", target="fraud_models",
               rows_in=summary["train_rows"] + summary["validation_rows"], rows_out=1, details=summary)

    record_lineage(train(land_latest()))


train_fraud_model()
