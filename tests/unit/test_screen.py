"""The producer's compiled screen never accepts what the contract refuses.

`Screen` only accepts; whatever it does not accept goes to pydantic, which decides and words the
reasons. So the one property that matters is: a record the screen accepts, pydantic accepts, with
the same event id and key. It is checked here against pydantic itself on every field of every topic,
with hostile values an attacker or a broken producer would send, and on generated records (which the
screen must accept, or it saves nothing).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from pydantic import ValidationError

from credit_platform.contracts.events import CONTRACTS, EVENT_TIME_MAX_AHEAD, Screen
from credit_platform.ingest import generator
from credit_platform.ingest.scenario import GeneratorConfig

_SOON = datetime.now(UTC) + EVENT_TIME_MAX_AHEAD
HOSTILE: list[bytes] = [
    # strings: bounds, escapes, control characters, bad UTF-8, other types
    b'""', b'"' + b"a" * 64 + b'"', b'"' + b"a" * 65 + b'"', b'"' + b"a" * 128 + b'"', b'"' + b"a" * 129 + b'"',
    b'"' + "Zürich".encode() + b'"', b'"' + "é".encode() * 128 + b'"', b'"' + "é".encode() * 129 + b'"',
    b'"a\\u0000b"', b'"a\\nb"', b'"a\\tb"', b'"a\x7fb"', b'"a\\u007fb"', b'"\\ud800"', b'"\\u00e9"', b'"\\"q\\""',
    b'"a\x00b"', b'"a\x1fb"', b'"a\xffb"', b'"a\xc3"', b'"\xed\xa0\x80"', b'"a\x85b"',
    b'"VISA"', b'"visa"', b'"VISA "', b'"LOW"', b'"car"', b'"web"', b'"employed"',
    # numbers: bounds, non-finite, types, sizes
    b"0", b"-0.0", b"1", b"12", b"36", b"36.0", b"299", b"300", b"850", b"851", b"850.0", b"300.5", b"-90", b"90.0",
    b"90.0000001", b"-180", b"180.0001", b"1e400", b"-1e400", b"Infinity", b"-Infinity", b"NaN", b"1e308",
    b"10000000", b"10000000.0001", b"100000000", b"100000001", b"99999999999999999999999", b"7e2", b"0.5",
    b"1E2", b"01", b"+1", b".5", b"1.", b"0x10", b'"700"', b'"1.5"',
    # booleans, null, containers
    b"true", b"false", b"null", b"[]", b"{}", b'["a"]', b'{"a":1}',
    # timestamps: forms pydantic and RFC 3339 may read differently, and the event-time bound
    b'"2026-01-01T00:00:00Z"', b'"2026-01-01T00:00:00"', b'"2026-01-01 00:00:00Z"', b'"2026-01-01t00:00:00z"',
    b'"2026-01-01T00:00:00.123456Z"', b'"2026-01-01T00:00:00.1234567Z"', b'"2026-01-01T00:00:00.123456789123Z"',
    b'"2026-01-01T00:00:60Z"', b'"2026-01-01T23:59:60Z"', b'"2026-01-01T24:00:00Z"', b'"2026-02-30T00:00:00Z"',
    b'"0001-01-01T00:00:00Z"', b'"0000-01-01T00:00:00Z"', b'"9999-12-31T23:59:59Z"', b'"10000-01-01T00:00:00Z"',
    b'"2026-01-01T00:00:00+25:00"', b'"2026-01-01T00:00:00+23:59"', b'"2026-01-01T00:00:00+01"',
    b'"2026-01-01T00:00:00+0100"', b'"2026-01-01T00:00:00-00:00"', b'"2026-01-01T00:00:00+00:60"',
    b'"20260101T000000Z"', b'"2026-01-01T00:00Z"', b'"2026-01-01T00Z"', b'"2026-01-01"', b'"2026-W01"',
    b'" 2026-01-01T00:00:00Z"', b'"2026-01-01T00:00:00Z "', b'"1767225600"', b"1767225600", b"1767225600.5",
    b'"2026-01-01T00:00:00,5Z"', b'"+002026-01-01T00:00:00Z"', b'"-2026-01-01T00:00:00Z"',
    b'"' + (_SOON - timedelta(minutes=1)).isoformat().encode() + b'"',
    b'"' + (_SOON + timedelta(minutes=1)).isoformat().encode() + b'"',
    b'"' + (_SOON + timedelta(seconds=2)).isoformat().encode() + b'"',
]


def _records() -> dict[str, list[bytes]]:
    config = GeneratorConfig(seed=3, fraud_share=0.05)
    return {topic: generator.to_json_lines(generator.generate(contract.kind, 3_000, config)).splitlines()
            for topic, contract in CONTRACTS.items()}


RECORDS = _records()


def _replace(record: bytes, field: str, value: bytes) -> bytes:
    """The record with `field`'s JSON value swapped for `value`, the rest byte for byte."""
    start = record.index(b'"' + field.encode() + b'":') + len(field) + 3
    depth, i, in_string = 0, start, False
    while True:  # the end of the old value: the next top-level comma or closing brace
        c = record[i:i + 1]
        if in_string:
            in_string = not (c == b'"' and record[i - 1:i] != b"\\")
        elif c == b'"':
            in_string = True
        elif c in (b"[", b"{"):
            depth += 1
        elif c in (b"]", b"}") and depth:
            depth -= 1
        elif c in (b",", b"}") and not depth:
            break
        i += 1
    return record[:start] + value + record[i:]


def _mutants(topic: str) -> list[bytes]:
    base = [r for r in RECORDS[topic] if b'"fraud_pattern":null' not in r][:1] + RECORDS[topic][:1]
    out: list[bytes] = []
    for record in base:
        fields = list(orjson.loads(record))
        for field in fields:
            out += [_replace(record, field, value) for value in HOSTILE]
            out.append(record.replace(b'"' + field.encode() + b'":', b'"' + field.encode() + b'_x":'))  # misspelt
            out.append(record[:-1] + b',"' + field.encode() + b'":' + b'"\\u0000"}')  # repeated, bad last
            out.append(b'{"' + field.encode() + b'":"\\u0000",' + record[1:])  # repeated, bad first
            out.append(_drop(record, field))
        out += [record + b" ", b" " + record, record + b"x", record[:-1] + b",}", record[:-1] + b',"extra":1}',
                b"\xef\xbb\xbf" + record, record[:-1], b"[" + record + b"]", record.replace(b":", b" : "),
                record.replace(b",", b",\n"), record.replace(b",", b",\x00"), record + b"\n" + record]
    return out


def _drop(record: bytes, field: str) -> bytes:
    data = orjson.loads(record)
    del data[field]
    return orjson.dumps(data)


@pytest.mark.parametrize("topic", list(CONTRACTS))
def test_what_the_screen_accepts_the_contract_accepts_with_the_same_id_and_key(topic):
    contract = CONTRACTS[topic]
    screen = Screen(contract)
    accepted = refused = 0
    for raw in _mutants(topic):
        found = screen(raw)
        if found is None:
            refused += 1
            continue
        accepted += 1
        try:
            event = contract.model.model_validate_json(raw)
        except ValidationError as error:
            pytest.fail(f"the screen accepted what the contract refuses: {raw!r}\n{error}")
        assert found == (getattr(event, contract.id_field), getattr(event, contract.key_field)), raw
    assert accepted > 100 and refused > 1000  # the mutants reach both sides


@pytest.mark.parametrize("topic", list(CONTRACTS))
def test_the_screen_accepts_every_generated_record(topic):
    contract = CONTRACTS[topic]
    screen = Screen(contract)
    for raw in RECORDS[topic]:
        event = contract.model.model_validate_json(raw)
        assert screen(raw) == (getattr(event, contract.id_field), getattr(event, contract.key_field))


def test_the_screen_takes_the_event_time_bound_from_its_last_refresh():
    contract = CONTRACTS["transactions"]
    record = RECORDS["transactions"][0]
    screen = Screen(contract)
    soon = datetime.now(UTC) + EVENT_TIME_MAX_AHEAD + timedelta(seconds=5)
    ahead = _replace(record, contract.time_field, b'"' + soon.isoformat().encode() + b'"')
    assert screen(ahead) is None  # ahead of now + the bound: pydantic's to refuse
    screen._limit = soon + timedelta(seconds=1)  # as if refreshed 6 s later
    assert screen(ahead) is not None
