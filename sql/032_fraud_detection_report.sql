-- Detection quality per business date (the nightly job's sync_fraud_alerts task, after the day's
-- alerts are complete): every alert on the day's events against the generator's labels, which no
-- rule ever reads. One row per rule, per pattern (fraud and benign look-alike) and the day's card
-- precision@100. A rerun of a date replaces its rows.
--   kind 'rule':    events of the rule's kind; alerted; on_fraud (true positives, any pattern);
--                   false_positives (of them on_lookalikes); labelled / caught: the rule's own pattern;
--                   precision, recall, per_1000_events
--   kind 'pattern': events (labelled); alerted (caught) by any rule; recall (fraud) or
--                   false_positive_rate (benign look-alike)
--   kind 'cards':   name card_precision@100; events: cards alerted; alerted: of them ranked (at most
--                   100); on_fraud / caught: fraudulent cards among them; labelled: fraudulent cards
--                   of the day; precision: card precision@100; best: what a perfect ranking gets
CREATE TABLE IF NOT EXISTS public.fraud_detection_report (
    business_date        date        NOT NULL,
    kind                 text        NOT NULL CHECK (kind IN ('rule', 'pattern', 'cards')),
    name                 text        NOT NULL,
    events               integer     NOT NULL CHECK (events >= 0),
    alerted              integer     NOT NULL CHECK (alerted >= 0),
    on_fraud             integer     NOT NULL CHECK (on_fraud >= 0),
    false_positives      integer     NOT NULL CHECK (false_positives >= 0),
    on_lookalikes        integer,
    labelled             integer     NOT NULL CHECK (labelled >= 0),
    caught               integer     NOT NULL CHECK (caught >= 0),
    precision            double precision,
    recall               double precision,
    per_1000_events      double precision,
    best                 double precision,
    false_positive_rate  double precision,
    created_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (business_date, kind, name)
);

CREATE OR REPLACE VIEW bi.fraud_detection AS
SELECT business_date AS "Date", kind AS "Kind", name AS "Rule or Pattern", events AS "Events",
       alerted AS "Alerted", on_fraud AS "On Fraud", false_positives AS "False Positives",
       on_lookalikes AS "On Look-alikes", labelled AS "Labelled", caught AS "Caught",
       precision AS "Precision", recall AS "Recall", per_1000_events AS "Alerts per 1,000 Events",
       best AS "Best Achievable", false_positive_rate AS "False-positive Rate"
FROM public.fraud_detection_report;

CREATE OR REPLACE VIEW bi.fraud_rule_backtests AS
SELECT run_id AS "Run ID", rule AS "Rule", date_from AS "From", date_to AS "To", proposal::text AS "Proposal",
       events AS "Events", live_alerts AS "Live Alerts", proposed_alerts AS "Proposed Alerts",
       precision AS "Precision", recall AS "Recall", created_at AS "Run At"
FROM public.fraud_rule_backtests;

GRANT SELECT ON bi.fraud_detection, bi.fraud_rule_backtests TO bi_reader;
