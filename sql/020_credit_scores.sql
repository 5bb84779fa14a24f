-- One row per scored loan application (written by the nightly risk-scoring job).
CREATE TABLE IF NOT EXISTS public.credit_scores (
    application_id  text          PRIMARY KEY,
    user_id         text          NOT NULL,
    credit_score    integer       NOT NULL CHECK (credit_score BETWEEN 300 AND 850),
    loan_amount     numeric(14,2) NOT NULL CHECK (loan_amount > 0),
    risk_level      text          NOT NULL CHECK (risk_level IN ('Low', 'Medium', 'High')),
    "timestamp"     timestamptz   NOT NULL
);

CREATE INDEX IF NOT EXISTS credit_scores_user_id_idx   ON public.credit_scores (user_id);
CREATE INDEX IF NOT EXISTS credit_scores_timestamp_idx ON public.credit_scores ("timestamp");
