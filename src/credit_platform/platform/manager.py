"""`up`, `down` and `status` over the local services."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from credit_platform.config import TOPOLOGY_FILE, Settings
from credit_platform.contracts.names import AIRFLOW_ADMIN
from credit_platform.errors import PlatformError
from credit_platform.platform import process
from credit_platform.platform.services import Service, all_services

Printer = Callable[[str], None]


@dataclass
class Outcome:
    service: str
    ok: bool
    note: str
    seconds: float


def _line(ok: bool | None, name: str, note: str, seconds: float | None = None) -> str:
    mark = {True: " ok ", False: "FAIL", None: " .. "}[ok]
    took = f"{seconds:6.1f}s" if seconds is not None else "       "
    return f"[{mark}] {name:<22} {took}  {note}"


def restrict_state(settings: Settings) -> None:
    """Nothing under the state dir is readable by other users: logs and Airflow's generated password
    file private to their owner (also those an older version left readable). The state dir itself
    stays traversable (0711): PostgreSQL runs as its own user under it."""
    settings.home.chmod(0o711)
    for root in (settings.logs_dir, settings.run_dir):
        for path in (root, *root.rglob("*")):
            if not path.is_symlink():
                path.chmod(0o700 if path.is_dir() else 0o600)
    if settings.airflow_passwords_file.exists():
        settings.airflow_passwords_file.chmod(0o600)


def up(settings: Settings, echo: Printer = print, only: list[str] | None = None) -> list[Outcome]:
    """Start every service of the settings' topology (or `only` these and what they require), each
    after its requirements; a requirement that names an engine's group (`kafka`) waits for all its nodes.

    Idempotent: running services are adopted after a health check. Raises PlatformError naming
    every service that failed.
    """
    record_topology(settings)
    services = {s.name: s for s in all_services(settings)}
    groups = _groups(services)
    wanted = _with_requirements(services, groups, only) if only else list(services)
    for d in (settings.logs_dir, settings.run_dir):
        d.mkdir(parents=True, exist_ok=True)
    settings.secrets  # generate once, before threads race for it  # noqa: B018
    restrict_state(settings)

    done = {name: threading.Event() for name in wanted}
    outcomes: dict[str, Outcome] = {}
    lock = threading.Lock()

    def run(name: str) -> None:
        service = services[name]
        started = time.monotonic()
        try:
            for req in (node for group in service.requires for node in groups[group]):
                done[req].wait()
                if not outcomes[req].ok:
                    raise PlatformError(f"not started: {req} failed")
            with lock:
                echo(_line(None, name, "starting ..."))
            note = service.start()
            outcome = Outcome(name, True, note, time.monotonic() - started)
        except Exception as exc:  # each failure is reported; the others go on
            outcome = Outcome(name, False, str(exc), time.monotonic() - started)
        with lock:
            outcomes[name] = outcome
            echo(_line(outcome.ok, name, outcome.note if outcome.ok else outcome.note.splitlines()[0],
                       outcome.seconds))
        done[name].set()

    with ThreadPoolExecutor(max_workers=len(wanted)) as pool:
        list(pool.map(run, wanted))

    failed = [o for o in outcomes.values() if not o.ok]
    if failed:
        detail = "\n\n".join(f"{o.service}: {o.note}" for o in failed)
        raise PlatformError(f"{len(failed)} service(s) failed to start:\n\n{detail}\n\n"
                           f"Logs are in {settings.logs_dir}. Fix the cause and run `credit-platform up` again.")
    return [outcomes[n] for n in wanted]


def _groups(services: dict[str, Service]) -> dict[str, list[str]]:
    """Each service's name, and each engine group's (`kafka`: its nodes; `flink-taskmanager`: every
    TaskManager), to the services it means."""
    groups: dict[str, list[str]] = {}
    for name, service in services.items():
        groups.setdefault(name, [name])
        if service.group:
            members = groups.setdefault(service.group, [])
            if name not in members:
                members.append(name)
    return groups


def _with_requirements(services: dict[str, Service], groups: dict[str, list[str]], names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in groups]
    if unknown:
        raise PlatformError(f"unknown service(s): {', '.join(unknown)}; known: {', '.join(groups)}")
    keep: set[str] = set()
    stack = [node for n in names for node in groups[n]]
    while stack:
        name = stack.pop()
        if name not in keep:
            keep.add(name)
            stack.extend(node for req in services[name].requires for node in groups[req])
    return [n for n in services if n in keep]


def record_topology(settings: Settings) -> None:
    """Keep the topology in the state dir, so every later command (status, down, jobs, Airflow's tasks)
    reaches the same nodes; refuse another while services of the recorded one still run."""
    path = settings.home / TOPOLOGY_FILE
    recorded = path.read_text().strip() if path.exists() else "single"
    if recorded != settings.topology:
        earlier = Settings(home=settings.home)
        object.__setattr__(earlier, "topology", recorded)  # the cached property, as it was
        running = [s.name for s in all_services(earlier) if not s.oneshot and not s.external() and s.pid()]
        if running:
            raise PlatformError(
                f"this state dir runs the {recorded} topology ({', '.join(running)}); run `credit-platform down` "
                f"before `up --topology {settings.topology}`, or use another CP_HOME")
    settings.home.mkdir(parents=True, exist_ok=True)
    path.write_text(settings.topology + "\n")
    path.chmod(0o644)  # read by every process of the platform, also those that run as their own user


def down(settings: Settings, echo: Printer = print) -> list[Outcome]:
    """Stop every service in reverse start order (dependents first), without losing data. The nodes of
    one engine stop together: a Kafka node left alone has no controller quorum to shut down cleanly."""
    batches: list[list[Service]] = []
    for service in reversed(all_services(settings)):
        if service.oneshot:
            continue
        if batches and service.group and batches[-1][0].group == service.group:
            batches[-1].append(service)
        else:
            batches.append([service])

    def stop(service: Service) -> Outcome:
        started = time.monotonic()
        try:
            note = service.stop()
            ok = True
        except Exception as exc:
            note, ok = str(exc), False
        return Outcome(service.name, ok, note, time.monotonic() - started)

    outcomes = []
    for batch in batches:
        with ThreadPoolExecutor(max_workers=len(batch)) as pool:
            for outcome in pool.map(stop, batch):
                echo(_line(outcome.ok, outcome.service, outcome.note, outcome.seconds))
                outcomes.append(outcome)
    return outcomes


def status(settings: Settings) -> dict[str, object]:
    rows = []
    total_rss = 0
    for service in all_services(settings):
        if service.oneshot:
            continue
        pid = service.pid()
        rss = process.rss_bytes(process.process_tree(pid)) if pid else 0
        total_rss += rss
        rows.append({
            "name": service.name,
            "state": service.state(),
            "pid": pid,
            "uri": service.uri(),
            "rss_mb": round(rss / 2**20),
            "log": str(service.log_path),
        })
    return {
        "home": str(settings.home),
        "topology": settings.topology,
        "healthy": all(r["state"] in ("running", "external") for r in rows),
        "services": rows,
        "total_rss_mb": round(total_rss / 2**20),
        "airflow_login": {"user": AIRFLOW_ADMIN, "password_file": str(settings.airflow_passwords_file)},
    }


def check(settings: Settings, name: str) -> str:
    """Health-check one service by name, or every node of an engine's group (`kafka`); raises
    PlatformError if one is not healthy."""
    services = {s.name: s for s in all_services(settings) if not s.oneshot}
    groups = _groups(services)
    if name not in groups:
        raise PlatformError(f"unknown service {name!r}; known: {', '.join(groups)}")
    notes = []
    for node in groups[name]:
        state = services[node].state()
        if state not in ("running", "external"):
            raise PlatformError(f"{node} is {state}; see {services[node].log_path}")
        notes.append(f"{node}: {state} at {services[node].uri()}")
    return "; ".join(notes)


def format_status(report: dict[str, object]) -> str:
    lines = [f"{'service':<22} {'state':<11} {'pid':>7} {'rss':>7}  uri"]
    for row in report["services"]:  # type: ignore[union-attr]
        pid = row["pid"] or "-"
        lines.append(f"{row['name']:<22} {row['state']:<11} {pid!s:>7} {row['rss_mb']:>5}MB  {row['uri']}")
    lines.append(f"state dir: {report['home']}   topology: {report['topology']}   "
                 f"total RSS: {report['total_rss_mb']} MB")
    login = report["airflow_login"]
    lines.append(f"Airflow login: user {login['user']}, password in {login['password_file']}")  # type: ignore[index]
    return "\n".join(lines)
