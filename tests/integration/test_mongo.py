"""The MongoDB-protocol server stores documents; collections and indexes are set up idempotently;
only the platform's user gets in, and only to database `credit`."""

from __future__ import annotations

import uuid

import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from credit_platform.contracts import names
from credit_platform.contracts.names import MONGO_DB
from credit_platform.platform import migrate

pytestmark = pytest.mark.integration


def test_insert_upsert_find(platform):
    with MongoClient(platform.mongo_uri, serverSelectionTimeoutMS=5000) as client:
        alerts = client[MONGO_DB].fraud_alerts
        alert_id = f"test:{uuid.uuid4().hex}"
        try:
            alerts.insert_one({"_id": alert_id, "rule": "probe", "severity": "low"})
            for _ in range(2):  # an upsert replayed is still one document
                alerts.update_one({"_id": alert_id}, {"$set": {"severity": "high"}}, upsert=True)
            assert alerts.count_documents({"_id": alert_id}) == 1
            assert alerts.find_one({"_id": alert_id})["severity"] == "high"
        finally:
            alerts.delete_one({"_id": alert_id})


def test_collections_indexes_and_policy_seeded_idempotently(platform):
    """The lending policy and the fraud rules' first version are seeded once; a lending policy that
    still holds the seed fraud rule's thresholds hands them over to the fraud rules."""
    with MongoClient(platform.mongo_uri, serverSelectionTimeoutMS=5000) as client:
        db = client[MONGO_DB]
        seeded_before = db.policies.find_one({"_id": f"{names.FRAUD_RULES_ID_PREFIX}1"})
    migrate.ensure_mongo_collections(platform)
    migrate.ensure_mongo_collections(platform)
    with MongoClient(platform.mongo_uri, serverSelectionTimeoutMS=5000) as client:
        db = client[MONGO_DB]
        assert {"fraud_alerts", "policies"} <= set(db.list_collection_names())
        assert set(migrate.FRAUD_ALERT_INDEXES) <= set(db.fraud_alerts.index_information())
        policies = list(db.policies.find({"_id": names.LENDING_POLICY_ID}))
        assert len(policies) == 1
        assert "fraud_low_credit_score" not in policies[0]["thresholds"]
        assert policies[0]["exceptions"] == []
        rules = list(db.policies.find({"kind": "fraud_rules"}))
        assert [r["version"] for r in rules if r["version"] == 1] == [1]
        assert seeded_before is None or rules[0]["created_at"] == seeded_before["created_at"]
        assert rules[0]["rules"]["large_loan_low_score"]["credit_score_below"] == 450

    # an older state dir: the lending policy document still holds the seed rule's thresholds
    from credit_platform.rules.fraud_store import RulesStore

    legacy = {"_id": names.LENDING_POLICY_ID, "thresholds": {"fraud_large_loan_amount": 12000.0,
                                                             "fraud_low_credit_score": 520}}
    store = RulesStore(platform, collection="rules_legacy_test")
    try:
        assert store.seed(legacy) and not store.seed(legacy)
        (first,) = store.history()
        assert (first.version, first.rules.large_loan_amount, first.rules.low_credit_score) == (1, 12000, 520)
    finally:
        with MongoClient(platform.mongo_uri, serverSelectionTimeoutMS=5000) as client:
            client[MONGO_DB]["rules_legacy_test"].drop()


def _denied(connect, action) -> None:  # noqa: ANN001 - a client factory: no URI with a password in a traceback
    with connect() as client, pytest.raises(PyMongoError):
        action(client)


def test_nobody_gets_in_anonymously_or_with_a_wrong_password(platform):
    host = f"{platform.host}:{platform.ports['mongo']}"
    read_policy = lambda c: c[MONGO_DB].policies.find_one({"_id": names.LENDING_POLICY_ID})  # noqa: E731
    add_exception = lambda c: c[MONGO_DB].policies.update_one(  # noqa: E731
        {"_id": names.LENDING_POLICY_ID}, {"$push": {"exceptions": {"id": "attacker", "decision": "instant_approval"}}})
    for uri in (f"mongodb://{host}/", f"mongodb://{names.ROLE_MONGO_APP}:wrong@{host}/credit?authMechanism=PLAIN",
                f"mongodb://postgres:guess@{host}/credit?authMechanism=PLAIN"):
        connect = lambda uri=uri: MongoClient(uri, serverSelectionTimeoutMS=5000)  # noqa: E731
        _denied(connect, read_policy)
        _denied(connect, add_exception)
        _denied(connect, lambda c: c[MONGO_DB].fraud_alerts.delete_many({}))
    with MongoClient(platform.mongo_uri) as client:
        assert client[MONGO_DB].policies.find_one({"_id": names.LENDING_POLICY_ID})["exceptions"] == []


def test_the_platform_user_reaches_database_credit_only(platform):
    connect = lambda: MongoClient(platform.mongo_uri, serverSelectionTimeoutMS=5000)  # noqa: E731
    _denied(connect, lambda c: c["admin_probe"].things.insert_one({"x": 1}))
    _denied(connect, lambda c: c["admin"].command("createUser", "intruder", pwd="x", roles=[]))
    with connect() as client:
        assert client.list_database_names() == [MONGO_DB]
