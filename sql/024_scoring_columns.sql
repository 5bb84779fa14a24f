-- Columns the nightly risk-scoring job adds to the seed tables (idempotent, so existing
-- warehouses upgrade in place). Every row carries where it came from (landed file, Kafka
-- partition and offset) and, for applications, the lending decision with its reason and the
-- policy version that made it: the audit trail of who/what/when/why.
ALTER TABLE public.credit_scores
    ADD COLUMN IF NOT EXISTS business_date     date,
    ADD COLUMN IF NOT EXISTS annual_income     numeric(14,2),
    ADD COLUMN IF NOT EXISTS loan_term_months  integer,
    ADD COLUMN IF NOT EXISTS loan_purpose      text,
    ADD COLUMN IF NOT EXISTS employment_status text,
    ADD COLUMN IF NOT EXISTS channel           text,
    ADD COLUMN IF NOT EXISTS device_id         text,
    ADD COLUMN IF NOT EXISTS city              text,
    ADD COLUMN IF NOT EXISTS latitude          double precision,
    ADD COLUMN IF NOT EXISTS longitude         double precision,
    ADD COLUMN IF NOT EXISTS decision          text
        CHECK (decision IN ('instant_approval', 'manual_review', 'fraud_review')),
    ADD COLUMN IF NOT EXISTS decision_reason   text,
    ADD COLUMN IF NOT EXISTS fraud_alert       boolean,
    ADD COLUMN IF NOT EXISTS fraud_alert_rules text,
    ADD COLUMN IF NOT EXISTS is_fraud          boolean,
    ADD COLUMN IF NOT EXISTS policy_id         text,
    ADD COLUMN IF NOT EXISTS policy_version    integer,
    ADD COLUMN IF NOT EXISTS decided_by        text,      -- the job that decided (the audit "who")
    ADD COLUMN IF NOT EXISTS source_file       text,
    ADD COLUMN IF NOT EXISTS kafka_partition   integer,
    ADD COLUMN IF NOT EXISTS kafka_offset      bigint;

ALTER TABLE public.processed_transactions
    ADD COLUMN IF NOT EXISTS business_date     date,
    ADD COLUMN IF NOT EXISTS latitude          double precision,
    ADD COLUMN IF NOT EXISTS longitude         double precision,
    ADD COLUMN IF NOT EXISTS merchant_category text,
    ADD COLUMN IF NOT EXISTS fraud_alert       boolean,
    ADD COLUMN IF NOT EXISTS fraud_alert_rules text,
    ADD COLUMN IF NOT EXISTS source_file       text,
    ADD COLUMN IF NOT EXISTS kafka_partition   integer,
    ADD COLUMN IF NOT EXISTS kafka_offset      bigint;

-- The day of data an issue is about, so a rerun of that day replaces its own issues.
ALTER TABLE public.data_quality_issues ADD COLUMN IF NOT EXISTS data_date date;
CREATE INDEX IF NOT EXISTS data_quality_issues_data_date_idx ON public.data_quality_issues (source, data_date);
