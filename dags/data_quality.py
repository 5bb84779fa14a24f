"""
### Data quality

Great Expectations checks of one business date over the **landed files** (applications and
transactions: contract ranges, required fields, allowed values, unique ids, unparseable records)
and the **warehouse** (`credit_scores`, `processed_transactions`: the same constraints, risk levels
and decisions, row counts reconciled with the landed data). Every failed expectation becomes rows
in `data_quality_issues` (the failing record's id, column, expectation, observed value, run id,
severity); a rerun replaces that date's rows. Data Docs are rebuilt: **Browse → Data Docs**.

Runs daily at 04:00 UTC for the previous day (after nightly scoring), or for the `business_date`
given in the trigger form. Fails when a blocking (critical) expectation fails.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag
from platform_operators import GreatExpectationsOperator

from credit_platform.orchestration.dag_defaults import BUSINESS_DATE, DEFAULT_ARGS, START


@dag(
    dag_id="data_quality",
    schedule="0 4 * * *",
    start_date=START,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=1),
    default_args=DEFAULT_ARGS,
    tags=["quality"],
    doc_md=__doc__,
    params={"business_date": Param("", type="string",
                                   description="YYYY-MM-DD to check; empty = the day before the logical date")},
)
def data_quality() -> None:
    GreatExpectationsOperator(task_id="check_landed_data", business_date=BUSINESS_DATE, scope="landing") >> \
        GreatExpectationsOperator(task_id="check_warehouse", business_date=BUSINESS_DATE, scope="warehouse")


data_quality()
