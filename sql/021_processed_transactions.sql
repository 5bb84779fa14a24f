-- One row per card transaction after scoring; is_fraud is the generator's ground-truth label.
CREATE TABLE IF NOT EXISTS public.processed_transactions (
    transaction_id  text          PRIMARY KEY,
    user_id         text          NOT NULL,
    amount          numeric(14,2) NOT NULL CHECK (amount > 0),
    "timestamp"     timestamptz   NOT NULL,
    location        text,
    merchant        text,
    card_type       text          NOT NULL CHECK (card_type IN ('VISA', 'MASTERCARD', 'AMEX')),
    device_id       text,
    credit_score    integer       CHECK (credit_score BETWEEN 300 AND 850),
    risk_level      text          CHECK (risk_level IN ('Low', 'Medium', 'High')),
    is_fraud        boolean       NOT NULL
);

CREATE INDEX IF NOT EXISTS processed_transactions_user_id_idx   ON public.processed_transactions (user_id);
CREATE INDEX IF NOT EXISTS processed_transactions_timestamp_idx ON public.processed_transactions ("timestamp");
