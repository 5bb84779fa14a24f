-- Lineage stays an audit record, and what another step needs from a run is a typed column, not
-- a key inside `details`: `rows_rejected` (records a step read but refused: invalid, or held by
-- another date), so rows_in = rows loaded + rows_rejected is the reconciliation the warehouse
-- checks; `prior_run_id` (the run whose identical output a skipped rerun reused).
ALTER TABLE public.metadata_table
    ADD COLUMN IF NOT EXISTS rows_rejected bigint CHECK (rows_rejected >= 0),
    ADD COLUMN IF NOT EXISTS prior_run_id  text;
