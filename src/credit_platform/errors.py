"""The error every platform step raises for a person to read, and running an external command so
that its failure reads as one: what failed, why (the output's tail), and what to do."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path


class PlatformError(RuntimeError):
    """A step could not be done (a service, a job submission, a command). The message says what to do."""


def as_user(user: str | None) -> dict:
    """subprocess arguments that run a child as this OS user with its own group only: `user=` alone
    would keep the caller's groups (root's among them)."""
    if user is None:
        return {}
    import pwd

    return {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}


def run_checked(argv: Sequence[str], *, step: str, env: Mapping[str, str] | None = None,
                cwd: Path | None = None, user: str | None = None, log_path: Path | None = None,
                timeout: float | None = None, private: bool = False) -> subprocess.CompletedProcess[str]:
    """Run a one-shot command; on failure raise with the step name and the output's tail.
    `private`: what it creates is readable by its user only (umask 077), for state that may hold a
    secret; installs keep the system's umask."""
    try:
        result = subprocess.run(list(argv), env=dict(env) if env is not None else None, cwd=cwd,
                                capture_output=True, text=True, timeout=timeout,
                                umask=0o077 if private else -1, **as_user(user))
    except FileNotFoundError as exc:
        raise PlatformError(f"{step}: {argv[0]} not found; run `make setup`") from exc
    except subprocess.TimeoutExpired as exc:
        raise PlatformError(f"{step}: timed out after {timeout:.0f}s") from exc
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(os.open(log_path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600), "a") as log:
            log.write(f"\n==== {step}: {' '.join(argv)}\n{result.stdout}{result.stderr}")
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise PlatformError(f"{step} failed (exit {result.returncode}):\n{tail}")
    return result
