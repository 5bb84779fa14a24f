"""Keep a service's process running: start it again whenever it exits on its own.

`up` runs each Flink process (JobManager, TaskManagers) under this keeper, the way a real deployment
runs one under its init system or Kubernetes (the compose stack: `restart: unless-stopped`). Flink's
standalone mode ends a process on a fatal error and leaves starting it again to whatever runs it.
One such error is PyFlink's: when a job fails over, the cancelled Python operator's shutdown can
race Beam's reference count of its Python worker ("Reference count must not be negative"), and
Flink answers that with a fatal error that ends the whole TaskManager, the healthy one included.
Without a keeper the job then waits for slots that never come back. A JobManager started again has
no jobs (no HA); the fraud stream's supervisor DAG resubmits its job from the latest checkpoint.

The keeper is the service's pid (it runs in the service's session, as its user) and writes each exit
and restart to the service's log. SIGTERM or SIGINT to it, or to its process group as `down` sends
them, stops the child and the keeper without a restart. A child that exits by itself is started
again after a back-off that doubles from 1 s to 30 s and starts over once a run has lasted 60 s.
SIGKILL of the whole group (`Service.kill`, a lost node) ends both: nothing is restarted.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time

FIRST_DELAY = 1.0
MAX_DELAY = 30.0
STABLE_AFTER = 60.0  # a run this long resets the back-off


def next_delay(previous: float | None, ran: float) -> float:
    """The wait before the next start, after a run of `ran` seconds; `previous` is the wait before that
    run (None for the first run)."""
    return FIRST_DELAY if previous is None or ran >= STABLE_AFTER else min(MAX_DELAY, previous * 2)


def describe(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def keep(name: str, command: list[str]) -> int:
    stopping = False
    child: subprocess.Popen | None = None

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    delay: float | None = None
    while True:
        started = time.monotonic()
        child = subprocess.Popen(command)  # the keeper's output (the service's log), session, user and env
        code = child.wait()
        if stopping:
            return code
        ran = time.monotonic() - started
        delay = next_delay(delay, ran)
        print(f"==== {time.strftime('%Y-%m-%d %H:%M:%S')} keeper: {name} ended by itself ({describe(code)}) after "
              f"{ran:.0f} s; starting it again in {delay:.0f} s", flush=True)
        until = time.monotonic() + delay
        while not stopping and time.monotonic() < until:
            time.sleep(0.2)
        if stopping:
            return code


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m credit_platform.platform.keeper",
        description="Run COMMAND and start it again whenever it exits by itself; SIGTERM stops both.")
    parser.add_argument("--name", required=True, help="the service's name, for the log")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARG...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    sys.exit(keep(args.name, command))


if __name__ == "__main__":
    main()
