-- Backtests of the fraud rules (`credit-platform rules backtest`, DAG backtest_fraud_rules): the
-- stream's rule SQL over landed days, under the live rule versions and under a proposed change,
-- one row per rule per run. Precision: the proposal's alerts on events labelled fraudulent; recall:
-- the rule's own injected pattern's events it alerts. A rerun of one run id replaces its rows.
CREATE TABLE IF NOT EXISTS public.fraud_rule_backtests (
    run_id                 text        NOT NULL,
    rule                   text        NOT NULL,
    date_from              date        NOT NULL,
    date_to                date        NOT NULL CHECK (date_to >= date_from),
    proposal               jsonb       NOT NULL,      -- RULE.KEY -> value ({}: the live versions alone)
    events                 integer     NOT NULL CHECK (events >= 0),
    live_alerts            integer     NOT NULL CHECK (live_alerts >= 0),
    proposed_alerts        integer     NOT NULL CHECK (proposed_alerts >= 0),
    proposed_fraud_alerts  integer     NOT NULL CHECK (proposed_fraud_alerts >= 0),
    pattern_events         integer     NOT NULL CHECK (pattern_events >= 0),
    pattern_caught         integer     NOT NULL CHECK (pattern_caught >= 0),
    precision              double precision,          -- null: no alert
    recall                 double precision,          -- null: no event of the pattern
    seconds                double precision NOT NULL,
    created_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, rule)
);
