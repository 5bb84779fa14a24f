-- The learned fraud score: every trained model (a logistic regression on the platform's standardized
-- features), trained on the chargebacks reported by its cut-off and judged per validation day.
-- Exactly one row may be the champion; a challenger is promoted only when the mean average precision
-- of the rules then its score on the validation days is no worse than with the champion's on the
-- same days (or by a person, with a reason). `model` holds what the SQL score needs: features,
-- means, scales, weights, intercept, the alert threshold and the features' definition it was
-- trained on (model/fraud_score.py: FraudModel).
CREATE TABLE IF NOT EXISTS public.fraud_models (
    version                 text        PRIMARY KEY,
    trained_at              timestamptz NOT NULL,
    training_run_id         text        NOT NULL,
    algorithm               text        NOT NULL,
    as_of                   date        NOT NULL,      -- what was known then
    train_from              date        NOT NULL,      -- purchases from this date ...
    train_to                date        NOT NULL,      -- ... to this one (inclusive)
    labels_reported_by      date        NOT NULL,      -- training labels: chargebacks reported before this day
    validation_from         date        NOT NULL,
    validation_to           date        NOT NULL,      -- inclusive; labels reported before as_of
    train_rows              integer     NOT NULL,
    train_chargebacks       integer     NOT NULL,
    validation_rows         integer     NOT NULL,
    validation_chargebacks  integer     NOT NULL,
    auc                     double precision NOT NULL,  -- means over the validation days
    average_precision       double precision NOT NULL,
    card_precision_at_100   double precision NOT NULL,
    metrics                 jsonb       NOT NULL,      -- per day, the champion's on the same days, coefficients
    model                   jsonb       NOT NULL,
    status                  text        NOT NULL CHECK (status IN ('champion', 'challenger', 'retired')),
    promoted_at             timestamptz,
    promotion_reason        text,
    retired_at              timestamptz
);
-- How the training purchases weighed (fraud_training.trained_on: 'purchases a rule alerts weighted
-- 0.02' by default, 'all purchases alike', 'purchases no rule alerts'; a model of before was fitted
-- to all purchases alike), and its validation means as the job serves it: every rule alert, then
-- the score. Promotion compares served_average_precision. (Added in place: a warehouse of before
-- upgrades.)
ALTER TABLE public.fraud_models ADD COLUMN IF NOT EXISTS trained_on text NOT NULL DEFAULT 'all purchases alike';
ALTER TABLE public.fraud_models ALTER COLUMN trained_on SET DEFAULT 'all purchases alike';
UPDATE public.fraud_models SET trained_on = 'all purchases alike' WHERE trained_on = 'all purchases';
ALTER TABLE public.fraud_models ADD COLUMN IF NOT EXISTS served_auc double precision;
ALTER TABLE public.fraud_models ADD COLUMN IF NOT EXISTS served_average_precision double precision;
ALTER TABLE public.fraud_models ADD COLUMN IF NOT EXISTS served_card_precision_at_100 double precision;
CREATE UNIQUE INDEX IF NOT EXISTS fraud_models_one_champion ON public.fraud_models (status)
    WHERE status = 'champion';

-- For analysts (bi_reader sees schema bi only): each model, its windows and its validation means
-- (of the score alone; "With the Rules": of the rules' alerts then the score, as the job serves it).
CREATE OR REPLACE VIEW bi.fraud_models AS
SELECT version                AS "Model Version",
       status                 AS "Status",
       trained_at             AS "Trained At",
       as_of                  AS "As Of",
       train_from             AS "Training From",
       train_to               AS "Training To",
       labels_reported_by     AS "Training Labels Reported By",
       validation_from        AS "Validation From",
       validation_to          AS "Validation To",
       train_rows             AS "Training Purchases",
       train_chargebacks      AS "Training Chargebacks",
       validation_rows        AS "Validation Purchases",
       auc                    AS "AUC",
       average_precision      AS "Average Precision",
       card_precision_at_100  AS "Card Precision@100",
       promoted_at            AS "Promoted At",
       promotion_reason       AS "Promotion Reason",
       trained_on             AS "Trained On",
       served_auc             AS "With the Rules: AUC",
       served_average_precision AS "With the Rules: Average Precision",
       served_card_precision_at_100 AS "With the Rules: Card Precision@100"
FROM public.fraud_models;
GRANT SELECT ON bi.fraud_models TO bi_reader;

-- Each model beside the rules on its validation days: alerts, and purchases caught that were charged
-- back by the model's as-of, for the rules alone (the stream's rule SQL under the live versions),
-- the model alone (its score at or above its threshold) and both (either alerts); per day and per
-- scenario (the generator's pattern; `none`: purchases of no pattern). A rerun replaces its rows.
CREATE TABLE IF NOT EXISTS public.fraud_score_report (
    model_version  text    NOT NULL REFERENCES public.fraud_models (version) ON DELETE CASCADE,
    scope          text    NOT NULL CHECK (scope IN ('day', 'scenario')),
    name           text    NOT NULL,
    purchases      integer NOT NULL,
    chargebacks    integer NOT NULL,
    rules_alerts   integer NOT NULL,
    rules_caught   integer NOT NULL,
    model_alerts   integer NOT NULL,
    model_caught   integer NOT NULL,
    both_alerts    integer NOT NULL,
    both_caught    integer NOT NULL,
    PRIMARY KEY (model_version, scope, name)
);

CREATE OR REPLACE VIEW bi.fraud_score_report AS
SELECT model_version AS "Model Version", scope AS "Scope", name AS "Day or Scenario", purchases AS "Purchases",
       chargebacks AS "Charged Back", rules_alerts AS "Rules: Alerts", rules_caught AS "Rules: Caught",
       model_alerts AS "Model: Alerts", model_caught AS "Model: Caught", both_alerts AS "Both: Alerts",
       both_caught AS "Both: Caught"
FROM public.fraud_score_report;
GRANT SELECT ON bi.fraud_score_report TO bi_reader;
