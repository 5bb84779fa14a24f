"""Every name other parts of the platform (and people's reports and queries) rely on, defined once:
Kafka topics and consumer groups, databases, collections, database roles, job names and the
lending policy's id. Paths, ports and connection URIs are configuration (`credit_platform.config`).
"""

from __future__ import annotations

# ---- Kafka: the input topics (data contract), the dead-letter topic of each, consumer groups -----
APPLICATIONS_TOPIC = "credit_applications"
TRANSACTIONS_TOPIC = "transactions"
LOAN_OUTCOMES_TOPIC = "loan_outcomes"  # whether an application's loan was repaid, once its window closes
CHARGEBACKS_TOPIC = "chargebacks"  # a card holder disputed a transaction as fraud, days after it
INPUT_TOPICS = (APPLICATIONS_TOPIC, TRANSACTIONS_TOPIC, LOAN_OUTCOMES_TOPIC, CHARGEBACKS_TOPIC)
STREAM_TOPICS = (APPLICATIONS_TOPIC, TRANSACTIONS_TOPIC)  # what the fraud stream reads


def dlq_topic(topic: str) -> str:
    return f"{topic}.dlq"


# What the fraud stream cannot read or what breaks the contract there (written past the validating
# producer): one envelope per record, naming its input topic, partition and offset.
STREAM_DLQ_TOPIC = "fraud_stream.dlq"
# Events the fraud stream read after its event time had passed theirs (late for the windowed rules),
# one envelope each with the reason, the watermark and the record's topic, partition and offset. The
# nightly job re-judges each landed day with the same SQL, so their alerts are not lost.
STREAM_LATE_TOPIC = "fraud_stream.late"

# The governed fraud rules' versions, one record per version (key `fraud-rules:v<N>`), compacted: a
# republished version replaces itself and every version stays, so the stream can rebuild its
# versioned table from the topic alone. One partition keeps them in order.
FRAUD_RULES_TOPIC = "fraud_rules"

ALL_TOPICS = INPUT_TOPICS + tuple(dlq_topic(t) for t in INPUT_TOPICS) + (STREAM_DLQ_TOPIC, STREAM_LATE_TOPIC,
                                                                               FRAUD_RULES_TOPIC)

# Kafka users (SASL/SCRAM; the admin is the broker's own, PLAIN, static). Each may do only its part.
KAFKA_ADMIN = "admin"  # the broker itself, topic/user/ACL set-up, tests
KAFKA_PRODUCER = "producer"  # writes the input topics (and their DLQs)
KAFKA_STREAM = "fraud-stream"  # the fraud job: reads the input topics, writes STREAM_DLQ_TOPIC
KAFKA_LANDER = "lander"  # the landing: reads the input topics, writes their DLQs
KAFKA_MONITOR = "monitor"  # the lag exporter and the demo: describes topics and groups
KAFKA_GOVERNANCE = "governance"  # publishes the governed fraud rules' versions (FRAUD_RULES_TOPIC) only
KAFKA_USERS = (KAFKA_PRODUCER, KAFKA_STREAM, KAFKA_LANDER, KAFKA_MONITOR, KAFKA_GOVERNANCE)
PUSHGATEWAY_USER = "pusher"  # every job that pushes metrics, and Prometheus scraping them
ALERTMANAGER_USER = "alerting"  # Prometheus sending alerts to Alertmanager, and `credit-platform alerts` reading them

FRAUD_GROUP = "fraud-detection"  # the fraud job's source (offsets live in its checkpoints)
LANDING_GROUP = "credit-platform-landing"  # the lander commits its offsets only after the files are durable

# ---- databases, collections, roles -----------------------------------------------------------
WAREHOUSE_DB = "credit"
AIRFLOW_DB = "airflow"
MONGO_DB = "credit"
FRAUD_ALERTS_COLLECTION = "fraud_alerts"
POLICIES_COLLECTION = "policies"
LENDING_POLICY_ID = "lending-default"  # the governed policy document in `policies`
FRAUD_RULES_ID_PREFIX = "fraud-rules:v"  # the fraud rules' versions in `policies`: fraud-rules:v1, v2, ...

# The superuser only applies DDL; jobs write as etl_writer, Power BI reads as bi_reader, Airflow
# owns only its own metadata database.
ROLE_SUPERUSER = "postgres"
ROLE_ETL = "etl_writer"
ROLE_BI = "bi_reader"
ROLE_AIRFLOW = "airflow"
ROLE_SUPERSET = "superset"  # owns Superset's metadata database only; its dashboards read as bi_reader
SUPERSET_DB = "superset"
SUPERSET_ADMIN = "admin"  # Superset's login (password: superset_admin_password in the secrets file)
# The platform's MongoDB user (compose: a MongoDB user; locally: the PostgreSQL role FerretDB logs in
# as), allowed database `credit` only; FerretDB keeps its data in PostgreSQL database `ferretdb`.
ROLE_MONGO_APP = "credit_app"
FERRETDB_DB = "ferretdb"
AIRFLOW_ADMIN = "admin"  # the Airflow UI/REST user (SimpleAuthManager generates its password)

# ---- OS users the local servers and jobs run as when the platform is started by root ------------
OS_USER_POSTGRES = "postgres"  # initdb and postgres refuse root
OS_USER_FLINK = "credit-flink"  # the Flink JobManager and TaskManager, and the Python workers they start
OS_USER_SPARK = "credit-spark"  # the nightly Spark job

# ---- jobs (lineage `job`, Flink job name, Spark app) -----------------------------------------
FRAUD_JOB = "fraud_detection"
SCORING_JOB = "risk_scoring"
LANDING_JOB = "kafka_landing"
