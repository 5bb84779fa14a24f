"""Process supervision on real (tiny) processes: no orphans after stop."""

import signal
import sys

from credit_platform.platform import process

CHILDREN = "import subprocess, time; [subprocess.Popen(['sleep', '300']) for _ in range(3)]; time.sleep(300)"


def test_stop_tree_leaves_no_descendant(tmp_path):
    pid = process.spawn([sys.executable, "-c", CHILDREN], log_path=tmp_path / "x.log", pid_path=tmp_path / "x.pid")
    assert process.wait_until(lambda: len(process.process_tree(pid)) == 4, timeout=20)
    tree = process.process_tree(pid)
    assert process.stop_tree(pid, signal.SIGTERM, timeout=10)
    assert not any(process.pid_alive(p) for p in tree)


def test_stop_tree_kills_what_ignores_the_signal(tmp_path):
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"
    pid = process.spawn([sys.executable, "-c", code], log_path=tmp_path / "y.log", pid_path=tmp_path / "y.pid")
    assert process.wait_until(lambda: process.pid_alive(pid), timeout=5)
    import time

    time.sleep(0.5)  # let it install the handler
    assert process.stop_tree(pid, signal.SIGTERM, timeout=1) is False
    assert not process.pid_alive(pid)


def test_read_pid_and_port_probe(tmp_path):
    assert process.read_pid(tmp_path / "missing.pid") is None
    assert process.pid_alive(None) is False
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert process.port_in_use("127.0.0.1", s.getsockname()[1])


def test_orphans_of_a_killed_service_are_ended_on_restart(tmp_path, monkeypatch):
    """kill -9 of a service leaves its children running; starting it again ends them."""
    import os

    from credit_platform import config
    from credit_platform.platform.services.base import Launch, Service

    class Sleeper(Service):
        name = "sleeper"

        def uri(self) -> str:
            return "-"

        def launch(self) -> Launch:
            return Launch([sys.executable, "-c", CHILDREN])

        def healthy(self) -> bool:
            return len(process.process_tree(self.pid() or 0)) == 4

    monkeypatch.setenv("CP_HOME", str(tmp_path))
    service = Sleeper(config.load())
    service.start()
    first = service.pid()
    children = process.process_tree(first) - {first}
    os.kill(first, signal.SIGKILL)
    assert process.wait_until(lambda: not process.pid_alive(first), timeout=5)
    assert all(process.pid_alive(c) for c in children)  # orphaned, still running
    service.start()
    assert not any(process.pid_alive(c) for c in children)
    service.stop()
    assert not process.process_tree(service.pid() or first)
