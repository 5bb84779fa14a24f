-- One row per transaction its card holder disputed as fraud, as the card network reported it days or
-- weeks after the purchase: the fraud labels a model may learn from (no stage reads is_fraud).
-- business_date is the date it was reported (the nightly job loads each reported date like the other
-- tables); its transaction need not be in the warehouse (it may predate the warehouse's history).
CREATE TABLE IF NOT EXISTS public.chargebacks (
    transaction_id   text          PRIMARY KEY,
    user_id          text          NOT NULL,
    merchant         text,
    amount           numeric(14,2) NOT NULL CHECK (amount > 0),
    reason_code      text          NOT NULL CHECK (reason_code IN ('fraud_card_absent', 'fraud_card_present')),
    reported_at      timestamptz   NOT NULL,
    business_date    date          NOT NULL,
    source_file      text,
    kafka_partition  integer,
    kafka_offset     bigint
);

CREATE INDEX IF NOT EXISTS chargebacks_business_date_idx ON public.chargebacks (business_date);
