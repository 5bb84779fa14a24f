-- Reporting layer for Power BI: bi_reader sees this schema and nothing else. Star schema with
-- friendly column names; the views run with their owner's rights, so bi_reader needs no grant on
-- the base tables.
CREATE SCHEMA IF NOT EXISTS bi;

CREATE OR REPLACE VIEW bi.fact_applications AS
SELECT c.application_id    AS "Application ID",
       c.user_id           AS "Customer ID",
       c."timestamp"       AS "Applied At",
       c.business_date     AS "Date",
       c.city              AS "City",
       c.credit_score      AS "Credit Score",
       c.loan_amount       AS "Loan Amount",
       c.annual_income     AS "Annual Income",
       c.loan_term_months  AS "Term (months)",
       c.loan_purpose      AS "Loan Purpose",
       c.employment_status AS "Employment",
       c.channel           AS "Channel",
       c.risk_level        AS "Risk Level",
       c.decision          AS "Decision",
       c.decision = 'instant_approval' AS "Instantly Approved",
       c.decision_reason   AS "Decision Reason",
       coalesce(c.fraud_alert, false) AS "Fraud Alert",
       c.fraud_alert_rules AS "Fraud Rules",
       c.is_fraud          AS "Is Fraud (label)",
       c.policy_id || ' v' || c.policy_version AS "Policy",
       c.decided_by        AS "Decided By",
       c.policy_exception  AS "Policy Exception",
       c.decided_at        AS "Decided At",
       c.scoring_run_id    AS "Scoring Run ID",
       -- the credit scorecard (empty before the first champion model)
       c.probability_of_default AS "Probability of Default",
       c.score_points      AS "Score Points",
       c.risk_grade        AS "Risk Grade",
       array_to_string(c.reason_codes, '; ') AS "Reason Codes",
       c.model_version     AS "Model Version",
       CASE WHEN c.decision IN ('instant_approval', 'approve') THEN 'Approved'
            WHEN c.decision = 'decline' THEN 'Declined'
            ELSE 'Referred' END AS "Outcome Group",
       o.defaulted         AS "Defaulted",
       o.observed_at       AS "Outcome Observed At"
FROM public.credit_scores c
LEFT JOIN public.loan_outcomes o USING (application_id);

CREATE OR REPLACE VIEW bi.fact_transactions AS
SELECT t.transaction_id    AS "Transaction ID",
       t.user_id           AS "Customer ID",
       t."timestamp"       AS "Transaction Time",
       t.business_date     AS "Date",
       t.location          AS "City",
       t.latitude          AS "Latitude",
       t.longitude         AS "Longitude",
       t.amount            AS "Amount",
       t.card_type         AS "Card Type",
       t.merchant          AS "Merchant",
       t.merchant_category AS "Merchant Category",
       t.credit_score      AS "Credit Score",
       t.risk_level        AS "Risk Level",
       t.is_fraud          AS "Is Fraud",
       CASE WHEN t.is_fraud THEN 'Fraud' ELSE 'Normal' END AS "Fraud Label",
       coalesce(t.fraud_alert, false) AS "Fraud Alert",
       t.fraud_alert_rules AS "Fraud Rules",
       t.device_id         AS "Device ID",
       -- the label as the bank learns it: the card holder's chargeback, days or weeks later
       cb.transaction_id IS NOT NULL AS "Charged Back",
       cb.reported_at      AS "Chargeback Reported At",
       cb.reason_code      AS "Chargeback Reason"
FROM public.processed_transactions t
LEFT JOIN public.chargebacks cb USING (transaction_id);

CREATE OR REPLACE VIEW bi.fraud_alerts AS
SELECT a.alert_id      AS "Alert ID",
       a.rule          AS "Rule",
       a.severity      AS "Severity",
       a.reason        AS "Reason",
       a.user_id       AS "Customer ID",
       a.event_type    AS "Event Type",
       a.event_id      AS "Event ID",
       a.event_time    AS "Event Time",
       a.detected_at   AS "Detected At",
       a.business_date AS "Date",
       coalesce(t.is_fraud, c.is_fraud) AS "Confirmed Fraud (label)",
       a.score         AS "Score",
       a.score_threshold AS "Score Threshold",
       a.model_version AS "Model Version",
       array_to_string(a.top_features, '; ') AS "Top Features"
FROM public.fraud_alerts a
LEFT JOIN public.processed_transactions t ON a.event_type = 'transaction' AND t.transaction_id = a.event_id
LEFT JOIN public.credit_scores c ON a.event_type = 'application' AND c.application_id = a.event_id;

CREATE OR REPLACE VIEW bi.dim_date AS
SELECT d::date                         AS "Date",
       extract(year FROM d)::int       AS "Year",
       extract(quarter FROM d)::int    AS "Quarter",
       extract(month FROM d)::int      AS "Month",
       to_char(d, 'YYYY-MM')           AS "Year-Month",
       to_char(d, 'Dy')                AS "Weekday",
       extract(isodow FROM d) IN (6, 7) AS "Weekend"
FROM generate_series(
        (SELECT least(min(business_date), current_date) FROM public.credit_scores),
        (SELECT greatest(max(business_date), current_date) FROM public.credit_scores),
        interval '1 day') AS d;

-- Regions: the cities seen in applications and transactions, with their coordinates (map visual).
CREATE OR REPLACE VIEW bi.dim_region AS
SELECT city AS "City", avg(latitude) AS "Latitude", avg(longitude) AS "Longitude",
       count(*) AS "Events"
FROM (SELECT city, latitude, longitude FROM public.credit_scores
      UNION ALL
      SELECT location, latitude, longitude FROM public.processed_transactions) e
WHERE city IS NOT NULL
GROUP BY city;

-- Lending: approved / declined / referred (manual or fraud review) rates by region (city) and by
-- risk grade, per business date.
CREATE OR REPLACE VIEW bi.decision_rates_by_region AS
SELECT business_date AS "Date", city AS "City", count(*) AS "Applications",
       count(*) FILTER (WHERE decision IN ('instant_approval', 'approve')) AS "Approved",
       count(*) FILTER (WHERE decision = 'decline') AS "Declined",
       count(*) FILTER (WHERE decision IN ('manual_review', 'fraud_review')) AS "Referred",
       round(avg((decision IN ('instant_approval', 'approve'))::int), 4) AS "Approval Rate",
       round(avg((decision = 'decline')::int), 4) AS "Decline Rate",
       round(avg((decision IN ('manual_review', 'fraud_review'))::int), 4) AS "Referral Rate"
FROM public.credit_scores
GROUP BY business_date, city;

CREATE OR REPLACE VIEW bi.decision_rates_by_grade AS
SELECT business_date AS "Date", coalesce(risk_grade, 'none') AS "Risk Grade", count(*) AS "Applications",
       count(*) FILTER (WHERE decision IN ('instant_approval', 'approve')) AS "Approved",
       count(*) FILTER (WHERE decision = 'decline') AS "Declined",
       count(*) FILTER (WHERE decision IN ('manual_review', 'fraud_review')) AS "Referred",
       round(avg((decision IN ('instant_approval', 'approve'))::int), 4) AS "Approval Rate",
       round(avg((decision = 'decline')::int), 4) AS "Decline Rate",
       round(avg(probability_of_default), 4) AS "Mean PD"
FROM public.credit_scores
GROUP BY business_date, risk_grade;

-- Bad rates by vintage (the month applied) and grade, once outcomes arrive: defaults among the
-- loans whose outcome is known, beside the mean PD the scorecard gave them.
CREATE OR REPLACE VIEW bi.bad_rates_by_vintage AS
SELECT to_char(c.business_date, 'YYYY-MM') AS "Vintage", coalesce(c.risk_grade, 'none') AS "Risk Grade",
       count(*) AS "Applications", count(o.application_id) AS "With Outcome",
       count(*) FILTER (WHERE o.defaulted) AS "Defaults",
       round(count(*) FILTER (WHERE o.defaulted)::numeric / nullif(count(o.application_id), 0), 4) AS "Bad Rate",
       round(avg(c.probability_of_default), 4) AS "Mean PD"
FROM public.credit_scores c
LEFT JOIN public.loan_outcomes o USING (application_id)
WHERE c.decision IN ('instant_approval', 'approve')
GROUP BY 1, 2;

-- Why applications were declined: one row per decline and reason code, most costly first.
CREATE OR REPLACE VIEW bi.decline_reasons AS
SELECT c.application_id AS "Application ID", c.business_date AS "Date", c.city AS "City",
       c.risk_grade AS "Risk Grade", r.reason AS "Reason", r.rank::int AS "Rank"
FROM public.credit_scores c
CROSS JOIN LATERAL unnest(c.reason_codes) WITH ORDINALITY AS r(reason, rank)
WHERE c.decision = 'decline';

-- The scorecards and how stable the scored population stays against each one's training sample.
CREATE OR REPLACE VIEW bi.credit_models AS
SELECT version AS "Model Version", status AS "Status", trained_at AS "Trained At", sample_from AS "Sample From",
       sample_to AS "Sample To", auc AS "AUC (out of time)", gini AS "Gini", ks AS "KS",
       train_rows AS "Train Rows", validation_rows AS "Validation Rows", promoted_at AS "Promoted At",
       promoted_by AS "Promoted By", promotion_reason AS "Promotion Reason"
FROM public.credit_models;

CREATE OR REPLACE VIEW bi.credit_model_stability AS
SELECT business_date AS "Date", model_version AS "Model Version", characteristic AS "Characteristic",
       psi AS "PSI", rows_scored AS "Applications Scored"
FROM public.credit_model_monitoring;

-- Governance: lineage and data quality, readable by analysts too.
CREATE OR REPLACE VIEW bi.lineage AS
SELECT job AS "Job", source AS "Source", target AS "Target", run_id AS "Run ID", started_at AS "Started",
       finished_at AS "Finished", rows_in AS "Rows In", rows_out AS "Rows Out", status AS "Status",
       error AS "Error", rows_rejected AS "Rows Rejected"
FROM public.metadata_table;

CREATE OR REPLACE VIEW bi.data_quality_issues AS
SELECT issue_id AS "Issue ID", "timestamp" AS "Reported At", data_date AS "Date", source AS "Source",
       table_name AS "Table", column_name AS "Column", rule AS "Check", severity AS "Severity",
       record_id AS "Record ID", issue AS "Issue", run_id AS "Run ID"
FROM public.data_quality_issues;

GRANT USAGE ON SCHEMA bi TO bi_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA bi TO bi_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA bi GRANT SELECT ON TABLES TO bi_reader;
