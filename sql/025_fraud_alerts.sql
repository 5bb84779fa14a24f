-- Fraud alerts copied from MongoDB credit.fraud_alerts by the nightly DAG (task sync_fraud_alerts),
-- so Power BI can join them with the facts. Keyed by the alert's deterministic id: a resync
-- updates, never duplicates.
CREATE TABLE IF NOT EXISTS public.fraud_alerts (
    alert_id      text         PRIMARY KEY,
    rule          text         NOT NULL,
    severity      text,
    reason        text,
    user_id       text,
    event_type    text         NOT NULL CHECK (event_type IN ('application', 'transaction')),
    event_id      text         NOT NULL,
    event_time    timestamptz  NOT NULL,
    detected_at   timestamptz,
    business_date date         NOT NULL,
    synced_at     timestamptz  NOT NULL DEFAULT now()
);

-- A learned score's alert (rule fraud_score) also carries its score, the alert threshold in force,
-- the model version and the three features that raised it most, in words; NULL for the other rules.
ALTER TABLE public.fraud_alerts
    ADD COLUMN IF NOT EXISTS score           double precision,
    ADD COLUMN IF NOT EXISTS score_threshold double precision,
    ADD COLUMN IF NOT EXISTS model_version   text,
    ADD COLUMN IF NOT EXISTS top_features    text[];

CREATE INDEX IF NOT EXISTS fraud_alerts_business_date_idx ON public.fraud_alerts (business_date);
CREATE INDEX IF NOT EXISTS fraud_alerts_event_idx ON public.fraud_alerts (event_id);
