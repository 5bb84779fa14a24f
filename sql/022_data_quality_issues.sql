-- Every record or check that failed, with what a person needs to act on it.
CREATE TABLE IF NOT EXISTS public.data_quality_issues (
    issue_id        bigint        GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    record_id       text,                          -- id of the failing record, where known
    issue           text          NOT NULL,        -- what is wrong, in words
    "timestamp"     timestamptz   NOT NULL DEFAULT now(),
    source          text          NOT NULL,        -- producer, landing, risk_scoring, a GX suite ...
    table_name      text,                          -- topic or table the record belongs to
    column_name     text,
    rule            text,                          -- validation rule or expectation type
    observed_value  text,
    severity        text          NOT NULL DEFAULT 'error'
                                  CHECK (severity IN ('info', 'warning', 'error', 'critical')),
    run_id          text,
    raw_payload     text                           -- the record as received
);

CREATE INDEX IF NOT EXISTS data_quality_issues_source_ts_idx ON public.data_quality_issues (source, "timestamp");
CREATE INDEX IF NOT EXISTS data_quality_issues_run_id_idx    ON public.data_quality_issues (run_id);
