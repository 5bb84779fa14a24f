"""Idempotent set-up of the stores: warehouse DDL and roles, Airflow's database, Kafka topics,
MongoDB collections and indexes. Every function may run any number of times."""

from __future__ import annotations

from pathlib import Path

from credit_platform.config import KAFKA_SECRET, REPO_ROOT, Settings
from credit_platform.contracts import names
from credit_platform.contracts.names import (
    AIRFLOW_DB,
    ALL_TOPICS,
    FERRETDB_DB,
    FRAUD_GROUP,
    FRAUD_RULES_TOPIC,
    INPUT_TOPICS,
    KAFKA_ADMIN,
    KAFKA_GOVERNANCE,
    KAFKA_LANDER,
    KAFKA_MONITOR,
    KAFKA_PRODUCER,
    KAFKA_STREAM,
    KAFKA_USERS,
    LANDING_GROUP,
    MONGO_DB,
    ROLE_AIRFLOW,
    ROLE_BI,
    ROLE_ETL,
    ROLE_MONGO_APP,
    ROLE_SUPERSET,
    ROLE_SUPERUSER,
    STREAM_DLQ_TOPIC,
    STREAM_LATE_TOPIC,
    STREAM_TOPICS,
    SUPERSET_DB,
    WAREHOUSE_DB,
    dlq_topic,
)
from credit_platform.errors import PlatformError
from credit_platform.rules.lending import DEFAULT_POLICY, LEGACY_FRAUD_THRESHOLDS

SQL_DIR = REPO_ROOT / "sql"
_DDL_LOCK = 7_001_002  # advisory lock id: two `up`s at once apply the DDL one after the other


def warehouse_sql_files() -> list[Path]:
    return sorted(SQL_DIR.glob("*.sql"))


def _create_database(settings: Settings, name: str, owner: str | None = None) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(settings.postgres_uri(ROLE_SUPERUSER, "postgres"), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return
        stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if owner:
            stmt = stmt + sql.SQL(" OWNER {}").format(sql.Identifier(owner))
        conn.execute(stmt)


def _set_login_password(conn, role: str, password: str) -> None:  # noqa: ANN001 (psycopg connection)
    from psycopg import sql

    conn.execute(
        sql.SQL(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {name}) THEN "
            "CREATE ROLE {role} LOGIN; END IF; END $$"
        ).format(name=sql.Literal(role), role=sql.Identifier(role))
    )
    conn.execute(sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))


def apply_warehouse(settings: Settings) -> list[str]:
    """Create database `credit`, apply sql/*.sql in order in one transaction, set role passwords."""
    import psycopg

    _create_database(settings, WAREHOUSE_DB)
    applied = []
    with psycopg.connect(settings.postgres_uri(ROLE_SUPERUSER, WAREHOUSE_DB)) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
        for path in warehouse_sql_files():
            conn.execute(path.read_text())
            applied.append(path.name)
        _set_login_password(conn, ROLE_ETL, settings.secrets["etl_writer_password"])
        _set_login_password(conn, ROLE_BI, settings.secrets["bi_reader_password"])
    return applied


def _ensure_own_database(settings: Settings, role: str, secret: str, database: str) -> None:
    """A component's metadata in its own database, owned by its own role, closed to everyone else."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(settings.postgres_uri(ROLE_SUPERUSER, "postgres"), autocommit=True) as conn:
        _set_login_password(conn, role, settings.secrets[secret])
    _create_database(settings, database, owner=role)
    with psycopg.connect(settings.postgres_uri(ROLE_SUPERUSER, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database)))


def ensure_airflow_database(settings: Settings) -> None:
    """Airflow's metadata lives in its own database, owned by its own role."""
    _ensure_own_database(settings, ROLE_AIRFLOW, "airflow_db_password", AIRFLOW_DB)


def ensure_superset_database(settings: Settings) -> None:
    """Superset's metadata (users, charts, dashboards) in its own database, owned by its own role."""
    _ensure_own_database(settings, ROLE_SUPERSET, "superset_db_password", SUPERSET_DB)


# No schema (MongoDB database) but `credit` may be created by anyone but a superuser.
_ONE_DOCUMENT_DATABASE = """
CREATE OR REPLACE FUNCTION public.only_the_credit_document_database() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE command record;
BEGIN
    FOR command IN SELECT * FROM pg_event_trigger_ddl_commands() WHERE command_tag = 'CREATE SCHEMA' LOOP
        IF command.object_identity <> {allowed}
           AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
            RAISE EXCEPTION 'MongoDB database % is not allowed: the platform keeps its documents in %',
                command.object_identity, {allowed} USING ERRCODE = 'insufficient_privilege';
        END IF;
    END LOOP;
END $$;
DROP EVENT TRIGGER IF EXISTS only_the_credit_document_database;
CREATE EVENT TRIGGER only_the_credit_document_database ON ddl_command_end WHEN TAG IN ('CREATE SCHEMA')
    EXECUTE FUNCTION public.only_the_credit_document_database();
"""


def ensure_document_store_database(settings: Settings) -> None:
    """The local FerretDB's storage: one PostgreSQL database whose schemas are MongoDB databases.
    FerretDB logs each client in as a PostgreSQL role (no anonymous access), and the platform's role
    owns schema `credit` alone: it reads and writes MongoDB database `credit` and can create no other."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(settings.postgres_uri(ROLE_SUPERUSER, "postgres"), autocommit=True) as conn:
        _set_login_password(conn, ROLE_MONGO_APP, settings.secrets["mongo_app_password"])
    _create_database(settings, FERRETDB_DB)
    with psycopg.connect(settings.postgres_uri(ROLE_SUPERUSER, "postgres"), autocommit=True) as conn:
        # FerretDB runs `CREATE SCHEMA IF NOT EXISTS` for every database it touches, which needs CREATE
        # on the database; the event trigger below is what keeps the role to schema `credit`
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {db} FROM PUBLIC; GRANT CONNECT, CREATE ON DATABASE {db} TO "
                             "{role}").format(db=sql.Identifier(FERRETDB_DB), role=sql.Identifier(ROLE_MONGO_APP)))
    with psycopg.connect(settings.postgres_uri(ROLE_SUPERUSER, FERRETDB_DB), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(
            sql.Identifier(MONGO_DB), sql.Identifier(ROLE_MONGO_APP)))
        conn.execute(sql.SQL(_ONE_DOCUMENT_DATABASE).format(allowed=sql.Literal(MONGO_DB)))


def ensure_kafka_topics(settings: Settings) -> list[str]:
    """Create the input topics and their dead-letter topics if missing; returns those created."""
    from kafka import KafkaAdminClient
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(**settings.kafka(KAFKA_ADMIN), client_id="credit-platform-setup",
                             request_timeout_ms=15000)
    try:
        missing = [t for t in ALL_TOPICS if t not in set(admin.list_topics())]
        if missing:
            try:
                admin.create_topics([_new_topic(settings, t) for t in missing])
            except TopicAlreadyExistsError:
                pass  # created concurrently by another `up`
        return missing
    finally:
        admin.close()


def _new_topic(settings: Settings, topic: str):  # noqa: ANN202 (a kafka-python NewTopic)
    from kafka.admin import NewTopic

    # on every node of a cluster, and an acks=all write on 2 of its 3 (the brokers' defaults say the same)
    durable = {"min.insync.replicas": str(settings.kafka_min_insync)}
    if topic == FRAUD_RULES_TOPIC:  # one partition, compacted: every version, in order (contracts.names)
        return NewTopic(topic, num_partitions=1, replication_factor=settings.kafka_replication,
                        topic_configs={**durable, "cleanup.policy": "compact"})
    return NewTopic(topic, num_partitions=settings.kafka_partitions, replication_factor=settings.kafka_replication,
                    topic_configs=durable)


def kafka_acls() -> list:
    """What each of the platform's Kafka users may do, and nothing more. Topics by prefix: an input
    topic's family (`credit_applications`, its `.dlq`, and topics a test or benchmark names after it),
    and the fraud stream's dead-letter topic's."""
    from kafka.admin import ACL, ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourcePattern, ResourceType

    def allow(user: str, kind: ResourceType, name: str, prefixed: bool, *operations: ACLOperation) -> list:
        pattern = ResourcePattern(kind, name, ACLResourcePatternType.PREFIXED if prefixed
                                  else ACLResourcePatternType.LITERAL)
        return [ACL(f"User:{user}", "*", op, ACLPermissionType.ALLOW, pattern) for op in operations]

    read, write, describe = ACLOperation.READ, ACLOperation.WRITE, ACLOperation.DESCRIBE
    acls = []
    for topic in INPUT_TOPICS:
        acls += allow(KAFKA_PRODUCER, ResourceType.TOPIC, topic, True, write, describe)
        if topic in STREAM_TOPICS:
            acls += allow(KAFKA_STREAM, ResourceType.TOPIC, topic, True, read, describe)
        acls += allow(KAFKA_LANDER, ResourceType.TOPIC, topic, False, read, describe)
        acls += allow(KAFKA_LANDER, ResourceType.TOPIC, dlq_topic(topic), False, write, describe)
        acls += allow(KAFKA_MONITOR, ResourceType.TOPIC, topic, True, describe)
    # the stream's dead letters (and those of tests' jobs, named after it)
    acls += allow(KAFKA_STREAM, ResourceType.TOPIC, STREAM_DLQ_TOPIC, True, write, describe)
    acls += allow(KAFKA_MONITOR, ResourceType.TOPIC, STREAM_DLQ_TOPIC, True, describe)
    acls += allow(KAFKA_STREAM, ResourceType.TOPIC, STREAM_LATE_TOPIC, True, write, describe)
    acls += allow(KAFKA_MONITOR, ResourceType.TOPIC, STREAM_LATE_TOPIC, True, describe)
    # the governed fraud rules: published by governance only, read by the stream
    acls += allow(KAFKA_GOVERNANCE, ResourceType.TOPIC, FRAUD_RULES_TOPIC, True, write, describe)
    acls += allow(KAFKA_STREAM, ResourceType.TOPIC, FRAUD_RULES_TOPIC, True, read, describe)
    acls += allow(KAFKA_MONITOR, ResourceType.TOPIC, FRAUD_RULES_TOPIC, True, describe)
    acls += allow(KAFKA_STREAM, ResourceType.GROUP, FRAUD_GROUP, True, read, describe)
    acls += allow(KAFKA_LANDER, ResourceType.GROUP, LANDING_GROUP, False, read, describe)
    acls += allow(KAFKA_MONITOR, ResourceType.GROUP, FRAUD_GROUP, True, describe)
    acls += allow(KAFKA_MONITOR, ResourceType.GROUP, LANDING_GROUP, False, describe)
    return acls


def ensure_kafka_users(settings: Settings) -> None:
    """The platform's SCRAM users with their current passwords, and their ACLs (both idempotent)."""
    from kafka import KafkaAdminClient
    from kafka.admin import ScramMechanism, UserScramCredentialUpsertion

    if not settings.kafka_sasl:
        return
    admin = KafkaAdminClient(**settings.kafka(KAFKA_ADMIN), client_id="credit-platform-setup",
                             request_timeout_ms=15000)
    try:
        failed = {user: error for user, error in admin.alter_user_scram_credentials([
            UserScramCredentialUpsertion(user, ScramMechanism.SCRAM_SHA_256, settings.secrets[KAFKA_SECRET[user]])
            for user in KAFKA_USERS]).items() if error}
        if failed:
            raise PlatformError(f"kafka: could not set the SCRAM credentials of {failed}")
        result = admin.create_acls(kafka_acls())
        if result.get("failed"):
            raise PlatformError(f"kafka: could not create ACLs: {result['failed']}")
    finally:
        admin.close()


FRAUD_ALERT_INDEXES = {
    "rule_detected_at": [("rule", 1), ("detected_at", -1)],
    "user_event_time": [("user_id", 1), ("event_time", -1)],
    "detected_at": [("detected_at", -1)],
}


def ensure_mongo_collections(settings: Settings) -> None:
    """`fraud_alerts` (deterministic _id per alert) and `policies`, with their indexes."""
    from pymongo import MongoClient
    from pymongo.errors import DuplicateKeyError

    with MongoClient(settings.mongo_uri, serverSelectionTimeoutMS=5000) as client:
        db = client[MONGO_DB]
        existing = set(db.list_collection_names())
        for name in (names.FRAUD_ALERTS_COLLECTION, names.POLICIES_COLLECTION):
            if name not in existing:
                db.create_collection(name)
        for name, keys in FRAUD_ALERT_INDEXES.items():
            db.fraud_alerts.create_index(keys, name=name)
        db.policies.create_index([("name", 1)], name="policy_name", unique=True)
        # Seed governance: the default lending policy; operators' later edits are kept.
        # (insert + duplicate key rather than $setOnInsert: FerretDB drops empty arrays there)
        try:
            db.policies.insert_one({"_id": names.LENDING_POLICY_ID, "name": names.LENDING_POLICY_ID,
                                    "thresholds": DEFAULT_POLICY.to_document(), "exceptions": [], "version": 1})
        except DuplicateKeyError:
            pass
        lending = db.policies.find_one({"_id": names.LENDING_POLICY_ID})
    # The fraud rules' first version; the seed rule's thresholds move there from a lending policy
    # document that still holds them (edited by operators before the fraud rules were governed apart).
    from credit_platform.rules.fraud_store import RulesStore

    RulesStore(settings).seed(lending)
    legacy = {f"thresholds.{k}": "" for k in LEGACY_FRAUD_THRESHOLDS if k in (lending or {}).get("thresholds", {})}
    if legacy:
        with MongoClient(settings.mongo_uri, serverSelectionTimeoutMS=5000) as client:
            client[MONGO_DB][names.POLICIES_COLLECTION].update_one({"_id": names.LENDING_POLICY_ID},
                                                                   {"$unset": legacy})
