-- Lineage: one row per job run and target, so any warehouse row can be followed to its source.
CREATE TABLE IF NOT EXISTS public.metadata_table (
    lineage_id   bigint       GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job          text         NOT NULL,
    source       text         NOT NULL,
    target       text         NOT NULL,
    run_id       text         NOT NULL,
    started_at   timestamptz  NOT NULL,
    finished_at  timestamptz,
    rows_in      bigint       CHECK (rows_in >= 0),
    rows_out     bigint       CHECK (rows_out >= 0),
    status       text         NOT NULL CHECK (status IN ('running', 'success', 'failed', 'skipped')),
    error        text,
    details      jsonb        NOT NULL DEFAULT '{}'::jsonb,  -- files, offsets, versions
    CONSTRAINT metadata_table_run_target_key UNIQUE (job, run_id, target),
    CONSTRAINT metadata_table_finished_after_start CHECK (finished_at IS NULL OR finished_at >= started_at)
);

CREATE INDEX IF NOT EXISTS metadata_table_job_started_idx ON public.metadata_table (job, started_at DESC);
CREATE INDEX IF NOT EXISTS metadata_table_target_idx      ON public.metadata_table (target);
