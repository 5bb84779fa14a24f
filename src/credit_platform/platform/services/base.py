"""The local services of the embedded default, each a supervised process under the state dir.

The base of every service: a service knows how to prepare its state (idempotently), the command that runs it in the
foreground, how to tell it is healthy, what to do once it is up (schema, topics), and how to stop
it without losing data. `credit_platform.platform.manager` starts them in dependency order.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from credit_platform.config import Settings
from credit_platform.errors import PlatformError
from credit_platform.platform import process

VENV_BIN = Path(sys.executable).parent


def http_json(url: str, timeout: float = 3.0) -> object:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (local URLs)
        return json.loads(response.read())


@dataclass
class Launch:
    argv: list[str]
    env: dict[str, str] | None = None
    cwd: Path | None = None
    user: str | None = None


class Service:
    """One local service. Subclasses fill in the hooks."""

    name: str = ""
    # the engine a node belongs to (`kafka` for kafka-1..3): what requires the group waits for all its nodes
    group: str = ""
    requires: tuple[str, ...] = ()
    ports: tuple[str, ...] = ()  # keys of Settings.ports this service binds
    stop_signal: int = signal.SIGTERM
    start_timeout: float = 120.0
    stop_timeout: float = 60.0
    oneshot: bool = False  # a step run by `up` (e.g. a migration), not a process
    # run under credit_platform.platform.keeper, which starts it again when it exits by itself
    restart_on_exit: bool = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # -- hooks ---------------------------------------------------------------------------
    def external(self) -> bool:
        """True when the user points the platform at a server it does not manage."""
        return False

    def uri(self) -> str:
        raise NotImplementedError

    def prepare(self) -> None:
        """Create state and config; idempotent, runs before every start."""

    def launch(self) -> Launch:
        raise NotImplementedError

    def healthy(self) -> bool:
        raise NotImplementedError

    def after_start(self) -> None:
        """Idempotent set-up that needs the running service (schema, topics, indexes)."""

    def stop_hook(self, pid: int) -> None:
        """Extra work before the signal (e.g. ask a server to shut down cleanly)."""

    # -- common behaviour ----------------------------------------------------------------
    @property
    def log_path(self) -> Path:
        return self.settings.logs_dir / f"{self.name}.log"

    @property
    def pid_path(self) -> Path:
        return self.settings.run_dir / f"{self.name}.pid"

    def pid(self) -> int | None:
        pid = process.read_pid(self.pid_path)
        return pid if process.pid_alive(pid) else None

    def state(self) -> str:
        if self.external():
            return "external" if self._probe() else "unreachable"
        if self.pid() is None:
            return "stopped"
        return "running" if self._probe() else "unhealthy"

    def _probe(self) -> bool:
        try:
            return bool(self.healthy())
        except Exception:
            return False

    def start(self) -> str:
        """Start (or adopt) the service; returns a short note of what happened."""
        if self.external():
            if not process.wait_until(self.healthy, timeout=self.start_timeout):
                raise PlatformError(f"{self.name}: external server at {self.uri()} is not reachable")
            self.after_start()
            return "external, reachable"
        pid = self.pid()
        if pid is not None:
            if not process.wait_until(self.healthy, timeout=self.start_timeout,
                                      alive=lambda: process.pid_alive(pid)):
                raise PlatformError(
                    f"{self.name}: already running (pid {pid}) but not healthy; "
                    f"see {self.log_path}, or run `credit-platform down` and `up` again"
                )
            self.after_start()
            return f"already running (pid {pid})"
        self._reap_orphans()
        for key in self.ports:
            port = self.settings.ports[key]
            if process.port_in_use(self.settings.host, port):
                raise PlatformError(
                    f"{self.name}: port {port} ({key}) is already in use by another process. Stop that "
                    f"process, or choose other ports with CP_{key.upper()}_PORT or CP_PORT_OFFSET."
                )
        self.prepare()
        spec = self.launch()
        argv = spec.argv
        if self.restart_on_exit:
            argv = [sys.executable, "-m", "credit_platform.platform.keeper", "--name", self.name, "--", *argv]
        pid = process.spawn(argv, log_path=self.log_path, pid_path=self.pid_path, env=spec.env,
                            cwd=spec.cwd, user=spec.user)
        if not process.wait_until(self.healthy, timeout=self.start_timeout,
                                  alive=lambda: process.pid_alive(pid)):
            died = not process.pid_alive(pid)
            tail = self.log_tail()
            if not died:
                process.stop_tree(pid, self.stop_signal, timeout=self.stop_timeout)
            self.pid_path.unlink(missing_ok=True)
            why = "exited during start-up" if died else f"not healthy after {self.start_timeout:.0f}s"
            raise PlatformError(f"{self.name} {why}; last lines of {self.log_path}:\n{tail}")
        self.after_start()
        return f"started (pid {pid})"

    def _reap_orphans(self) -> None:
        """A service that died hard (kill -9, OOM) can leave children behind in its session, e.g. a
        TaskManager's Python workers. Its pid file is about to be overwritten, so end them now."""
        stale = process.read_pid(self.pid_path)
        if stale and not process.pid_alive(stale) and process.process_tree(stale):
            process.stop_tree(stale, signal.SIGTERM, timeout=10)

    def stop(self) -> str:
        if self.external():
            return "external, left running"
        pid = process.read_pid(self.pid_path)
        if pid is None or not process.process_tree(pid):
            self.pid_path.unlink(missing_ok=True)
            return "not running"
        self.stop_hook(pid)
        clean = process.stop_tree(pid, self.stop_signal, timeout=self.stop_timeout)
        self.pid_path.unlink(missing_ok=True)
        return "stopped" if clean else f"killed after {self.stop_timeout:.0f}s"

    def kill(self) -> int:
        """Lose the node: SIGKILL every process of the service's session at once, its keeper included,
        as a crashed host would; nothing restarts it until `start`. Returns the pid it was."""
        pid = self.pid()
        if pid is None:
            raise PlatformError(f"{self.name} is not running")
        tree = process.process_tree(pid)
        os.killpg(pid, signal.SIGKILL)
        # every process of it gone, not only the keeper: a child can outlive it by a moment under load
        process.wait_until(lambda: not any(process.pid_alive(p) for p in tree), timeout=10, interval=0.1)
        return pid

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


