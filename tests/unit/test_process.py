"""Process supervision on real (tiny) processes: no orphans after stop."""

import signal
import sys

import pytest

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


# A service that ends by itself twice (exit code 1), then keeps running: each start is a line in `runs`.
FLAKY = ("import pathlib, sys, time; runs = pathlib.Path(sys.argv[1]); runs.open('a').write('run\\n'); "
         "n = len(runs.read_text().splitlines()); sys.exit(1) if n < 3 else time.sleep(300)")


@pytest.fixture
def flaky(tmp_path):
    """make(restart_on_exit) -> (service, runs); every service made is stopped at the end."""
    from credit_platform.config import Settings
    from credit_platform.platform.services.base import Launch, Service

    runs = tmp_path / "runs"
    made = []

    class Flaky(Service):
        name = "flaky"

        def launch(self) -> Launch:
            return Launch([sys.executable, "-c", FLAKY, str(runs)])

        def healthy(self) -> bool:
            return runs.exists()

    def make(restart_on_exit: bool):
        service = Flaky(Settings(home=tmp_path / "home"))
        service.restart_on_exit = restart_on_exit
        made.append(service)
        return service, runs

    yield make
    for service in made:
        service.stop()


def test_the_keeper_starts_a_service_again_when_it_ends_by_itself_and_stop_ends_both(flaky):
    service, runs = flaky(True)
    service.start()
    keeper = service.pid()
    # two exits, restarted after 1 s and 2 s; the pid stays the keeper's
    assert process.wait_until(lambda: len(runs.read_text().splitlines()) == 3, timeout=20)
    assert service.pid() == keeper and len(process.process_tree(keeper)) == 2
    log = service.log_path.read_text()
    assert log.count("keeper: flaky ended by itself (exit code 1)") == 2, log
    assert "starting it again in 1 s" in log and "starting it again in 2 s" in log
    tree = process.process_tree(keeper)
    assert service.stop() == "stopped"  # SIGTERM to the group: no restart
    assert not any(process.pid_alive(p) for p in tree)
    assert len(runs.read_text().splitlines()) == 3


def test_kill_loses_the_whole_node_keeper_included(flaky):
    service, runs = flaky(True)
    runs.write_text("run\nrun\n")  # the next start keeps running
    service.start()
    assert process.wait_until(lambda: len(runs.read_text().splitlines()) == 3, timeout=10)
    tree = process.process_tree(service.pid())
    assert len(tree) == 2
    service.kill()
    assert not any(process.pid_alive(p) for p in tree) and service.pid() is None
    import time

    time.sleep(1.5)  # longer than the keeper's first back-off: nothing came back
    assert len(runs.read_text().splitlines()) == 3


def test_without_a_keeper_a_service_that_ends_stays_down(flaky):
    service, runs = flaky(False)
    service.start()
    assert process.wait_until(lambda: service.pid() is None, timeout=10)
    import time

    time.sleep(1.5)
    assert len(runs.read_text().splitlines()) == 1


def test_the_keepers_back_off_doubles_to_its_cap_and_starts_over_after_a_stable_run():
    from credit_platform.platform import keeper

    waits, previous = [], None
    for _ in range(7):
        previous = keeper.next_delay(previous, ran=0.5)
        waits.append(previous)
    assert waits == [1, 2, 4, 8, 16, 30, 30]
    assert keeper.next_delay(30, ran=keeper.STABLE_AFTER) == keeper.FIRST_DELAY
    assert keeper.describe(-9) == "signal SIGKILL" and keeper.describe(1) == "exit code 1"
