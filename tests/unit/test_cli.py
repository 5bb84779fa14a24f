"""The CLI checks every argument before it starts anything: one line that says what is wrong, exit 2,
no traceback and no service touched."""

import subprocess
import sys

import pytest


def run(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "credit_platform", *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd)


@pytest.mark.parametrize(("args", "says"), [
    (["score", "--date", "2026-13-01"], "'2026-13-01' is not a date"),
    (["dq", "--date", "yesterday"], "'yesterday' is not a date"),
    (["demo", "--date", "soon"], "'soon' is not a date"),
    (["produce", "--topic", "credit_applications", "--from-file", "missing.jsonl"], "missing.jsonl does not exist"),
    (["produce", "--topic", "credit_applications", "--from-file", "."], ". is not a file"),
    (["produce", "--topic", "credit_applications", "--from-file", "blank.jsonl"], "blank.jsonl is empty"),
    (["produce", "--topic", "loans", "--generate", "3"], "invalid choice: 'loans'"),
    (["produce", "--topic", "transactions", "--generate", "3", "--rate", "0"], "must be > 0"),
    (["demo", "--applications", "blank.jsonl"], "blank.jsonl is empty"),
    (["demo", "--transactions", "missing.jsonl"], "missing.jsonl does not exist"),
    (["generate", "applications", "--count", "-1", "--out", "x.jsonl"], "-1 must be >= 0"),
    (["generate", "applications", "--count", "3", "--out", "."], "is a directory"),
    (["generate", "applications", "--count", "3", "--out", "x.jsonl", "--start", "2026-01-01T00:00:00"],
     "needs a time zone"),
    (["generate", "applications", "--count", "3", "--out", "x.jsonl", "--fraud-share", "nan"], "must be >= 0"),
])
def test_bad_arguments_are_refused_before_anything_starts(tmp_path, args, says):
    (tmp_path / "blank.jsonl").write_text("\n  \n")
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert says in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()[-1]) < 200
    assert result.stdout == ""  # nothing was set up, started or sent


def test_a_service_that_does_not_answer_is_one_line_not_a_traceback():
    import psycopg
    import pymongo.errors

    from credit_platform.cli import unreachable

    mongo = pymongo.errors.ServerSelectionTimeoutError(
        "127.0.0.1:37017: [Errno 111] Connection refused (configured timeouts: socketTimeoutMS: 20000.0ms), "
        "Timeout: 10.0s, Topology Description: <TopologyDescription ...>")
    assert unreachable(mongo) == "MongoDB did not answer (127.0.0.1:37017: [Errno 111] Connection refused)"
    postgres = psycopg.OperationalError('connection to server at "127.0.0.1", port 15432 failed: Connection refused\n'
                                        "\tIs the server running on that host and accepting TCP/IP connections?")
    assert unreachable(postgres) == ('PostgreSQL did not answer (connection to server at "127.0.0.1", port 15432 '
                                     "failed: Connection refused)")
    assert unreachable(ValueError("a bug")) is None  # anything else stays a traceback
