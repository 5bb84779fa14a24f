"""Launch and supervise the long-running fraud detection job on the Flink session cluster.

Used by the `fraud_stream_supervisor` DAG and by `credit-platform fraud-job`: submit (resuming
from the latest retained checkpoint if there is one), find the job by name, report its state,
stop it with a savepoint. Before a submit, every stored version of the fraud rules is published
(idempotent), and the job is planned with the window lengths of the version in force; when a later
version in force has other window lengths, `ensure_running` redeploys the job: stop with a
savepoint, submit again from it (alerts are idempotent, so nothing is lost or duplicated).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from credit_platform.config import REPO_ROOT, Settings
from credit_platform.contracts import names
from credit_platform.rules.fraud import DEFAULT_FRAUD_RULES
from credit_platform.rules.fraud_store import RulesStore, RulesVersion
from credit_platform.stream import flink

JOB_SCRIPT = REPO_ROOT / "jobs" / "fraud_detection.py"
JOB_NAME = names.FRAUD_JOB
# Bumped whenever jobs/fraud_detection.py changes its operator graph: Flink cannot map a checkpoint
# of the old graph onto the new one, so a new graph starts from the Kafka offsets its predecessor
# committed at its last checkpoint (alerts stay idempotent; windows refill from new events).
# 2: one Python alert writer after the union of the rules, instead of one per rule.
# 3: rules order by the bounded `event_time` column (a far-future record cannot move the watermark).
# 4: sources read with the contract-json format; refused records go to the dead-letter topic.
# 5: the rules' versioned table (topic fraud_rules) joined with every event; whole bursts alerted.
# 6: the rules card_testing, account_takeover, compromised_merchant (transactions read the merchant).
# 7: each window fed only the columns its rule reads; a card's previous average from LAG, not ROWS.
# 8: shared_device also counts the device's home cities (a household of one city is not alerted).
# 9: the learned score (rule fraud_score): the features per purchase, joined with the rules version.
# 10: the score's features from two LAG histories (per customer, per merchant) instead of eight OVER windows.
# 11: one join with the rules version per event table (through a DataStream), not one per rule.
# 12: the rules version carries the score's feature definition (fraud_score.features), a column more.
JOB_GRAPH = 12


@dataclass
class JobStatus:
    name: str
    job_id: str | None
    state: str  # RUNNING, FAILED, CANCELED, …, or MISSING

    @property
    def running(self) -> bool:
        return self.state == "RUNNING"


def status(settings: Settings, name: str = JOB_NAME) -> JobStatus:
    job = flink.find_job(settings, name)
    return JobStatus(name, job["jid"], job["state"]) if job else JobStatus(name, None, "MISSING")


def submit(settings: Settings, *job_args: str, name: str = JOB_NAME, restore_from: str | None = None,
           from_latest_checkpoint: bool = True, rules: RulesStore | None = None) -> str:
    """Submit the job; resumes from `restore_from`, else from the newest retained checkpoint of an
    earlier run of this job name with the same operator graph (JOB_GRAPH), else starts fresh from
    the consumer group's offsets. `rules`: where the fraud rules' versions are (default: the
    platform's); all are published first, and the job is planned with the windows of the one in force."""
    rules = rules or RulesStore(settings)
    rules.publish()
    version = rules.in_force()
    backend = _state_backend(settings, job_args)
    if restore_from is None and from_latest_checkpoint:
        earlier = _submitted(settings, name, backend)
        restore_from = flink.latest_checkpoint(settings, earlier) if earlier else None
    job_id = flink.submit_python_job(
        settings, JOB_SCRIPT, "--name", name, "--rules-topic", rules.topic, "--rules-collection",
        rules.collection_name, "--rules-version", str(version.version if version else 0),
        # the topology's parallelism (CP_FRAUD_PARALLELISM), unless the caller's arguments say otherwise
        "--parallelism", str(settings.fraud_parallelism), "--state-backend", settings.flink_state_backend, *job_args,
        restore_from=restore_from)
    _remember(settings, name, backend, job_id)
    _deployed_path(settings, name).write_text(json.dumps(_windows(version)))
    return job_id


def _windows(version: RulesVersion | None) -> dict[str, object]:
    return (version.rules if version else DEFAULT_FRAUD_RULES).windows()


def _deployed_path(settings: Settings, name: str) -> Path:
    return settings.service_dir("flink") / "jobs" / f"{name}.graph{JOB_GRAPH}.windows.json"


def deployed_windows(settings: Settings, name: str = JOB_NAME) -> dict[str, object] | None:
    """The window lengths the job of this name was last submitted with (None: not known here)."""
    path = _deployed_path(settings, name)
    return json.loads(path.read_text()) if path.exists() else None


def _state_backend(settings: Settings, job_args: tuple[str, ...]) -> str:
    """The backend the job is submitted with: the platform's (CP_FLINK_STATE_BACKEND) unless the
    caller's arguments name another (the last `--state-backend` wins, as in the job's parser)."""
    backend = settings.flink_state_backend
    for flag, value in zip(job_args, job_args[1:], strict=False):
        if flag == "--state-backend":
            backend = value
    return backend


def _registry(settings: Settings, name: str, backend: str) -> Path:
    # The JobManager forgets finished jobs when it restarts; their checkpoints stay on disk under
    # the job id, so the ids each job name ran under are kept here, per operator graph.
    # A retained checkpoint restores only into the state backend that wrote it, so each backend has its own list.
    suffix = "" if backend == "hashmap" else f".{backend}"
    return settings.service_dir("flink") / "jobs" / f"{name}.graph{JOB_GRAPH}{suffix}.ids"


def _submitted(settings: Settings, name: str, backend: str) -> list[str]:
    path = _registry(settings, name, backend)
    return path.read_text().split() if path.exists() else []


def _remember(settings: Settings, name: str, backend: str, job_id: str) -> None:
    path = _registry(settings, name, backend)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        handle.write(job_id + "\n")


def ensure_running(settings: Settings, *job_args: str, name: str = JOB_NAME,
                   rules: RulesStore | None = None) -> tuple[JobStatus, str]:
    """Make sure the job is RUNNING with the window lengths of the rules version in force; returns its
    status and what was done ("running", "submitted", or "redeployed" from a savepoint)."""
    rules = rules or RulesStore(settings)
    current = status(settings, name)
    if current.state in flink.ACTIVE_STATES:
        wanted = _windows(rules.in_force())
        if current.running and deployed_windows(settings, name) not in (None, wanted):
            savepoint = stop(settings, name)
            job_id = submit(settings, *job_args, name=name, restore_from=savepoint, rules=rules)
            return JobStatus(name, job_id, flink.job_state(settings, job_id)), f"redeployed with windows {wanted}"
        return current, "running"
    job_id = submit(settings, *job_args, name=name, rules=rules)
    return JobStatus(name, job_id, flink.job_state(settings, job_id)), "submitted"


def event_time(settings: Settings, name: str = JOB_NAME) -> datetime | None:
    """How far the running job's event time has got: the watermark at its alert writer (the least
    over its subtasks), None when the job is not running or has no watermark yet."""
    from datetime import UTC

    current = status(settings, name)
    if not current.running or current.job_id is None:
        return None
    try:
        vertices = flink._rest(settings, f"/jobs/{current.job_id}")["vertices"]
        writer = [v for v in vertices if "alert_sink" in v["name"] or "write_alerts" in v["name"]]
        marks = [int(m["value"]) for v in writer
                 for m in flink._rest(settings, f"/jobs/{current.job_id}/vertices/{v['id']}/watermarks")
                 if m["id"].endswith("currentInputWatermark")]
    except OSError:
        return None
    if not marks or min(marks) <= -(2**63) + 1:
        return None
    return datetime.fromtimestamp(min(marks) / 1000, UTC)


def stop(settings: Settings, name: str = JOB_NAME) -> str | None:
    """Stop the running job with a savepoint; returns the savepoint path (None if not running)."""
    current = status(settings, name)
    if not current.running or current.job_id is None:
        return None
    return flink.stop_with_savepoint(settings, current.job_id)
