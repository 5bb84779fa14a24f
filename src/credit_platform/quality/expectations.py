"""Great Expectations 1.x checks over the landed files and the warehouse, for one business date.

Suites are built from the shared contract (`schemas.field_rules`) and the shared rules, so they
cannot drift from what the producer and the Spark job enforce:

- `landed_applications`, `landed_transactions` (the day's landed Parquet files): required fields,
  ranges, allowed values, unique ids, records that did not parse. Severity `warning`: the scoring job
  already refuses such rows one by one; the suite reports their extent.
- `credit_scores`, `processed_transactions` (the day's warehouse rows): the same constraints plus
  `risk_level`/`decision`/`risk_grade` values, PDs within 0..1, and the row count reconciled with
  what the scoring run found valid in the landed data. Severity `critical`: a failure here is
  *blocking* (`dq` exits 1).
- `credit_model_monitoring` (the day's population stability against the champion scorecard's
  training sample): every PSI below 0.25. Severity `warning`: a shifted population does not make
  the day's rows wrong, but each shifted characteristic is written to `data_quality_issues`.

A checkpoint action writes every failed expectation to `data_quality_issues`: one row per failing
record where GX names it (the record's id), otherwise one row for the expectation with the observed
value; a rerun for the same date replaces that date's rows. Data Docs are built into the state dir
(`.platform/gx/data_docs/local_site/index.html`), which Airflow's "Data Docs" link serves.

The project's configuration is `expectations/gx/great_expectations.yml` (in git, no secret: the
connection string is `${CP_GX_POSTGRES_URL}`, substituted from the environment at run time). Each
run works on a copy of it in the state dir, so GX never rewrites the file in git.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from credit_platform.config import REPO_ROOT, Settings
from credit_platform.contracts.events import FieldRule, contract_for, field_rules
from credit_platform.contracts.names import APPLICATIONS_TOPIC, INPUT_TOPICS, ROLE_ETL, TRANSACTIONS_TOPIC
from credit_platform.ingest import landing
from credit_platform.quality.issues import Issue, write_issues
from credit_platform.rules.credit import GRADES, PSI_ALERT
from credit_platform.rules.lending import DECISIONS, RISK_LEVELS

log = logging.getLogger(__name__)

PROJECT_TEMPLATE = REPO_ROOT / "expectations" / "gx" / "great_expectations.yml"
MONITORING_TABLE = "credit_model_monitoring"
MAX_ROWS_PER_EXPECTATION = 1000  # failing record ids written per expectation (the count is always written)

WAREHOUSE = {  # table -> (id column, landed topic)
    "credit_scores": ("application_id", APPLICATIONS_TOPIC),
    "processed_transactions": ("transaction_id", TRANSACTIONS_TOPIC),
}


def state_dir(settings: Settings) -> Path:
    return settings.gx_dir


def data_docs_dir(settings: Settings) -> Path:
    return settings.data_docs_dir


def _gx_env(settings: Settings) -> None:
    os.environ["CP_GX_STATE_DIR"] = str(state_dir(settings))
    # psycopg2 is what GX's Postgres data source speaks; UTC so dates mean the same everywhere.
    os.environ["CP_GX_POSTGRES_URL"] = (settings.postgres_uri(ROLE_ETL).replace("postgresql://", "postgresql+psycopg2://")
                                        + "?options=-c%20timezone%3DUTC")


def get_context(settings: Settings):  # noqa: ANN201
    """A file context over a fresh copy of the project's configuration in the state dir."""
    import great_expectations as gx

    _gx_env(settings)
    project = state_dir(settings) / "project"
    shutil.rmtree(project, ignore_errors=True)
    (project / "gx").mkdir(parents=True)
    shutil.copy(PROJECT_TEMPLATE, project / "gx" / "great_expectations.yml")
    return gx.get_context(mode="file", project_root_dir=str(project))


# ---- suites from the shared contract -------------------------------------------------------------
def _field_expectations(rules: tuple[FieldRule, ...], severity: str) -> list:
    import great_expectations.expectations as gxe

    found = []
    for r in rules:
        if r.type == "timestamp" or r.name in ("schema_version",):
            continue
        meta = {"contract_field": r.name}
        if r.required:
            found.append(gxe.ExpectColumnValuesToNotBeNull(column=r.name, severity=severity, meta=meta))
        if r.minimum is not None or r.maximum is not None:
            found.append(gxe.ExpectColumnValuesToBeBetween(
                column=r.name, min_value=r.minimum, max_value=r.maximum, strict_min=r.strict_minimum,
                severity=severity, meta=meta))
        if r.allowed is not None:
            found.append(gxe.ExpectColumnValuesToBeInSet(column=r.name, value_set=list(r.allowed), severity=severity,
                                                         meta=meta))
    return found


def landed_suite(topic: str):  # noqa: ANN201
    import great_expectations as gx
    import great_expectations.expectations as gxe

    contract = contract_for(topic)
    suite = gx.ExpectationSuite(name=f"landed_{contract.kind}")
    for expectation in _field_expectations(field_rules(contract.model), "warning"):
        suite.add_expectation(expectation)
    suite.add_expectation(gxe.ExpectColumnValuesToBeUnique(column=contract.id_field, severity="warning"))
    suite.add_expectation(gxe.ExpectColumnValuesToBeNull(column="_error", severity="warning",
                                                         meta={"why": "records the landing could not parse"}))
    return suite


@dataclass(frozen=True)
class Enforced:
    """What the database itself guarantees for a table's rows (from its catalog): single-column keys
    (PRIMARY KEY or UNIQUE) and NOT NULL columns. A check of these cannot fail on loaded rows."""

    unique: frozenset[str] = frozenset()
    not_null: frozenset[str] = frozenset()

    def describe(self) -> str:
        parts = [f"unique ({', '.join(sorted(self.unique))})" if self.unique else "",
                 f"not null ({', '.join(sorted(self.not_null))})" if self.not_null else ""]
        return "; ".join(p for p in parts if p) or "nothing"


def warehouse_suite(table: str, enforced: Enforced = Enforced()):  # noqa: ANN201, B008 (frozen, empty)
    """The day's warehouse rows against the contract and the decisions' values. What the table's own
    constraints guarantee (`enforced`) is not checked again: GX's uniqueness query over the day's
    1M rows kept PostgreSQL busy for over 12 minutes on a column that is the primary key."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    id_column, topic = WAREHOUSE[table]
    rules = field_rules(contract_for(topic).model)
    columns = set(_warehouse_columns(table))
    suite = gx.ExpectationSuite(name=table, meta={"enforced_by_the_database": enforced.describe()})
    for expectation in _field_expectations(tuple(r for r in rules if r.name in columns and r.name != "risk_level"),
                                           "critical"):
        if not (expectation.expectation_type == "expect_column_values_to_not_be_null"
                and expectation.column in enforced.not_null):
            suite.add_expectation(expectation)
    if id_column not in enforced.unique:
        suite.add_expectation(gxe.ExpectColumnValuesToBeUnique(column=id_column, severity="critical"))
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="risk_level", value_set=list(RISK_LEVELS),
                                                          severity="critical"))
    if "risk_level" not in enforced.not_null:
        suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="risk_level", severity="critical"))
    if table == "credit_scores":
        suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="decision", value_set=list(DECISIONS),
                                                              severity="critical"))
        suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="decision_reason", severity="critical"))
        suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="risk_grade", value_set=list(GRADES),
                                                              severity="critical"))
        suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="probability_of_default", min_value=0,
                                                                max_value=1, severity="critical"))
    suite.add_expectation(gxe.ExpectTableRowCountToEqual(
        value={"$PARAMETER": "valid_landed_rows"}, severity="critical",
        meta={"why": "rows loaded = rows the scoring run found valid in the landed files"}))
    return suite


def monitoring_suite():  # noqa: ANN201
    import great_expectations as gx
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(name=MONITORING_TABLE)
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(
        column="psi", min_value=0, max_value=PSI_ALERT, strict_max=True, severity="warning",
        meta={"why": f"a PSI of {PSI_ALERT} or more: applicants differ from the champion scorecard's training "
                     "sample in this characteristic; its PDs may no longer hold (retrain: train_credit_model)"}))
    return suite


def _warehouse_columns(table: str) -> tuple[str, ...]:
    from credit_platform.batch.scoring import CREDIT_SCORES_COLUMNS, PROCESSED_TRANSACTIONS_COLUMNS

    return CREDIT_SCORES_COLUMNS if table == "credit_scores" else PROCESSED_TRANSACTIONS_COLUMNS


# ---- the action that writes failures -------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    def default(o: Any) -> Any:
        return o.item() if hasattr(o, "item") and callable(o.item) else str(o)

    def no_nan(x: Any) -> Any:
        if isinstance(x, float) and x != x:
            return None
        if isinstance(x, list):
            return [no_nan(i) for i in x]
        if isinstance(x, dict):
            return {k: no_nan(i) for k, i in x.items()}
        return x

    return no_nan(json.loads(json.dumps(value, default=default)))


def failures_to_issues(checkpoint_result, *, table: str, id_column: str, run_id: str, day: str) -> list[Issue]:  # noqa: ANN001
    issues = []
    for suite_result in checkpoint_result.run_results.values():
        source = f"great_expectations:{suite_result.suite_name}"
        for evr in suite_result.results:
            if evr.success:
                continue
            cfg, res = evr.expectation_config, evr.result or {}
            column = cfg.kwargs.get("column")
            severity = {"critical": "critical", "warning": "warning", "info": "info"}.get(
                getattr(cfg.severity, "value", cfg.severity) or "critical", "error")
            kwargs = {k: v for k, v in cfg.kwargs.items() if k not in ("column", "batch_id")}
            rule = cfg.type
            what = f"{column}: " if column else ""
            base = dict(source=source, table_name=table, column_name=column, rule=rule, severity=severity,
                        run_id=run_id, data_date=day)
            if evr.exception_info and any(v for v in _exceptions(evr.exception_info)):
                issues.append(Issue(record_id=None, issue=f"{what}{rule} could not run: "
                                    f"{'; '.join(_exceptions(evr.exception_info))}"[:1000], **base))
                continue
            index = _jsonable(res.get("unexpected_index_list")) or []
            values = _jsonable(res.get("unexpected_list")) or []
            count = res.get("unexpected_count")
            if index:
                for i, row in enumerate(index[:MAX_ROWS_PER_EXPECTATION]):
                    value = row.get(column) if isinstance(row, dict) and column else (values[i] if i < len(values)
                                                                                     else None)
                    issues.append(Issue(record_id=str(row.get(id_column)) if isinstance(row, dict) else str(row),
                                        issue=f"{what}{value!r} fails {rule} {json.dumps(_jsonable(kwargs))}"[:1000],
                                        observed_value=None if value is None else str(value)[:200], **base))
            observed = res.get("observed_value")
            summary = (f"{what}{count} of {res.get('element_count')} rows fail {rule} "
                       f"{json.dumps(_jsonable(kwargs))}" if count is not None
                       else f"{what}{rule} {json.dumps(_jsonable(kwargs))} failed: observed {observed!r}")
            issues.append(Issue(record_id=None, issue=summary[:1000], observed_value=None if observed is None
                                else str(_jsonable(observed))[:200], **base))
    return issues


def _exceptions(info: dict) -> list[str]:
    if "raised_exception" in info:
        return [str(info.get("exception_message"))] if info.get("raised_exception") else []
    return [str(v.get("exception_message")) for v in info.values() if isinstance(v, dict) and v.get("raised_exception")]


_ACTION = None


def _issues_action_class():  # noqa: ANN202
    """The checkpoint action, defined once per process (GX registers action types globally)."""
    global _ACTION
    if _ACTION is None:
        from great_expectations.checkpoint.actions import ValidationAction

        class WriteDataQualityIssues(ValidationAction):
            type: Literal["write_data_quality_issues"] = "write_data_quality_issues"
            table: str
            id_column: str
            run_id: str
            data_date: str

            def run(self, checkpoint_result, action_context=None) -> dict:  # noqa: ANN001
                import psycopg

                from credit_platform import config

                settings = config.load()
                issues = failures_to_issues(checkpoint_result, table=self.table, id_column=self.id_column,
                                            run_id=self.run_id, day=self.data_date)
                sources = [f"great_expectations:{r.suite_name}" for r in checkpoint_result.run_results.values()]
                with psycopg.connect(settings.postgres_uri(ROLE_ETL), connect_timeout=10) as conn:
                    conn.execute("DELETE FROM data_quality_issues WHERE source = ANY(%s) AND data_date = %s",
                                 (sources, self.data_date))
                    written = write_issues(settings, issues, conn)
                return {"issues_written": written}

        _ACTION = WriteDataQualityIssues
    return _ACTION


# ---- running the checks --------------------------------------------------------------------------
@dataclass
class SuiteOutcome:
    suite: str
    target: str
    evaluated: int = 0
    failed: list[str] = field(default_factory=list)
    blocking: list[str] = field(default_factory=list)
    issues: int = 0
    note: str = ""

    @property
    def success(self) -> bool:
        return not self.failed


@dataclass
class DqSummary:
    day: str
    run_id: str
    outcomes: list[SuiteOutcome]
    data_docs: Path

    @property
    def blocking(self) -> list[str]:
        return [f"{o.suite}: {b}" for o in self.outcomes for b in o.blocking]

    def render(self) -> str:
        lines = [f"data quality for {self.day} (run {self.run_id}):"]
        for o in self.outcomes:
            state = "passed" if o.success else f"FAILED {len(o.failed)} ({len(o.blocking)} blocking)"
            lines.append(f"  {o.suite:<24} {o.evaluated:>3} expectations  {state:<24} issues written: {o.issues}"
                         + (f"  {o.note}" if o.note else ""))
            lines += [f"      - {f}" for f in o.failed]
        lines.append(f"Data Docs: {self.data_docs / 'index.html'}")
        return "\n".join(lines)


def _valid_rows_scored(settings: Settings, table: str, day: str) -> int | None:
    """Rows the latest successful scoring run of this date should have loaded: valid in the landed
    files, less ids refused because another date holds them (for the row-count check)."""
    import psycopg

    topic = WAREHOUSE[table][1]
    with psycopg.connect(settings.postgres_uri(ROLE_ETL), connect_timeout=10) as conn:
        row = conn.execute(
            "SELECT rows_in - rows_rejected FROM metadata_table "
            "WHERE job = 'risk_scoring' AND target = %s AND source = %s AND status = 'success' "
            "ORDER BY finished_at DESC LIMIT 1",
            (table, f"landing/{topic}/dt={day}")).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def enforced_constraints(settings: Settings, table: str) -> Enforced:
    """The columns a PRIMARY KEY / UNIQUE constraint makes unique within one business date (the
    suites check one date), and the NOT NULL columns of `public.<table>`, read from PostgreSQL's
    catalog at every run (a dropped constraint brings its check back). A key of one column counts, and
    so does a key of one column and `business_date` (the key of a table partitioned by day)."""
    import psycopg

    with psycopg.connect(settings.postgres_uri(ROLE_ETL), connect_timeout=10) as conn:
        unique = conn.execute(
            "SELECT a.attname FROM pg_constraint c "
            "CROSS JOIN LATERAL (SELECT array_agg(k) AS rest FROM unnest(c.conkey) AS k WHERE k IS DISTINCT FROM "
            "  (SELECT attnum FROM pg_attribute WHERE attrelid = c.conrelid AND attname = 'business_date')) r "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = r.rest[1] "
            "WHERE c.conrelid = %s::regclass AND c.contype IN ('p', 'u') AND cardinality(r.rest) = 1",
            (f"public.{table}",)).fetchall()
        not_null = conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
            "AND NOT attisdropped AND attnotnull", (f"public.{table}",)).fetchall()
    return Enforced(frozenset(r[0] for r in unique), frozenset(r[0] for r in not_null))


def _monitoring_rows(settings: Settings, day: str) -> int:
    import psycopg

    with psycopg.connect(settings.postgres_uri(ROLE_ETL), connect_timeout=10) as conn:
        return conn.execute(f"SELECT count(*) FROM {MONITORING_TABLE} WHERE business_date = %s",
                            (day,)).fetchone()[0]


def _issue_count(settings: Settings, source: str, day: str) -> int:
    import psycopg

    with psycopg.connect(settings.postgres_uri(ROLE_ETL), connect_timeout=10) as conn:
        return conn.execute("SELECT count(*) FROM data_quality_issues WHERE source = %s AND data_date = %s",
                            (source, day)).fetchone()[0]


def run_checks(settings: Settings, day: date, run_id: str, *, landed: bool = True,
               warehouse: bool = True) -> DqSummary:
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction

    context = get_context(settings)
    action_class = _issues_action_class()
    result_format = {"result_format": "COMPLETE"}
    outcomes = []
    day_s = str(day)
    pandas = context.data_sources.add_pandas(name="landed")
    postgres = context.data_sources.add_postgres(name="warehouse", connection_string="${CP_GX_POSTGRES_URL}")

    def run(suite, batch_definition, id_column: str, target: str, table: str, params: dict,
            expectation_params: dict | None = None) -> SuiteOutcome:
        suite = context.suites.add(suite)
        definition = context.validation_definitions.add(gx.ValidationDefinition(
            name=f"{suite.name}", data=batch_definition, suite=suite))
        checkpoint = context.checkpoints.add(gx.Checkpoint(
            name=f"{suite.name}_checkpoint", validation_definitions=[definition],
            result_format={**result_format, "unexpected_index_column_names": [id_column]},
            actions=[action_class(name="write_data_quality_issues", table=table, id_column=id_column,
                                  run_id=run_id, data_date=day_s),
                     UpdateDataDocsAction(name="update_data_docs", site_names=["local_site"])]))
        result = checkpoint.run(batch_parameters=params, expectation_parameters=expectation_params or {},
                                run_id=gx.RunIdentifier(run_name=run_id))
        outcome = SuiteOutcome(suite.name, target)
        for suite_result in result.run_results.values():
            outcome.evaluated += len(suite_result.results)
            for evr in suite_result.results:
                if not evr.success:
                    cfg = evr.expectation_config
                    label = f"{cfg.type}({cfg.kwargs.get('column') or ''})"
                    outcome.failed.append(label)
                    if getattr(cfg.severity, "value", cfg.severity) in (None, "critical"):
                        outcome.blocking.append(label)
        outcome.issues = _issue_count(settings, f"great_expectations:{suite.name}", day_s)
        return outcome

    if landed:
        for topic in INPUT_TOPICS:
            contract = contract_for(topic)
            frame = landing.read_landed(settings, topic, day)
            suite = landed_suite(topic)
            if frame is None:
                outcomes.append(SuiteOutcome(suite.name, f"landing/{topic}/dt={day_s}", note="nothing landed"))
                continue
            asset = pandas.add_dataframe_asset(name=f"landed_{contract.kind}")
            batch = asset.add_batch_definition_whole_dataframe(name=f"landed_{contract.kind}_{day_s}")
            data = frame.drop(contract.time_field, "_kafka_timestamp").to_pandas()
            outcomes.append(run(suite, batch, contract.id_field, f"landing/{topic}/dt={day_s}", topic,
                                {"dataframe": data}))
    if warehouse:
        for table, (id_column, _) in WAREHOUSE.items():
            suite = warehouse_suite(table, enforced_constraints(settings, table))
            expected = _valid_rows_scored(settings, table, day_s)
            if expected is None:
                outcomes.append(SuiteOutcome(suite.name, table, note=f"no successful scoring run for {day_s}"))
                continue
            asset = postgres.add_query_asset(
                name=f"{table}_{day_s}", query=f"SELECT * FROM {table} WHERE business_date = DATE '{day.isoformat()}'")
            batch = asset.add_batch_definition_whole_table(name=f"{table}_{day_s}")
            outcomes.append(run(suite, batch, id_column, table, table, {}, {"valid_landed_rows": expected}))
        if _monitoring_rows(settings, day_s):
            asset = postgres.add_query_asset(name=f"{MONITORING_TABLE}_{day_s}", query=(
                f"SELECT * FROM {MONITORING_TABLE} WHERE business_date = DATE '{day.isoformat()}'"))
            batch = asset.add_batch_definition_whole_table(name=f"{MONITORING_TABLE}_{day_s}")
            outcomes.append(run(monitoring_suite(), batch, "characteristic", MONITORING_TABLE, MONITORING_TABLE, {}))
        else:
            outcomes.append(SuiteOutcome(MONITORING_TABLE, MONITORING_TABLE,
                                         note=f"no champion scorecard scored {day_s}"))
    summary = DqSummary(day_s, run_id, outcomes, data_docs_dir(settings))
    _push_metrics(settings, summary)
    return summary


def _push_metrics(settings: Settings, summary: DqSummary) -> None:
    """One Pushgateway group per suite, pushed only for suites this run evaluated: a run with nothing
    to check (a date with nothing landed) leaves the last real result, and a firing alert, alone."""
    from prometheus_client import CollectorRegistry, Gauge

    from credit_platform.metrics import push

    for o in summary.outcomes:
        if not o.evaluated:
            continue
        registry = CollectorRegistry()
        failed = Gauge("dq_failed_expectations", "Failed expectations of the last run, by suite and severity",
                       ["suite", "severity"], registry=registry)
        failed.labels(o.suite, "critical").set(len(o.blocking))
        failed.labels(o.suite, "warning").set(len(o.failed) - len(o.blocking))
        Gauge("dq_evaluated_expectations", "Expectations evaluated by the last run", ["suite"],
              registry=registry).labels(o.suite).set(o.evaluated)
        push(settings, "data_quality", registry, {"suite": o.suite})
    registry = CollectorRegistry()
    Gauge("dq_last_run_timestamp_seconds", "When the last data-quality run finished",
          registry=registry).set_to_current_time()
    push(settings, "data_quality", registry)
