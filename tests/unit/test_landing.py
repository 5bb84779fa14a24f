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
