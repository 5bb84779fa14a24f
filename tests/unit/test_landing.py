"""Parsing a chunk of Kafka payloads for landing: typed columns, and nothing dropped."""

import json

from credit_platform.contracts.names import APPLICATIONS_TOPIC
from credit_platform.ingest import generator
from credit_platform.ingest.landing import _FILE, parse_chunk
from credit_platform.ingest.scenario import GeneratorConfig


def payloads(n: int) -> list[bytes]:
    return generator.to_json_lines(generator.generate("applications", n, GeneratorConfig(seed=3))).splitlines()


def test_clean_chunk_is_typed_in_one_pass():
    frame = parse_chunk(APPLICATIONS_TOPIC, payloads(100))
    assert frame.height == 100
    assert frame["credit_score"].dtype.is_integer() and frame["_error"].null_count() == 100
    assert frame["_raw"].null_count() == 100


def test_bad_payloads_keep_their_row_raw_text_and_reason():
    good = payloads(3)
    wrong_type = json.loads(good[0])
    wrong_type["credit_score"] = "seven hundred"
    values = [good[0], b"{not json", json.dumps(wrong_type).encode(), b"", b"[1, 2]", good[1]]
    frame = parse_chunk(APPLICATIONS_TOPIC, values)
    assert frame.height == len(values)  # nothing dropped
    errors = frame["_error"].to_list()
    assert errors[0] is None and errors[-1] is None
    assert all(e and e.startswith("not a valid event") for e in errors[1:5])
    assert frame["_raw"][1] == "{not json" and frame["_raw"][3] == ""
    assert frame["application_id"][0] == json.loads(good[0])["application_id"]


def test_file_names_carry_partition_and_offsets():
    match = _FILE.match("credit_applications-p2-000000000010-000000000099.parquet")
    assert (match["topic"], match["partition"], match["first"], match["last"]) == (
        "credit_applications", "2", "000000000010", "000000000099")


def test_hostile_payloads_cost_only_themselves_and_keep_their_reason():
    from credit_platform.ingest.landing import _null_non_json_numbers

    assert _null_non_json_numbers(b'{"a": Infinity, "b":-Infinity,"c":[NaN, 1], "city": "NaN Infinity", "d": 1}') \
        == b'{"a": null, "b":null,"c":[null, 1], "city": "NaN Infinity", "d": 1}'
    good = payloads(6)
    wrong = json.loads(good[1])
    wrong["credit_score"] = "high"
    infinite = good[3].replace(b'"annual_income":', b'"annual_income":Infinity,"x":')
    named = json.loads(good[4])
    named["city"] = "NaN Infinity"  # the words inside a string are text, not numbers
    values = [good[0], json.dumps(wrong).encode(), good[2], infinite, json.dumps(named).encode(), good[5]]
    frame = parse_chunk(APPLICATIONS_TOPIC, values)
    assert frame["application_id"].to_list() == [json.loads(v)["application_id"] for v in (
        good[0], json.dumps(wrong).encode(), good[2], good[3], json.dumps(named).encode(), good[5])]
    errors = frame["_error"].to_list()
    assert errors[1] == "not a valid event: credit_score has the wrong type (got 'high')"
    assert errors[3].startswith("not a valid event: unexpected character")
    assert [e is None for e in errors] == [True, False, True, False, True, True]
    assert frame["_raw"][3] == infinite.decode() and frame["city"][4] == "NaN Infinity"
    assert frame["credit_score"][0] == json.loads(good[0])["credit_score"]
