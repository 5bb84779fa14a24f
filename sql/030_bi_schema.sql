-- Reporting layer for Power BI: bi_reader sees this schema and nothing else.
CREATE SCHEMA IF NOT EXISTS bi;

GRANT USAGE ON SCHEMA bi TO bi_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA bi TO bi_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA bi GRANT SELECT ON TABLES TO bi_reader;
