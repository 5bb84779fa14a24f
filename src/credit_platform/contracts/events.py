"""Event contracts: one definition of each event, used by the producer's validation, the jobs and the
Great Expectations suites (through `field_constraints`).

Validation is strict: types must already be right (no "700" for 700), timestamps must carry a
time zone, unknown fields are refused (a misspelt field is a producer bug, not data to drop
silently), and every failure says which field broke which rule with which value.

It is also the platform's first defence against hostile input, and later stages apply the same
bounds: numbers are finite (no `Infinity`, `NaN` or `1e400`), every string has a maximum length and
no control characters (a NUL aborts PostgreSQL's COPY), a record is at most MAX_RECORD_BYTES (far
below the broker's message limit), and event time is at most EVENT_TIME_MAX_AHEAD past the clock
(one far-future event would carry the stream's watermark with it and switch its windows off).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic_core import PydanticCustomError

from credit_platform.contracts.names import (
    APPLICATIONS_TOPIC,
    CHARGEBACKS_TOPIC,
    LOAN_OUTCOMES_TOPIC,
    TRANSACTIONS_TOPIC,
)
from credit_platform.rules.lending import CARD_TYPES, RISK_LEVELS

SCHEMA_VERSION = 1

MAX_RECORD_BYTES = 64 * 1024  # one record, as sent; the broker's message.max.bytes is 1 MiB
MAX_TEXT = 128  # any free-text field (city, merchant, ...)
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"  # no NUL, no control characters


def _event_time_max_ahead() -> timedelta:
    raw = os.environ.get("CP_EVENT_TIME_MAX_AHEAD_SECONDS", "3600")
    try:
        return timedelta(seconds=float(raw))
    except ValueError:
        raise SystemExit(f"CP_EVENT_TIME_MAX_AHEAD_SECONDS={raw!r} is not a number of seconds") from None


EVENT_TIME_MAX_AHEAD = _event_time_max_ahead()


def _not_ahead_of_now(value: datetime) -> datetime:
    limit = datetime.now(UTC) + EVENT_TIME_MAX_AHEAD
    if value > limit:
        raise PydanticCustomError(
            "event_time_ahead", "event time {value} is later than now + {ahead} ({limit}); a clock or "
            "replay error (CP_EVENT_TIME_MAX_AHEAD_SECONDS sets the bound)",
            {"value": value.isoformat(), "ahead": str(EVENT_TIME_MAX_AHEAD),
             "limit": limit.isoformat(timespec="seconds")})
    return value


Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=PRINTABLE)]
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT, pattern=PRINTABLE)]
CreditScore = Annotated[int, Field(ge=300, le=850)]
Money = Annotated[float, Field(gt=0, le=10_000_000, allow_inf_nan=False)]
Income = Annotated[float, Field(ge=0, le=100_000_000, allow_inf_nan=False)]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
EventTime = Annotated[AwareDatetime, AfterValidator(_not_ahead_of_now)]

LOAN_PURPOSES = ("debt_consolidation", "home_improvement", "car", "education", "medical", "business", "other")
EMPLOYMENT = ("employed", "self_employed", "unemployed", "retired", "student")
CHANNELS = ("web", "mobile", "branch", "partner")
LOAN_TERMS = (12, 24, 36, 48, 60)
# why a card holder disputed a transaction as fraud: bought where the card was not present (online,
# by phone) or where it was (a copied or stolen card); the networks' fraud reason codes, simplified
CHARGEBACK_REASONS = ("fraud_card_absent", "fraud_card_present")


class _Event(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    # Ground truth from the generator (what a bank learns later, e.g. from chargebacks). Kept for
    # measuring detection; the fraud job never reads these two fields.
    is_fraud: bool = False
    fraud_pattern: Text | None = None


class LoanApplication(_Event):
    application_id: Id
    user_id: Id
    credit_score: CreditScore
    loan_amount: Money
    timestamp: EventTime
    annual_income: Income
    loan_term_months: Literal[LOAN_TERMS]  # Literal[tuple] means "one of the tuple's members"
    loan_purpose: Literal[LOAN_PURPOSES]
    employment_status: Literal[EMPLOYMENT]
    channel: Literal[CHANNELS]
    device_id: Id
    city: Text
    latitude: Latitude
    longitude: Longitude


class Transaction(_Event):
    transaction_id: Id
    user_id: Id
    amount: Money
    timestamp: EventTime
    location: Text
    latitude: Latitude
    longitude: Longitude
    merchant: Text
    merchant_category: Text
    card_type: Literal[CARD_TYPES]
    device_id: Id
    credit_score: CreditScore
    risk_level: Literal[RISK_LEVELS]


class LoanOutcome(BaseModel):
    """How an application's loan performed, observed when its performance window closed (or when it
    defaulted, earlier). Keyed by the application; one outcome per application."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    application_id: Id
    defaulted: bool
    observed_at: EventTime
    # Ground truth from the generator: the probability of default it drew `defaulted` from. For
    # measuring models against the best achievable; no scoring step reads it.
    true_pd: Probability | None = None


class Chargeback(BaseModel):
    """A card holder's dispute of a transaction as fraud, as the card network reports it to the bank,
    days or weeks after the purchase: the only fraud label the platform learns from (no stage reads a
    transaction's `is_fraud`). Keyed by the transaction; one chargeback per transaction."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    transaction_id: Id
    user_id: Id
    merchant: Text  # whom the dispute is against (a merchant's chargebacks are a fraud signal)
    amount: Money  # the disputed amount
    reason_code: Literal[CHARGEBACK_REASONS]
    reported_at: EventTime


@dataclass(frozen=True)
class TopicContract:
    topic: str
    kind: str  # what `credit-platform generate` calls these events (scenario.KINDS)
    model: type[BaseModel]
    id_field: str
    key_field: str = "user_id"
    time_field: str = "timestamp"  # the event time (landing dates each record by it)


CONTRACTS: dict[str, TopicContract] = {
    APPLICATIONS_TOPIC: TopicContract(APPLICATIONS_TOPIC, "applications", LoanApplication, "application_id"),
    TRANSACTIONS_TOPIC: TopicContract(TRANSACTIONS_TOPIC, "transactions", Transaction, "transaction_id"),
    LOAN_OUTCOMES_TOPIC: TopicContract(LOAN_OUTCOMES_TOPIC, "outcomes", LoanOutcome, "application_id",
                                       key_field="application_id", time_field="observed_at"),
    CHARGEBACKS_TOPIC: TopicContract(CHARGEBACKS_TOPIC, "chargebacks", Chargeback, "transaction_id",
                                     key_field="transaction_id", time_field="reported_at"),
}


def contract_for(topic: str) -> TopicContract:
    try:
        return CONTRACTS[topic]
    except KeyError:
        raise ValueError(f"unknown topic {topic!r}: events are accepted for {', '.join(CONTRACTS)} only") from None


@dataclass(frozen=True)
class Problem:
    """One reason a record was refused, in the shape `data_quality_issues` stores."""

    column: str | None
    rule: str
    message: str
    observed: str | None


READABLE = {  # pydantic's wording where it would not tell a person what is wrong
    "string_pattern_mismatch": "contains a control character (NUL, tab, newline, ...); only printable text is "
                               "accepted",
    "finite_number": "must be a finite number (not Infinity, NaN or out of range like 1e400)",
}


def problems_of(error: ValidationError) -> list[Problem]:
    found = []
    for item in error.errors(include_url=False):
        column = ".".join(str(p) for p in item["loc"]) or None
        observed = None if item["type"] in ("missing", "json_invalid") else _short(item.get("input"))
        text = READABLE.get(item["type"], item["msg"])
        message = text if column is None else f"{column}: {text}"
        if observed is not None:
            message += f" (got {item.get('input')!r})"[:260]
        found.append(Problem(column, item["type"], message, observed))
    return found


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---- the contract as plain data, for the jobs that cannot run pydantic per row (polars landing,
# Spark validation, Great Expectations suites) -------------------------------------------------
@dataclass(frozen=True)
class FieldRule:
    name: str
    type: str  # "string" | "int" | "float" | "bool" | "timestamp"
    required: bool  # the record is refused without it (null or missing)
    minimum: float | None = None
    maximum: float | None = None
    strict_minimum: bool = False  # `> minimum` rather than `>=`
    allowed: tuple[object, ...] | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None  # a regular expression the whole value must match (strings)
    finite: bool = False  # no Infinity or NaN (floats)


def _base_type(annotation: Any) -> tuple[str, tuple[object, ...] | None, bool]:
    """(type name, allowed values, nullable) of a field annotation."""
    args = get_args(annotation)
    if get_origin(annotation) is Literal:
        first = args[0]
        kind = "bool" if isinstance(first, bool) else "int" if isinstance(first, int) else "string"
        return kind, tuple(args), False
    if type(None) in args:  # `X | None`
        inner = next(a for a in args if a is not type(None))
        kind, allowed, _ = _base_type(inner)
        return kind, allowed, True
    if get_origin(annotation) is Annotated:  # e.g. `Text | None` (its bounds: `_inner_metadata`)
        return _base_type(args[0])
    if annotation is AwareDatetime:
        return "timestamp", None, False
    names = {str: "string", int: "int", float: "float", bool: "bool"}
    return names[annotation], None, False


def _inner_metadata(annotation: Any) -> tuple[Any, ...]:
    """The bounds of an optional field (`Text | None`): pydantic keeps them on the inner type, not
    on the field."""
    return tuple(meta for arg in get_args(annotation) if get_origin(arg) is Annotated
                 for meta in get_args(arg)[1:] for meta in getattr(meta, "metadata", None) or (meta,))


def field_rules(model: type[BaseModel]) -> tuple[FieldRule, ...]:
    rules = []
    for name, info in model.model_fields.items():
        kind, allowed, nullable = _base_type(info.annotation)
        bounds: dict[str, Any] = {}
        for meta in (*info.metadata, *_inner_metadata(info.annotation)):
            if hasattr(meta, "ge"):
                bounds["minimum"] = meta.ge
            if hasattr(meta, "gt"):
                bounds.update(minimum=meta.gt, strict_minimum=True)
            if hasattr(meta, "le"):
                bounds["maximum"] = meta.le
            for length in ("min_length", "max_length", "pattern"):
                if getattr(meta, length, None) is not None:
                    bounds[length] = getattr(meta, length)
            if getattr(meta, "allow_inf_nan", None) is False:
                bounds["finite"] = True
        rules.append(FieldRule(name, kind, info.is_required() and not nullable, allowed=allowed, **bounds))
    return tuple(rules)


def contract_json(topic: str, fields: Iterable[str]) -> str:
    """The rules of these fields of the topic's contract as JSON, for the stream's `contract-json` Flink
    format (deps/flink), which checks each event against them in the source:
    {"max_record_bytes": …, "fields": [FieldRule, …]}."""
    import json
    from dataclasses import asdict

    wanted = set(fields)
    return json.dumps({"max_record_bytes": MAX_RECORD_BYTES,
                       "fields": [asdict(r) for r in field_rules(contract_for(topic).model) if r.name in wanted]})


# ---- the contract compiled for the producer's hot loop -------------------------------------------
class Screen:
    """A compiled check of one topic's contract (msgspec, built from `field_rules`) that costs about
    a third of pydantic's (bench/producer_bench.py): it only ever *accepts*. A record it accepts,
    pydantic accepts too, with the same id and key (tests/unit/test_screen.py compares the two on
    generated records with each field set to hostile values); anything else, from a stray escape to
    a broken rule, goes to pydantic, which decides and words the reasons. One set of rules, one
    wording.

    Two shortcuts keep it cheap, each sound only for what it skips:
    - `PRINTABLE` (no control characters) is not matched per string: JSON allows a control character
      in a string only as an escape, so a record without a backslash (and without DEL, the one
      control character JSON lets through raw) has none; a record with either goes to pydantic.
    - event time is compared with a limit taken when the screen was last `refresh`ed, which is
      never later than pydantic's own `now + EVENT_TIME_MAX_AHEAD`: stricter, never looser."""

    def __init__(self, contract: TopicContract) -> None:
        import msgspec

        self.contract = contract
        self._decode = msgspec.json.Decoder(_struct(contract.model)).decode
        self._limit = datetime.now(UTC)
        self.refresh()

    def refresh(self) -> None:
        self._limit = datetime.now(UTC) + EVENT_TIME_MAX_AHEAD

    def __call__(self, raw: bytes) -> tuple[str, str] | None:
        """(event id, key) of a record the contract accepts, or None: ask pydantic."""
        if b"\\" in raw or b"\x7f" in raw:
            return None
        try:
            event = self._decode(raw)
        except Exception:  # noqa: BLE001 - malformed JSON, bad UTF-8, a broken rule: pydantic decides
            return None
        contract = self.contract
        if getattr(event, contract.time_field) > self._limit:
            return None
        return getattr(event, contract.id_field), getattr(event, contract.key_field)


def _struct(model: type[BaseModel]) -> type:
    """A msgspec Struct with the model's fields and bounds (strict types, unknown fields refused,
    time zones required); PRINTABLE is left to `Screen`'s byte check."""
    import msgspec

    types = {"string": str, "int": int, "float": float, "bool": bool, "timestamp": datetime}
    fields: list[tuple[Any, ...]] = []
    for rule in field_rules(model):
        if rule.allowed is not None:
            kind: Any = Literal[rule.allowed]
        else:
            meta: dict[str, Any] = {"tz": True} if rule.type == "timestamp" else {}
            if rule.minimum is not None:
                meta["gt" if rule.strict_minimum else "ge"] = rule.minimum
            if rule.maximum is not None:
                meta["le"] = rule.maximum
            if rule.min_length is not None:
                meta["min_length"] = rule.min_length
            if rule.max_length is not None:
                meta["max_length"] = rule.max_length
            if rule.pattern is not None and rule.pattern != PRINTABLE:
                meta["pattern"] = rule.pattern
            kind = Annotated[types[rule.type], msgspec.Meta(**meta)] if meta else types[rule.type]
        info = model.model_fields[rule.name]
        if _base_type(info.annotation)[2]:  # `X | None`
            kind = kind | None
        fields.append((rule.name, kind) if info.is_required() else (rule.name, kind, info.default))
    return msgspec.defstruct(f"{model.__name__}Screen", fields, kw_only=True, forbid_unknown_fields=True)
