"""The fraud rules as governed data: every version in MongoDB `policies`, beside the lending policy,
and in the compacted Kafka topic `fraud_rules`, which the running fraud job reads as an event-time
versioned table (`rules.fraud.rules_ddl`).

A change (`credit-platform rules set`, the `fraud_rules` DAG) names the settings it changes
(`RULE.KEY=VALUE`), why (`reason`), who approved it (`approved_by`) and from which event time it
applies (`effective_from`, default now). It is checked (known setting, type, bounds, a real change,
a time not in the past nor before the version it follows), stored as the next version, then
published. Thresholds and on/off switches apply in the running job from `effective_from` on, with
no restart; a window's length applies when the job is next deployed (`fraud_job.ensure_running`
redeploys from a savepoint when the version in force has other windows than the running job).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from credit_platform.config import Settings
from credit_platform.contracts import names
from credit_platform.rules.fraud import (
    DEFAULT_FRAUD_RULES,
    SETTING_BY_NAME,
    SETTINGS,
    FraudRules,
    iso_millis,
    rules_from_document,
    rules_from_settings,
    rules_record,
    rules_to_document,
)
from credit_platform.rules.lending import LEGACY_FRAUD_THRESHOLDS

log = logging.getLogger(__name__)

SEED_EFFECTIVE_FROM = datetime(1970, 1, 1, tzinfo=UTC)  # the first version covers every event
# A live change applies to events from its effective time on; events already judged stay judged
# (`rules backtest` shows a change on past days). This much slack covers the clock of whoever types it.
PAST_SLACK = timedelta(minutes=5)
MAX_AHEAD = timedelta(days=366)
MAX_TEXT = 500


@dataclass(frozen=True)
class RulesVersion:
    version: int
    effective_from: datetime
    rules: FraudRules
    reason: str
    approved_by: str
    created_at: datetime
    changes: dict[str, list[object]] = field(default_factory=dict)  # RULE.KEY -> [before, after]
    published_at: datetime | None = None
    request_id: str | None = None  # who asked (an Airflow run id): a retried request finds its version

    @property
    def id(self) -> str:
        return f"{names.FRAUD_RULES_ID_PREFIX}{self.version}"

    def in_force(self) -> tuple[datetime, int, FraudRules]:
        """As `rules.fraud.reference_alerts` takes it."""
        return self.effective_from, self.version, self.rules

    def to_document(self) -> dict[str, object]:
        return {"_id": self.id, "name": self.id, "kind": "fraud_rules", "version": self.version,
                "effective_from": self.effective_from, "reason": self.reason, "approved_by": self.approved_by,
                "created_at": self.created_at, "rules": rules_to_document(self.rules),
                # a list: a MongoDB key may not hold the "." of RULE.KEY
                "changes": [{"setting": k, "before": a, "after": b} for k, (a, b) in self.changes.items()],
                "published_at": self.published_at, "request_id": self.request_id}

    @classmethod
    def from_document(cls, doc: dict) -> RulesVersion:
        return cls(version=int(doc["version"]), effective_from=_utc(doc["effective_from"]),
                   rules=rules_from_document(doc["rules"]), reason=doc["reason"], approved_by=doc["approved_by"],
                   created_at=_utc(doc["created_at"]),
                   changes={c["setting"]: [c["before"], c["after"]] for c in doc.get("changes") or []},
                   published_at=_utc(doc["published_at"]) if doc.get("published_at") else None,
                   request_id=doc.get("request_id"))


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _text(name: str, value: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ValueError(f"`{name}` is required: a change of the fraud rules is auditable")
    if len(value) > MAX_TEXT or any(ord(c) < 32 for c in value):
        raise ValueError(f"`{name}` must be at most {MAX_TEXT} characters, without control characters")
    return value


def propose(history: list[RulesVersion], changes: dict[str, object], reason: str, approved_by: str,
            effective_from: datetime | None = None, now: datetime | None = None) -> RulesVersion:
    """The next version: the latest one with `changes` (RULE.KEY -> value), checked. Raises ValueError
    saying what is wrong."""
    now = now or datetime.now(UTC)
    effective_from = _utc(effective_from) if effective_from else now
    reason, approved_by = _text("reason", reason), _text("approved_by", approved_by)
    if not changes:
        raise ValueError("no setting given: name at least one RULE.KEY=VALUE")
    latest = history[-1] if history else None
    base = latest.rules if latest else DEFAULT_FRAUD_RULES
    rules = rules_from_settings(changes, base)
    diff = {name: [_plain(getattr(base, s.field)), _plain(getattr(rules, s.field))]
            for name, s in SETTING_BY_NAME.items() if getattr(base, s.field) != getattr(rules, s.field)}
    if not diff:
        raise ValueError(f"nothing changes: version {latest.version if latest else 0} already has these settings")
    if effective_from < now - PAST_SLACK:
        raise ValueError(f"effective_from {iso_millis(effective_from)} is in the past: a live change cannot "
                         "re-judge events the stream has judged; backtest it on those days instead")
    if effective_from > now + MAX_AHEAD:
        raise ValueError(f"effective_from {iso_millis(effective_from)} is more than {MAX_AHEAD.days} days ahead")
    if latest and effective_from < latest.effective_from:
        raise ValueError(f"effective_from {iso_millis(effective_from)} is before version {latest.version}'s "
                         f"({iso_millis(latest.effective_from)}): versions take effect in order")
    return RulesVersion(version=(latest.version if latest else 0) + 1, effective_from=effective_from, rules=rules,
                        reason=reason, approved_by=approved_by, created_at=now, changes=diff)


def _plain(value: object) -> object:
    return value if isinstance(value, bool | int | float) else str(value)


def redeploy_settings(version: RulesVersion) -> list[str]:
    """The settings of this version's change that the running job takes only on a redeploy."""
    return [name for name in version.changes if not SETTING_BY_NAME[name].live]


class RulesStore:
    """The versions in MongoDB (`collection`) and their publication to Kafka (`topic`); tests give
    their own of both."""

    def __init__(self, settings: Settings, collection: str = names.POLICIES_COLLECTION,
                 topic: str = names.FRAUD_RULES_TOPIC) -> None:
        self.settings, self.collection_name, self.topic = settings, collection, topic

    def _collection(self):  # noqa: ANN202 (a pymongo collection, with its client)
        from pymongo import MongoClient

        client = MongoClient(self.settings.mongo_uri, serverSelectionTimeoutMS=10_000, tz_aware=True)
        return client, client[names.MONGO_DB][self.collection_name]

    def history(self) -> list[RulesVersion]:
        client, collection = self._collection()
        with client:
            docs = list(collection.find({"kind": "fraud_rules"}))
        return sorted((RulesVersion.from_document(d) for d in docs), key=lambda v: v.version)

    def in_force(self, at: datetime | None = None) -> RulesVersion | None:
        """The version events at `at` (default now) are judged by."""
        at = at or datetime.now(UTC)
        versions = [v for v in self.history() if v.effective_from <= at]
        return versions[-1] if versions else None

    def seed(self, legacy_policy: dict | None = None) -> bool:
        """Version 1 if there is none: the defaults, with the seed rule's thresholds the lending policy
        document held before the fraud rules were governed apart (`legacy_policy`'s thresholds)."""
        from pymongo.errors import DuplicateKeyError

        changes = {}
        for key, setting in LEGACY_FRAUD_THRESHOLDS.items():
            value = ((legacy_policy or {}).get("thresholds") or {}).get(key)
            if value is not None:
                changes[setting] = value
        rules = rules_from_settings(changes)
        first = RulesVersion(version=1, effective_from=SEED_EFFECTIVE_FROM, rules=rules,
                             reason="seed: the platform's default fraud rules" + (
                                 ", with the seed rule's thresholds of the lending policy" if changes else ""),
                             approved_by="platform", created_at=datetime.now(UTC))
        client, collection = self._collection()
        with client:
            try:
                collection.insert_one(first.to_document())
                return True
            except DuplicateKeyError:
                return False

    def change(self, changes: dict[str, object], reason: str, approved_by: str,
               effective_from: datetime | None = None, request_id: str | None = None) -> RulesVersion:
        """Check, store as the next version and publish. Raises ValueError if the change is refused.
        `request_id`: a retried request (same id) publishes the version it stored before, once."""
        from dataclasses import replace

        from pymongo.errors import DuplicateKeyError

        history = self.history()
        if request_id and (done := [v for v in history if v.request_id == request_id]):
            return self.publish(done)[0]
        version = replace(propose(history, changes, reason, approved_by, effective_from), request_id=request_id)
        client, collection = self._collection()
        with client:
            try:
                collection.insert_one(version.to_document())
            except DuplicateKeyError:
                raise ValueError(f"another change took version {version.version} meanwhile; look at "
                                 "`credit-platform rules history` and try again") from None
        return self.publish([version])[0]

    def publish(self, versions: list[RulesVersion] | None = None) -> list[RulesVersion]:
        """Send these versions (default: every stored one) to the topic, keyed by version, and wait
        for the broker's acknowledgement: idempotent, the topic keeps one record per version."""
        from kafka import KafkaProducer

        versions = self.history() if versions is None else versions
        if not versions:
            return []
        producer = KafkaProducer(**self.settings.kafka(names.KAFKA_GOVERNANCE), acks="all", retries=5,
                                 client_id="credit-platform-rules")
        try:
            for v in versions:
                record = {**rules_record(v.rules, v.version, v.effective_from), "reason": v.reason,
                          "approved_by": v.approved_by}
                producer.send(self.topic, key=v.id.encode(), value=json.dumps(record).encode())
            producer.flush(timeout=30)
        finally:
            producer.close(timeout=10)
        published = datetime.now(UTC)
        client, collection = self._collection()
        with client:
            collection.update_many({"_id": {"$in": [v.id for v in versions]}, "published_at": None},
                                   {"$set": {"published_at": published}})
        return [v if v.published_at else _published(v, published) for v in versions]


def _published(v: RulesVersion, at: datetime) -> RulesVersion:
    from dataclasses import replace

    return replace(v, published_at=at)


def render(versions: list[RulesVersion], now: datetime | None = None) -> str:
    """`rules show`: the version in force and every setting, marked live or redeploy; a later
    version waiting for its time is named."""
    now = now or datetime.now(UTC)
    current = [v for v in versions if v.effective_from <= now]
    version = current[-1] if current else None
    rules = version.rules if version else DEFAULT_FRAUD_RULES
    head = (f"fraud rules version {version.version}, in force since {iso_millis(version.effective_from)} "
            f"(approved by {version.approved_by}: {version.reason})" if version
            else "fraud rules: no version stored; the built-in defaults")
    lines = [head, f"  {'setting':<42} {'value':>12}  applies"]
    for s in SETTINGS:
        if not s.coefficient:
            lines.append(f"  {s.name:<42} {str(getattr(rules, s.field)):>12}  "
                         f"{'live' if s.live else 'on redeploy'}  {s.meaning}")
    coefficients = sum(1 for s in SETTINGS if s.coefficient)
    lines.append(f"  {'fraud_score.<coefficients>':<42} {coefficients:>12}  live  the model's intercept, and weight_, "
                 "mean_ and scale_ of each feature (published with the model)")
    for later in (v for v in versions if v.effective_from > now):
        lines.append(f"next: version {later.version} from {iso_millis(later.effective_from)}: "
                     + describe(later.changes))
    return "\n".join(lines)


def describe(changes: dict[str, list[object]]) -> str:
    """A version's changes in a line: each setting's before and after, a model's coefficients counted."""
    named = [f"{k} {a} -> {b}" for k, (a, b) in changes.items() if not SETTING_BY_NAME[k].coefficient]
    coefficients = len(changes) - len(named)
    return ", ".join(named + ([f"{coefficients} of the score's coefficients"] if coefficients else []))


def render_history(versions: list[RulesVersion]) -> str:
    lines = []
    for v in versions:
        what = describe(v.changes) or "(initial settings)"
        lines.append(f"v{v.version:<4} effective {iso_millis(v.effective_from)}  approved by {v.approved_by}  "
                     f"{'published' if v.published_at else 'NOT PUBLISHED'}\n       {what}\n       reason: {v.reason}")
    return "\n".join(lines) or "no versions stored"
