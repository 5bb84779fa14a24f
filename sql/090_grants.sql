-- Table privileges, re-applied on every run so they never drift.
GRANT SELECT, INSERT, UPDATE, DELETE
    ON public.credit_scores, public.processed_transactions, public.data_quality_issues, public.metadata_table,
       public.fraud_alerts, public.loan_outcomes, public.chargebacks, public.credit_models, public.fraud_models,
       public.fraud_score_report,
       public.credit_model_monitoring, public.fraud_rule_backtests, public.fraud_detection_report
    TO etl_writer;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO etl_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO etl_writer;

REVOKE ALL ON ALL TABLES IN SCHEMA public FROM bi_reader;
REVOKE ALL ON SCHEMA public FROM bi_reader;
