"""A second `setup` does no network work: with every network-using tool replaced by a failing shim,
a warm setup still succeeds. (Integration: the first `setup` may download what is missing.)"""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_warm_setup_calls_no_network_tool(tmp_path):
    subprocess.run([sys.executable, "-m", "credit_platform", "setup"], check=True, capture_output=True, timeout=1800)
    shims = tmp_path / "shims"
    shims.mkdir()
    for tool in ("mvn", "go", "apt-get", "pip", "uv", "npm", "curl", "wget"):
        shim = shims / tool
        shim.write_text(f"#!/bin/sh\necho '{tool} must not run on a warm setup' >&2\nexit 99\n")
        shim.chmod(0o755)
    # keep `java`, `mvn` and `go` discoverable for the tools check, but every call fails
    env = {**os.environ, "PATH": f"{shims}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run([sys.executable, "-m", "credit_platform", "setup"], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "must not run" not in result.stderr
    assert "cached" in result.stdout
