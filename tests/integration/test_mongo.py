"""The MongoDB-protocol server stores documents; collections and indexes are set up idempotently."""

from __future__ import annotations

import uuid

import pytest
from pymongo import MongoClient

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
    migrate.ensure_mongo_collections(platform)
    migrate.ensure_mongo_collections(platform)
    with MongoClient(platform.mongo_uri, serverSelectionTimeoutMS=5000) as client:
        db = client[MONGO_DB]
        assert {"fraud_alerts", "policies"} <= set(db.list_collection_names())
        assert set(migrate.FRAUD_ALERT_INDEXES) <= set(db.fraud_alerts.index_information())
        policies = list(db.policies.find({"_id": names.LENDING_POLICY_ID}))
        assert len(policies) == 1
        assert policies[0]["thresholds"]["fraud_low_credit_score"] == 450
        assert policies[0]["exceptions"] == []
