-- The audit trail of each lending decision, completing 024's who/what/why with when and under
-- which governed exception: the policy exception that applied (MongoDB `policies`.exceptions,
-- null when none did), when the deciding run ran, and its run id (the lineage rows of
-- metadata_table share it). A rerun of a date re-decides and stamps its own run.
ALTER TABLE public.credit_scores
    ADD COLUMN IF NOT EXISTS policy_exception text,
    ADD COLUMN IF NOT EXISTS decided_at       timestamptz,
    ADD COLUMN IF NOT EXISTS scoring_run_id   text;
