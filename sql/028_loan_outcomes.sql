-- One row per application whose loan outcome has been observed: defaulted within the performance
-- window, or repaid when it closed. business_date is the date the outcome was observed (the nightly
-- job loads each observed date like the other tables). true_pd is the generator's ground truth
-- (like is_fraud): for measuring models, never read by scoring.
CREATE TABLE IF NOT EXISTS public.loan_outcomes (
    application_id   text        PRIMARY KEY,
    defaulted        boolean     NOT NULL,
    observed_at      timestamptz NOT NULL,
    business_date    date        NOT NULL,
    true_pd          double precision CHECK (true_pd BETWEEN 0 AND 1),
    source_file      text,
    kafka_partition  integer,
    kafka_offset     bigint
);

CREATE INDEX IF NOT EXISTS loan_outcomes_business_date_idx ON public.loan_outcomes (business_date);
