"""Launch and supervise the long-running fraud detection job on the Flink session cluster.

Used by the `fraud_stream_supervisor` DAG and by `credit-platform fraud-job`: submit (resuming
from the latest retained checkpoint if there is one), find the job by name, report its state,
stop it with a savepoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from credit_platform.config import REPO_ROOT, Settings
from credit_platform.contracts import names
from credit_platform.stream import flink

JOB_SCRIPT = REPO_ROOT / "jobs" / "fraud_detection.py"
JOB_NAME = names.FRAUD_JOB
# Bumped whenever jobs/fraud_detection.py changes its operator graph: Flink cannot map a checkpoint
# of the old graph onto the new one, so a new graph starts from the Kafka offsets its predecessor
# committed at its last checkpoint (alerts stay idempotent; windows refill from new events).
# 2: one Python alert writer after the union of the rules, instead of one per rule.
# 3: rules order by the bounded `event_time` column (a far-future record cannot move the watermark).
# 4: sources read with the contract-json format; refused records go to the dead-letter topic.
JOB_GRAPH = 4


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
           from_latest_checkpoint: bool = True) -> str:
    """Submit the job; resumes from `restore_from`, else from the newest retained checkpoint of an
    earlier run of this job name with the same operator graph (JOB_GRAPH), else starts fresh from
    the consumer group's offsets."""
    if restore_from is None and from_latest_checkpoint:
        earlier = _submitted(settings, name)
        restore_from = flink.latest_checkpoint(settings, earlier) if earlier else None
    job_id = flink.submit_python_job(settings, JOB_SCRIPT, "--name", name, *job_args, restore_from=restore_from)
    _remember(settings, name, job_id)
    return job_id


def _registry(settings: Settings, name: str) -> Path:
    # The JobManager forgets finished jobs when it restarts; their checkpoints stay on disk under
    # the job id, so the ids each job name ran under are kept here, per operator graph.
    return settings.service_dir("flink") / "jobs" / f"{name}.graph{JOB_GRAPH}.ids"


def _submitted(settings: Settings, name: str) -> list[str]:
    path = _registry(settings, name)
    return path.read_text().split() if path.exists() else []


def _remember(settings: Settings, name: str, job_id: str) -> None:
    path = _registry(settings, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        handle.write(job_id + "\n")


def ensure_running(settings: Settings, *job_args: str, name: str = JOB_NAME) -> tuple[JobStatus, str]:
    """Make sure the job is RUNNING; returns its status and what was done ("running" or "submitted")."""
    current = status(settings, name)
    if current.state in flink.ACTIVE_STATES:
        return current, "running"
    job_id = submit(settings, *job_args, name=name)
    return JobStatus(name, job_id, flink.job_state(settings, job_id)), "submitted"


def stop(settings: Settings, name: str = JOB_NAME) -> str | None:
    """Stop the running job with a savepoint; returns the savepoint path (None if not running)."""
    current = status(settings, name)
    if not current.running or current.job_id is None:
        return None
    return flink.stop_with_savepoint(settings, current.job_id)
