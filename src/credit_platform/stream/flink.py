"""Submit, find and stop Flink jobs on the session cluster (its REST API and the `flink` CLI).

Used by tests now and by the fraud job's supervisor; works against any Flink cluster whose REST
address is `FLINK_REST_URL`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import urllib.request
from pathlib import Path

from credit_platform.config import Settings
from credit_platform.errors import PlatformError, run_checked
from credit_platform.stream.flink_config import flink_env, flink_runtime_dir, prepare_flink, pyflink_home

_log = logging.getLogger(__name__)
PLANNER_NPE = b"NullPointerException: metadataHandlerProvider"
ACTIVE_STATES = {"CREATED", "INITIALIZING", "RUNNING", "RESTARTING", "RECONCILING", "CANCELLING", "FAILING"}


def _rest(settings: Settings, path: str, method: str = "GET", body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{settings.flink_rest_url}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (configured URL)
        raw = response.read()
    return json.loads(raw) if raw else {}


def submit_python_job(settings: Settings, script: Path, *args: str, restore_from: str | None = None) -> str:
    """`flink run -d -py script args…` with the platform's Python; returns the job id.

    `restore_from`: a savepoint or retained checkpoint to resume the job's state from."""
    if not (flink_runtime_dir(settings) / "conf" / "config.yaml").exists():
        prepare_flink(settings)  # a client host apart from the cluster (an Airflow container)
    rest = settings.flink_rest_url.removeprefix("http://").removeprefix("https://")
    restore = ["-s", restore_from] if restore_from else []
    log_path = settings.logs_dir / "flink-submit.log"
    for attempt in (1, 2):
        start = log_path.stat().st_size if log_path.exists() else 0
        try:
            out = run_checked(
                ["bash", str(pyflink_home() / "bin" / "flink"), "run", "-m", rest, "-d", *restore, "-py",
                 str(script), "-pyexec", sys.executable, "-pyclientexec", sys.executable, *args],
                step=f"flink: submit {script.name}", env=flink_env(settings), log_path=log_path, timeout=300,
                private=True,
            ).stdout
            break
        except PlatformError:
            # Planning the job now and then fails inside Calcite (a NullPointerException for its
            # metadata handler provider) and succeeds when planned again; nothing was submitted then.
            with open(log_path, "rb") as written:
                written.seek(start)
                transient = PLANNER_NPE in written.read()
            if attempt == 2 or not transient:
                raise
            _log.warning("flink: planning %s failed in the planner (%s); planning it once more", script.name,
                        PLANNER_NPE.decode())
    match = re.search(r"JobID ([0-9a-f]{32})", out)
    if not match:
        raise PlatformError(f"flink: submitted {script.name} but found no job id in the output:\n{out[-2000:]}")
    return match.group(1)


def jobs(settings: Settings) -> list[dict]:
    return _rest(settings, "/jobs/overview")["jobs"]


def job_state(settings: Settings, job_id: str) -> str:
    return _rest(settings, f"/jobs/{job_id}")["state"]


def find_job(settings: Settings, name: str) -> dict | None:
    """The newest active job with this name, else the newest finished one, else None."""
    matching = sorted((j for j in jobs(settings) if j["name"] == name), key=lambda j: j["start-time"], reverse=True)
    active = [j for j in matching if j["state"] in ACTIVE_STATES]
    return (active or matching or [None])[0]


def cancel(settings: Settings, job_id: str) -> None:
    _rest(settings, f"/jobs/{job_id}?mode=cancel", method="PATCH")


def stop_with_savepoint(settings: Settings, job_id: str, target_dir: str | None = None,
                        timeout: float = 120) -> str:
    """Stop the job after taking a savepoint; returns the savepoint's path."""
    import time

    body = {"drain": False, **({"targetDirectory": target_dir} if target_dir else {})}
    trigger = _rest(settings, f"/jobs/{job_id}/stop", method="POST", body=body)["request-id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = _rest(settings, f"/jobs/{job_id}/savepoints/{trigger}")
        if status["status"]["id"] == "COMPLETED":
            operation = status["operation"]
            if "failure-cause" in operation:
                raise PlatformError(f"flink: savepoint of {job_id} failed: {operation['failure-cause']}")
            return operation["location"]
        time.sleep(1)
    raise PlatformError(f"flink: savepoint of {job_id} not finished after {timeout:.0f}s")


def latest_checkpoint(settings: Settings, job_ids: list[str] | None = None) -> str | None:
    """The newest completed, retained checkpoint (a `chk-N` dir with `_metadata`) of the given jobs
    (default: any job) in the cluster's checkpoint directory; None when there is none."""
    root = settings.service_dir("flink") / "checkpoints"
    if not root.exists():
        return None
    dirs = [root / j for j in job_ids] if job_ids else [d for d in root.iterdir() if d.is_dir()]
    completed = [m.parent for d in dirs for m in d.glob("chk-*/_metadata")]
    if not completed:
        return None
    return str(max(completed, key=lambda p: p.stat().st_mtime))
