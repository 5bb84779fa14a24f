-- The credit scorecard: every trained model, the scores it gives, and how stable the scored
-- population stays against its training sample.
--
-- credit_models: one row per trained scorecard (bins and points as JSON, out-of-time metrics).
-- Exactly one row may be the champion; the nightly job scores with it. A challenger is promoted
-- only when its out-of-time AUC is no worse than the champion's; who promoted it and why is kept.
CREATE TABLE IF NOT EXISTS public.credit_models (
    version           text        PRIMARY KEY,
    trained_at        timestamptz NOT NULL,
    trained_by        text        NOT NULL,
    training_run_id   text        NOT NULL,
    sample_from       date        NOT NULL,      -- applications from this date ...
    sample_to         date        NOT NULL,      -- ... to this one (inclusive), outcome window closed
    out_of_time_from  date        NOT NULL,      -- the out-of-time validation sample starts here
    train_rows        integer     NOT NULL,
    validation_rows   integer     NOT NULL,
    auc               double precision NOT NULL,  -- out-of-time
    gini              double precision NOT NULL,
    ks                double precision NOT NULL,
    metrics           jsonb       NOT NULL,      -- train/validation AUC, calibration by band, baselines
    scorecard         jsonb       NOT NULL,      -- bins, points and training shares per characteristic
    status            text        NOT NULL CHECK (status IN ('champion', 'challenger', 'retired')),
    promoted_at       timestamptz,
    promoted_by       text,
    promotion_reason  text,
    retired_at        timestamptz,
    report_path       text
);
CREATE UNIQUE INDEX IF NOT EXISTS credit_models_one_champion ON public.credit_models (status)
    WHERE status = 'champion';

ALTER TABLE public.credit_scores
    ADD COLUMN IF NOT EXISTS probability_of_default numeric(7,6) CHECK (probability_of_default BETWEEN 0 AND 1),
    ADD COLUMN IF NOT EXISTS score_points     integer,
    ADD COLUMN IF NOT EXISTS risk_grade       text CHECK (risk_grade IN ('A', 'B', 'C', 'D', 'E', 'F')),
    ADD COLUMN IF NOT EXISTS reason_codes     text[],
    ADD COLUMN IF NOT EXISTS model_version    text;

-- The decisions of the scorecard policy (approve and decline join the seed's three).
ALTER TABLE public.credit_scores DROP CONSTRAINT IF EXISTS credit_scores_decision_check;
ALTER TABLE public.credit_scores ADD CONSTRAINT credit_scores_decision_check
    CHECK (decision IN ('instant_approval', 'approve', 'manual_review', 'decline', 'fraud_review'));

-- Population stability of each scored date against the champion's training sample: one row per
-- characteristic and one for score_points. A rerun of the date replaces its rows.
CREATE TABLE IF NOT EXISTS public.credit_model_monitoring (
    business_date   date        NOT NULL,
    model_version   text        NOT NULL,
    characteristic  text        NOT NULL,
    psi             double precision NOT NULL CHECK (psi >= 0),
    rows_scored     integer     NOT NULL,
    run_id          text        NOT NULL,
    computed_at     timestamptz NOT NULL,
    PRIMARY KEY (business_date, characteristic)
);
